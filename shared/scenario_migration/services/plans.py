"""Migration plans: create (diff + plan-time census), read, list, policies, approve, reject.

Every operation on one plan answers with the same representation (`PlanView`): the plan, its
summary with the first page of warnings and the first page of its map. A plan's map and warnings
grow with the scenario (a 50,000-step map is about 30 MB of JSON, Lambda answers at most 6 MB):
the rest is read page by page (`map_page`, `warnings_page`), each page bounded in entries and in
bytes, so that every response stays far below Lambda's limit whatever the plan.
"""

import base64
import binascii
import json
import uuid
from typing import Any

from scenario_migration import identity
from scenario_migration.clock import isoformat, utcnow
from scenario_migration.config import get_settings
from scenario_migration.domain.lifecycle import (
    AnchorPolicy,
    MigrationPlan,
    PlanHeader,
    PlanStatus,
    PlanView,
    allowed_sources,
)
from scenario_migration.domain.plan import (
    MAP_LISTS,
    MapPage,
    PlanSummary,
    PlanSummaryView,
    TransformationMap,
    WarningsPage,
    map_totals,
    map_window,
    page_of,
)
from scenario_migration.domain.plan import (
    map_page as page_of_map,
)
from scenario_migration.domain.planning import plan_migration
from scenario_migration.domain.scenario import Scenario
from scenario_migration.errors import Conflict, Forbidden, InvalidInput
from scenario_migration.services import scenarios
from scenario_migration.store import deployments as deployment_store
from scenario_migration.store import plans as store
from scenario_migration.store import sessions as session_store

# A page's bounds: entries, and bytes of JSON. The plan representation carries the first page of
# the map and of the warnings within the smaller budgets, so that, with a summary and policies of
# their largest (about 1.2 MB of sessions per anchor at 50,000 anchors, policies at most
# store.plans.POLICIES_JSON_BYTES), a plan's response stays under 4 MB and a page's under 2.5 MB:
# below Lambda's 6 MB with room for the JSON escaping of the body in Lambda's answer.
DEFAULT_PAGE_ENTRIES = 500
MAX_PAGE_ENTRIES = 5000
PAGE_BYTES = 2_000_000
FIRST_MAP_PAGE_BYTES = 500_000
FIRST_WARNINGS_BYTES = 250_000


def create_plan(tenant: str, scenario_id: str, new: Scenario, created_by: str) -> PlanView:
    """Plan `new` (see `plan_version`) and answer the plan's representation."""
    plan, tmap = plan_version(tenant, scenario_id, new, created_by)
    return _view(plan, _lists_of(tmap))


def plan_version(
    tenant: str, scenario_id: str, new: Scenario, created_by: str, *, rollback_of: str | None = None
) -> tuple[MigrationPlan, TransformationMap]:
    """Diff the latest version (the active one, or an open canary's target) against `new` and
    store a pending plan. The path's scenario id wins over the document's; a document without
    `entry_step_id` keeps the latest version's entry step, when the new version still has it (a
    400 says so when it does not). `rollback_of`: the plan a reverse plan rolls back
    (services/rollback.py, which needs the whole map, not its first page)."""
    from_version = scenarios.latest_version(tenant, scenario_id)
    old = scenarios.load_version(tenant, scenario_id, from_version)
    new = _with_entry(new, old).model_copy(update={"id": scenario_id})
    new = scenarios.validate(new, location="new_scenario.")
    if new.version <= from_version:
        raise Conflict(
            f"new_scenario.version must be above the active version {from_version} (got {new.version})",
            {"active_version": from_version},
        )
    result = plan_migration(old, new, session_store.census(tenant, scenario_id, from_version))
    now = utcnow()
    plan = MigrationPlan(
        id=str(uuid.uuid4()),
        tenant_id=tenant,
        scenario_id=scenario_id,
        from_version=from_version,
        to_version=new.version,
        status=PlanStatus.PENDING,
        created_by=created_by,
        created_at=now,
        updated_at=now,
        policies={},
        summary=result.summary,
        rollback_of=rollback_of,
    )
    store.create_plan(plan, scenarios.document_of(new), result.transformation_map)
    return plan, result.transformation_map


def _with_entry(new: Scenario, old: Scenario) -> Scenario:
    """`new` with an entry step: its own, or the old version's when it still has that step."""
    if new.entry_step_id is not None:
        return new
    if old.entry_step_id in new.step_by_id:
        return new.model_copy(update={"entry_step_id": old.entry_step_id})
    raise InvalidInput(
        f"new_scenario.entry_step_id is missing and the active version's entry step "
        f"'{old.entry_step_id}' is not a step of the new version: name the entry step",
        [{"location": "new_scenario.entry_step_id", "message": "required: the old entry step is gone"}],
    )


