"""Retention (SPEC 9): expire and delete old plans, delete old versions nobody uses.

Bounded per run: each run reads at most ITEMS_PER_RUN items of each table and saves where it
stopped, so a large table is covered over several runs. Idempotent: every action re-checks its
condition (status compare-and-set, live-session check) at the moment it acts.
Never deleted: a pending plan (it expires first), a plan whose markers are still pending, the
plan that made a scenario's active version active, the active version, a version a live
session is on. Also deleted: parts of a version that no head item names (store/scenarios.py).
"""

from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from scenario_migration.clock import isoformat, utcnow
from scenario_migration.config import get_settings
from scenario_migration.domain.lifecycle import PlanStatus
from scenario_migration.errors import Conflict
from scenario_migration.observability import logger
from scenario_migration.store import deployments as deployment_store
from scenario_migration.store import plans as plan_store
from scenario_migration.store import scenarios as scenario_store
from scenario_migration.store import sessions as session_store

ITEMS_PER_RUN = 500
TERMINAL = {
    PlanStatus.REJECTED,
    PlanStatus.EXPIRED,
    PlanStatus.SUPERSEDED,
    PlanStatus.CANCELLED,
    PlanStatus.DEPLOYED,
}


@dataclass
class RetentionReport:
    plans_expired: list[str] = field(default_factory=list)
    plans_deleted: list[str] = field(default_factory=list)
    plans_kept: list[str] = field(default_factory=list)
    versions_deleted: list[str] = field(default_factory=list)
    versions_kept: list[str] = field(default_factory=list)
    orphan_parts_deleted: int = 0  # parts of versions that a writer that died left behind
    complete: dict[str, bool] = field(default_factory=dict)  # table -> whole table covered this round


def run(now: datetime | None = None, items_per_run: int = ITEMS_PER_RUN) -> RetentionReport:
    now = now or utcnow()
    report = RetentionReport()
    report.complete = {
        "plans": retain_plans(now, items_per_run, report),
        "versions": retain_versions(now, items_per_run, report),
    }
    logger.info("retention run", extra=vars(report))
    return report


def retain_plans(now: datetime, items_per_run: int, report: RetentionReport) -> bool:
    """One bounded page of plans from the saved cursor; True when it reached the table's end."""
    limit = now - timedelta(days=get_settings().retention.plan_retention_days)
    cursor = plan_store.get_retention_cursor()
    plans, cursor["plans"] = plan_store.scan_plans(cursor.get("plans"), items_per_run)
    for item in plans:
        _retain_plan(item, limit, report)
    plan_store.put_retention_cursor({k: v for k, v in cursor.items() if v})
    return cursor["plans"] is None


def retain_versions(now: datetime, items_per_run: int, report: RetentionReport) -> bool:
    """One bounded page of versions (and their orphan parts) from the saved cursor; True when it
    reached the table's end."""
    limit = now - timedelta(days=get_settings().retention.version_retention_days)
    cursor = plan_store.get_retention_cursor()
    versions, cursor["versions"] = scenario_store.scan_versions(cursor.get("versions"), items_per_run)
    for item in (item for item in versions if "version" in item):
        _retain_version(item, limit, report)
    report.orphan_parts_deleted += scenario_store.delete_orphan_parts(
        (item for item in versions if "version" not in item), now
    )
    plan_store.put_retention_cursor({k: v for k, v in cursor.items() if v})
    return cursor["versions"] is None


def _older_than(stamp: str | None, limit: datetime) -> bool:
    return bool(stamp) and datetime.fromisoformat(stamp.replace("Z", "+00:00")) < limit


def _retain_plan(item: dict[str, Any], limit: datetime, report: RetentionReport) -> None:
    tenant, plan_id, status = item["tenant_id"], item["id"], PlanStatus(item["status"])
    if status is PlanStatus.PENDING and _older_than(item["created_at"], limit):
        with suppress(Conflict):
            plan_store.change_status(
                tenant, plan_id, {PlanStatus.PENDING}, PlanStatus.EXPIRED, {"updated_at": isoformat(utcnow())}
            )
            report.plans_expired.append(plan_id)
        return
    if status not in TERMINAL or not _older_than(item.get("updated_at"), limit):
        return
    if _still_needed(tenant, item):
        report.plans_kept.append(plan_id)
        return
    plan_store.delete_plan(tenant, plan_id)
    report.plans_deleted.append(plan_id)


def _still_needed(tenant: str, item: dict[str, Any]) -> bool:
    counts = deployment_store.counters(tenant, item["id"])
    pending = (
        counts.get("sessions_marked", 0)
        - counts.get("sessions_unmarked", 0)
        - counts.get("marked_resolved", 0)
    )
    active = scenario_store.get_active(tenant, item["scenario_id"]) or {}
    return pending > 0 or counts.get("sessions_awaiting_input", 0) > 0 or active.get("plan_id") == item["id"]


def _retain_version(item: dict[str, Any], limit: datetime, report: RetentionReport) -> None:
    tenant, scenario_id, version = item["tenant_id"], item["scenario_id"], item["version"]
    if not _older_than(item["created_at"], limit):
        return
    name = f"{tenant}/{scenario_id}@{version}"
    if scenario_store.get_active_version(tenant, scenario_id) == version or session_store.has_live_sessions(
        tenant, scenario_id, version
    ):
        report.versions_kept.append(name)
        return
    if scenario_store.delete_version(tenant, scenario_id, version):
        report.versions_deleted.append(name)
    else:  # it became the active version meanwhile
        report.versions_kept.append(name)
