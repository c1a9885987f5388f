"""Retention (SPEC 9): expire and delete old plans, delete old versions nobody uses.

Bounded per run by time, not by items: a run goes on, page after page (PAGE_ITEMS items of each
table), until both tables are covered or its time budget is spent, and saves where it stopped;
the next run goes on from there. Idempotent: every action re-checks its condition (status
compare-and-set, live-session check) at the moment it acts. A finished deployment's page ledgers
(its bulk: a ~15 KB item per 300 sessions) are deleted as soon as nothing can need them (nothing
pending or waiting, and for a cancelled plan its unmarking ended), not only with the plan.
Never deleted: a pending plan (it expires first), a plan whose markers are still pending (or, if
cancelled, whose unmarking has not ended: tests/integration/test_races.py), the
plan that made a scenario's active version active, the active version, a version a live
session is on. Also deleted: parts of a version that no head item names (store/scenarios.py).
"""

import time
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from scenario_migration.clock import isoformat, parse_timestamp, utcnow
from scenario_migration.config import get_settings
from scenario_migration.domain.canary import FULL
from scenario_migration.domain.lifecycle import PlanStatus
from scenario_migration.errors import Conflict
from scenario_migration.observability import logger
from scenario_migration.store import deployments as deployment_store
from scenario_migration.store import plans as plan_store
from scenario_migration.store import scenarios as scenario_store
from scenario_migration.store import sessions as session_store

PAGE_ITEMS = 500
DEFAULT_BUDGET = 60.0  # seconds, when the caller does not say (the function passes its own)
FINISHED_DEPLOYMENTS = {PlanStatus.DEPLOYED, PlanStatus.CANCELLED}
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
    ledgers_deleted: int = 0  # page ledger items of finished deployments
    orphan_parts_deleted: int = 0  # parts of versions that a writer that died left behind
    complete: dict[str, bool] = field(default_factory=dict)  # table -> whole table covered this round


def run(
    now: datetime | None = None, page_items: int = PAGE_ITEMS, budget_seconds: float = DEFAULT_BUDGET
) -> RetentionReport:
    """Pages of both tables until both are covered (a whole pass: `complete`) or the budget is
    spent; each table's cursor is saved after every page, so a crash loses nothing."""
    now, deadline = now or utcnow(), time.monotonic() + budget_seconds
    report = RetentionReport(complete={"plans": False, "versions": False})
    while True:  # at least one page of each table, whatever the budget
        if not report.complete["plans"]:
            report.complete["plans"] = retain_plans(now, page_items, report)
        if not report.complete["versions"]:
            report.complete["versions"] = retain_versions(now, page_items, report)
        if all(report.complete.values()) or time.monotonic() >= deadline:
            break
    logger.info("retention run", extra=vars(report))
    return report


def retain_plans(now: datetime, page_items: int, report: RetentionReport) -> bool:
    """One bounded page of plans from the saved cursor; True when it reached the table's end."""
    limit = now - timedelta(days=get_settings().retention.plan_retention_days)
    cursor = plan_store.get_retention_cursor()
    plans, cursor["plans"] = plan_store.scan_plans(cursor.get("plans"), page_items)
    for item in plans:
        _retain_plan(item, limit, report)
    plan_store.put_retention_cursor({k: v for k, v in cursor.items() if v})
    return cursor["plans"] is None


def retain_versions(now: datetime, page_items: int, report: RetentionReport) -> bool:
    """One bounded page of versions (and their orphan parts) from the saved cursor; True when it
    reached the table's end."""
    limit = now - timedelta(days=get_settings().retention.version_retention_days)
    cursor = plan_store.get_retention_cursor()
    versions, cursor["versions"] = scenario_store.scan_versions(cursor.get("versions"), page_items)
    for item in (item for item in versions if "version" in item):
        _retain_version(item, limit, report)
    report.orphan_parts_deleted += scenario_store.delete_orphan_parts(
        (item for item in versions if "version" not in item), now
    )
    plan_store.put_retention_cursor({k: v for k, v in cursor.items() if v})
    return cursor["versions"] is None


def _older_than(stamp: str | None, limit: datetime) -> bool:
    return bool(stamp) and parse_timestamp(stamp) < limit


def _retain_plan(item: dict[str, Any], limit: datetime, report: RetentionReport) -> None:
    tenant, plan_id, status = item["tenant_id"], item["id"], PlanStatus(item["status"])
    if status is PlanStatus.PENDING and _older_than(item["created_at"], limit):
        with suppress(Conflict):
            plan_store.change_status(
                tenant, plan_id, {PlanStatus.PENDING}, PlanStatus.EXPIRED, {"updated_at": isoformat(utcnow())}
            )
            report.plans_expired.append(plan_id)
        return
    if _finished(status, item) and not item.get("ledgers_deleted") and not _markers_open(tenant, item):
        report.ledgers_deleted += plan_store.delete_deployment_ledgers(tenant, plan_id)
    if status not in TERMINAL or not _older_than(item.get("updated_at"), limit):
        return
    if _still_needed(tenant, item):
        report.plans_kept.append(plan_id)
        return
    plan_store.delete_plan(tenant, plan_id)
    report.plans_deleted.append(plan_id)


def _finished(status: PlanStatus, item: dict[str, Any]) -> bool:
    """A deployment that will mark nothing more: cancelled, or deployed at 100 % (a canary below
    it may be widened, and its next slice's ledgers must not go while they are claimed)."""
    if status is PlanStatus.DEPLOYED and item.get("canary_percent", FULL) < FULL:
        return False
    return status in FINISHED_DEPLOYMENTS


def _still_needed(tenant: str, item: dict[str, Any]) -> bool:
    active = scenario_store.get_active(tenant, item["scenario_id"]) or {}
    return _markers_open(tenant, item) or active.get("plan_id") == item["id"]


def _markers_open(tenant: str, item: dict[str, Any]) -> bool:
    """Whether any marker of the plan may still move: pending, waiting on the customer, or, for a
    cancelled plan, on a page its unmarking has not settled yet (a page the cancel reached before
    its count is in no counter until then: the counters alone would say nothing is open)."""
    cancelled = PlanStatus(item["status"]) is PlanStatus.CANCELLED
    if cancelled and not deployment_store.step_recorded(
        tenant, item["id"], deployment_store.Step.UNMARKING_DONE
    ):
        return True
    counts = deployment_store.counters(tenant, item["id"])
    return counts is not None and (counts.pending > 0 or counts.sessions_awaiting_input > 0)


def _retain_version(item: dict[str, Any], limit: datetime, report: RetentionReport) -> None:
    tenant, scenario_id, version = item["tenant_id"], item["scenario_id"], item["version"]
    if not _older_than(item["created_at"], limit):
        return
    name = f"{tenant}/{scenario_id}@{version}"
    active = scenario_store.get_active(tenant, scenario_id) or {}
    in_use = version in (active.get("active_version"), active.get("target_version"))  # a canary's too
    if in_use or session_store.has_live_sessions(tenant, scenario_id, version):
        report.versions_kept.append(name)
        return
    if scenario_store.delete_version(tenant, scenario_id, version):
        report.versions_deleted.append(name)
    else:  # it became the active version meanwhile
        report.versions_kept.append(name)