def get_plan(tenant: str, plan_id: str) -> PlanView:
    return view(store.get_plan(tenant, plan_id))


def get_summary(tenant: str, plan_id: str) -> tuple[MigrationPlan, PlanSummaryView]:
    plan = store.get_plan(tenant, plan_id)
    return plan, _summary_view(plan.summary)


def view(plan: MigrationPlan) -> PlanView:
    """The plan as responses show it (its map read from the store)."""
    return _view(plan, store.get_map_document(plan.tenant_id, plan.id))


def with_actions(plan: MigrationPlan) -> MigrationPlan:
    """The plan with the operators' actions on its deployment (widen, rollback)."""
    if plan.deployed_at is None:
        return plan  # never deployed: no action can have been recorded
    return plan.model_copy(update={"actions": deployment_store.list_actions(plan.tenant_id, plan.id)})


def _view(plan: MigrationPlan, lists: dict[str, list[Any]]) -> PlanView:
    plan = with_actions(plan)
    first, next_start = _map_page(lists, 0, DEFAULT_PAGE_ENTRIES, FIRST_MAP_PAGE_BYTES)
    return PlanView(
        **plan.model_dump(exclude={"summary", "policies", "transformation_map", "tenant_id"}),
        tenant_id=plan.tenant_id,
        policies=plan.policies,
        summary=_summary_view(plan.summary),
        transformation_map=first.model_copy(update={"next_token": _token(next_start)}),
    )


def _summary_view(summary: PlanSummary) -> PlanSummaryView:
    found = page_of(summary.warnings, 0, DEFAULT_PAGE_ENTRIES, FIRST_WARNINGS_BYTES)
    return PlanSummaryView(
        **{**summary.model_dump(), "warnings": found.entries},
        warnings_total=len(summary.warnings),
        warnings_next_token=_token(found.next_start),
    )


def map_page(tenant: str, plan_id: str, next_token: str | None, limit: int) -> MapPage:
    """A page of the plan's transformation map, from `next_token` (the first without one)."""
    lists = store.get_map_document(tenant, plan_id)
    start = _start(next_token, map_totals(lists).entries)
    page, next_start = _map_page(lists, start, limit, PAGE_BYTES)
    return page.model_copy(update={"next_token": _token(next_start)})


def warnings_page(tenant: str, plan_id: str, next_token: str | None, limit: int) -> WarningsPage:
    """A page of the plan's warnings, most severe first, from `next_token`."""
    warnings = store.get_plan(tenant, plan_id).summary.warnings
    start = _start(next_token, len(warnings))
    found = page_of(warnings[start:], start, limit, PAGE_BYTES, len(warnings))
    return WarningsPage(
        plan_id=plan_id, warnings=found.entries, total=len(warnings), next_token=_token(found.next_start)
    )


def _lists_of(tmap: TransformationMap) -> dict[str, list[Any]]:
    return {name: getattr(tmap, name) for name in (*MAP_LISTS, "field_sets")}


def _map_page(lists: dict[str, list[Any]], start: int, limit: int, budget: int) -> tuple[MapPage, int | None]:
    """Only the entries a page can take are validated (a 50,000-step map is ~30 MB of JSON)."""
    window = map_window(lists, start, limit)
    tmap = TransformationMap.model_validate({**window, "field_sets": lists.get("field_sets", [])})
    return page_of_map(tmap, map_totals(lists), start, limit, budget)


def _token(start: int | None) -> str | None:
    """A page token: where the next page starts (opaque to clients; URL-safe, unpadded)."""
    if start is None:
        return None
    return base64.urlsafe_b64encode(json.dumps({"at": start}).encode()).decode().rstrip("=")


def _start(token: str | None, total: int) -> int:
    if token is None:
        return 0
    try:
        start = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))["at"]
    except (ValueError, binascii.Error, UnicodeDecodeError, TypeError, KeyError):
        start = None
    if not isinstance(start, int) or isinstance(start, bool) or not 0 < start < total:
        raise InvalidInput(
            "next_token is not a token this API returned",
            [{"location": "next_token", "message": "not a page token of this plan"}],
        )
    return start


def new_scenario(tenant: str, plan_id: str) -> dict[str, Any]:
    """The plan's new version as submitted. Until deploy publishes it, the scenario registry does
    not have it: reviewers read it here (the console draws it beside the old version)."""
    item = store.get_plan_item(tenant, plan_id)
    return store.get_new_scenario(tenant, plan_id, item["doc_parts"])


