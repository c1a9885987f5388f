"""Items for the store tests, written through the store's own functions."""

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from scenario_migration.domain.lifecycle import MigrationPlan, PlanStatus
from scenario_migration.domain.planning import plan_migration
from scenario_migration.domain.scenario import Scenario
from scenario_migration.domain.session import Session
from scenario_migration.store import keys
from scenario_migration.store import plans as plan_store
from scenario_migration.store import scenarios as scenario_store
from scenario_migration.store import sessions as session_store
from tests.documents import V1, V2_DOWNSTREAM

T0 = datetime(2026, 1, 1, tzinfo=UTC)
EXPIRES = 1_900_000_000  # what a closed session's expires_at is set to by `report`


def new_tenant() -> str:
    """A tenant no other test uses: tests isolate themselves by tenant, not by tables."""
    return f"t-{uuid.uuid4().hex[:12]}"


_RESULT = plan_migration(Scenario.model_validate(V1), Scenario.model_validate(V2_DOWNSTREAM))
PLAN_MAP = _RESULT.transformation_map  # the transformation map of every plan `new_plan` stores


def new_plan(
    tenant: str,
    *,
    plan_id: str | None = None,
    scenario_id: str = "order-flow",
    created_at: datetime = T0,
    **fields: Any,
) -> MigrationPlan:
    """Store a pending plan V1 -> V2 of `scenario_id` and return it."""
    plan = MigrationPlan(
        id=plan_id or str(uuid.uuid4()),
        tenant_id=tenant,
        scenario_id=scenario_id,
        from_version=1,
        to_version=2,
        status=PlanStatus.PENDING,
        created_by="op@example.com",
        created_at=created_at,
        updated_at=created_at,
        **{"summary": _RESULT.summary, **fields},
    )
    plan_store.create_plan(plan, {**V2_DOWNSTREAM, "id": scenario_id}, _RESULT.transformation_map)
    return plan


def plans_in_order(tenant: str, count: int, **fields: Any) -> list[MigrationPlan]:
    """`count` plans a minute apart, oldest first."""
    return [new_plan(tenant, created_at=T0 + timedelta(minutes=i), **fields) for i in range(count)]


def new_scenario(tenant: str, scenario_id: str = "order-flow", document: dict | None = None) -> None:
    document = {**(document or V1), "id": scenario_id}
    info = version_info(document["version"], scenario_id, document["name"])
    scenario_store.create_scenario(tenant, info, document)


def version_info(
    version: int, scenario_id: str = "order-flow", name: str = "Order Flow"
) -> scenario_store.VersionInfo:
    return scenario_store.VersionInfo(scenario_id, version, name, T0.isoformat(), 3)


def report(
    tenant: str,
    session_id: str,
    step_id: str = "checkout",
    *,
    step_hash: str = "c" * 16,
    version: int = 1,
    live: bool = True,
    scenario_id: str = "order-flow",
) -> Session:
    """A position report, as the sessions service makes it."""
    position = {
        "tenant_id": tenant,
        "session_id": session_id,
        "scenario_id": scenario_id,
        "scenario_version": version,
        "current_step_id": step_id,
        "step_hash": step_hash,
        "channel": "whatsapp",
        "visited_step_ids": [],
        "checkpoints_passed": [],
        "variables_json": "{}",
        "status": "idle" if live else "closed",
        "last_activity_at": T0.isoformat(),
    }
    return session_store.put_position(tenant, session_id, position, live, EXPIRES)


def ids_in_every_shard(per_shard: int) -> dict[int, list[str]]:
    """Session ids, `per_shard` of them in each position-index shard."""
    found: dict[int, list[str]] = {shard: [] for shard in range(keys.POSITION_SHARDS)}
    n = 0
    while any(len(ids) < per_shard for ids in found.values()):
        session_id = f"s-{n:04d}"
        shard = keys.position_shard(session_id)
        if len(found[shard]) < per_shard:
            found[shard].append(session_id)
        n += 1
    return found


def race(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls at the same moment, one thread each; their results or the errors raised."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        except Exception as error:
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
