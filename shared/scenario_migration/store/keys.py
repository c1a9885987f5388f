"""Every key of every table, in one place (see docs/data-model.md). Tenant first, always."""

import zlib

POSITION_SHARDS = 8  # changing it re-keys the position index: a migration, not a setting


def scenario_pk(tenant: str, scenario_id: str) -> str:
    return f"T#{tenant}#S#{scenario_id}"


def version_sk(version: int) -> str:
    return f"V#{version:08d}"


def part_sk(prefix: str, index: int) -> str:
    return f"{prefix}#PART#{index:04d}"


WRITER = "#W#"


def writer_prefix(prefix: str, writer: str | None) -> str:
    """Where one writer's parts of a document live: `<prefix>#W#<writer>` (items written before
    writers existed have none: their parts sit under `<prefix>` itself)."""
    return f"{prefix}{WRITER}{writer}" if writer else prefix


ACTIVE_SK = "ACTIVE"
PLAN_SK = "PLAN"


def plan_pk(tenant: str, plan_id: str) -> str:
    return f"T#{tenant}#P#{plan_id}"


def tenant_plans_pk(tenant: str) -> str:
    return f"T#{tenant}#PLANS"


def session_pk(tenant: str, session_id: str) -> str:
    return f"T#{tenant}#SES#{session_id}"


SESSION_SK = "SESSION"


def migration_sk(at: str, plan_id: str, revision: int) -> str:
    """Oldest first; the session's revision tells apart two records of one second."""
    return f"MIG#{at}#{plan_id}#{revision:010d}"


def position_shard(session_id: str) -> int:
    return zlib.crc32(session_id.encode()) % POSITION_SHARDS


def position_pk(tenant: str, scenario_id: str, version: int, shard: int) -> str:
    """One partition per (scenario version, shard): a crowded step spreads over every shard."""
    return f"T#{tenant}#S#{scenario_id}#V#{version}#{shard:02d}"


def position_sk(step_hash: str, step_id: str, session_id: str) -> str:
    """Sorted by step hash, then step id: `begins_with` finds the sessions at one step."""
    return f"{step_hash}#{step_id}#{session_id}"