def list_plans(
    tenant: str, scenario_id: str | None, status: PlanStatus | None, limit: int, next_token: str | None
) -> tuple[list[PlanHeader], str | None]:
    return store.list_plans(
        tenant, scenario_id=scenario_id, status=status, limit=limit, next_token=next_token
    )


def set_policies(tenant: str, plan_id: str, policies: dict[str, AnchorPolicy]) -> PlanView:
    """Merge policies keyed by anchor hash into the plan's (only while pending)."""
    plan = store.get_plan(tenant, plan_id)
    unknown = sorted(set(policies) - plan.anchor_keys)
    if unknown:
        raise InvalidInput(
            f"{len(unknown)} polic{'ies name' if len(unknown) > 1 else 'y names'} no anchor of this plan",
            [{"location": f"policies.{key}", "message": "unknown anchor hash"} for key in unknown],
        )
    mismatched = [k for k, p in policies.items() if p.anchor_content_hash not in (None, k)]
    if mismatched:
        raise InvalidInput(
            "anchor_content_hash must match the policy's key",
            [
                {"location": f"policies.{key}.anchor_content_hash", "message": "differs from the key"}
                for key in mismatched
            ],
        )
    if plan.status is not PlanStatus.PENDING:
        raise Conflict(
            f"the plan is {plan.status.value}: policies can change only while it is pending",
            {"status": plan.status.value},
        )
    return view(store.put_policies(tenant, plan_id, {**plan.policies, **policies}, isoformat(utcnow())))


def approve(
    tenant: str, plan_id: str, approved_by: str, acknowledged_warnings: list[str] | None = None
) -> PlanView:
    """Approve a pending plan whose source version is still active. Critical warnings block it
    unless `acknowledged_warnings` acknowledges each of them (by code, message or kind)."""
    plan = store.get_plan(tenant, plan_id)
    acknowledged = sorted(set(acknowledged_warnings or []))
    if plan.status is PlanStatus.PENDING:
        _check_approvable(tenant, plan, acknowledged)
        _check_four_eyes(plan, approved_by)
    now = isoformat(utcnow())
    updates = {"approved_by": approved_by, "approved_at": now, "updated_at": now}
    return view(
        store.change_status(
            tenant,
            plan_id,
            allowed_sources(PlanStatus.APPROVED),
            PlanStatus.APPROVED,
            updates | ({"acknowledged_warnings": acknowledged} if acknowledged else {}),
        )
    )


def _check_approvable(tenant: str, plan: MigrationPlan, acknowledged: list[str]) -> None:
    active = scenarios.latest_version(tenant, plan.scenario_id)
    if active != plan.from_version:
        raise Conflict(
            f"the scenario's active version is now {active}, not {plan.from_version}: create a new plan",
            {"active_version": active, "from_version": plan.from_version},
        )
    known = set().union(*(w.names for w in plan.summary.warnings))
    unknown = [a for a in acknowledged if a not in known]
    if unknown:
        raise InvalidInput(
            "acknowledged_warnings names warnings this plan does not have",
            [{"location": "acknowledged_warnings", "message": f"no warning '{a}'"} for a in unknown],
        )
    blocking = plan.summary.unacknowledged_critical(set(acknowledged))
    if blocking:
        raise Conflict(
            "the plan has critical warnings: approve it with each one's code (or its kind, the code's "
            "first part) in acknowledged_warnings",
            {"critical_warnings": [{"code": w.code, "message": w.message} for w in blocking]},
        )


def _check_four_eyes(plan: MigrationPlan, approved_by: str) -> None:
    """With `deployment.require_approval`, an authenticated approver is not the plan's creator.
    Without authentication (the local run's header mode) both names are the caller's say-so, and
    the quickstart approves its own plan: the rule needs verified identities to mean anything."""
    caller = identity.current()
    if caller is None or not caller.authenticated or not get_settings().deployment.require_approval:
        return
    if approved_by == plan.created_by:
        raise Forbidden(
            "four eyes: the plan's creator cannot approve it; another approver must",
            {"rule": "four_eyes", "created_by": plan.created_by},
        )


def reject(tenant: str, plan_id: str, rejected_by: str, reason: str | None) -> PlanView:
    now = isoformat(utcnow())
    updates = {"rejected_by": rejected_by, "rejected_at": now, "updated_at": now}
    if reason:
        updates["rejection_reason"] = reason
    return view(
        store.change_status(
            tenant, plan_id, allowed_sources(PlanStatus.REJECTED), PlanStatus.REJECTED, updates
        )
    )
