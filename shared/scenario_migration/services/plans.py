"""Migration plans: create (diff + plan-time census), read, list, policies, approve, reject."""

import uuid

from scenario_migration import identity
from scenario_migration.clock import isoformat, utcnow
from scenario_migration.config import get_settings
from scenario_migration.domain.lifecycle import (
    AnchorPolicy,
    MigrationPlan,
    PlanHeader,
    PlanStatus,
    allowed_sources,
)
from scenario_migration.domain.planning import plan_migration
from scenario_migration.domain.scenario import Scenario
from scenario_migration.errors import Conflict, Forbidden, InvalidInput
from scenario_migration.services import scenarios
from scenario_migration.store import deployments as deployment_store
from scenario_migration.store import plans as store
from scenario_migration.store import sessions as session_store


def create_plan(
    tenant: str, scenario_id: str, new: Scenario, created_by: str, *, rollback_of: str | None = None
) -> MigrationPlan:
    """Diff the latest version (the active one, or an open canary's target) against `new` and
    store a pending plan. The path's scenario id wins over the document's. `rollback_of`: the
    plan a reverse plan rolls back (services/rollback.py)."""
    new = scenarios.validate(new.model_copy(update={"id": scenario_id}), location="new_scenario.")
    from_version = scenarios.latest_version(tenant, scenario_id)
    if new.version <= from_version:
        raise Conflict(
            f"new_scenario.version must be above the active version {from_version} (got {new.version})",
            {"active_version": from_version},
        )
    old = scenarios.load_version(tenant, scenario_id, from_version)
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
    return plan.model_copy(update={"transformation_map": result.transformation_map})


def get_plan(tenant: str, plan_id: str, *, with_map: bool = True) -> MigrationPlan:
    """The plan as the API shows it: with its map, and the operators' actions on its deployment."""
    plan = store.get_plan(tenant, plan_id, with_map=with_map)
    if plan.deployed_at is None:
        return plan  # never deployed: no action can have been recorded
    return plan.model_copy(update={"actions": deployment_store.list_actions(tenant, plan_id)})


def list_plans(
    tenant: str, scenario_id: str | None, status: PlanStatus | None, limit: int, next_token: str | None
) -> tuple[list[PlanHeader], str | None]:
    return store.list_plans(
        tenant, scenario_id=scenario_id, status=status, limit=limit, next_token=next_token
    )


def set_policies(tenant: str, plan_id: str, policies: dict[str, AnchorPolicy]) -> MigrationPlan:
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
    return store.put_policies(tenant, plan_id, {**plan.policies, **policies}, isoformat(utcnow()))


def approve(
    tenant: str, plan_id: str, approved_by: str, acknowledged_warnings: list[str] | None = None
) -> MigrationPlan:
    """Approve a pending plan whose source version is still active. Critical warnings block it
    unless `acknowledged_warnings` lists each of them (by code or message)."""
    plan = store.get_plan(tenant, plan_id)
    acknowledged = sorted(set(acknowledged_warnings or []))
    if plan.status is PlanStatus.PENDING:
        _check_approvable(tenant, plan, acknowledged)
        _check_four_eyes(plan, approved_by)
    now = isoformat(utcnow())
    updates = {"approved_by": approved_by, "approved_at": now, "updated_at": now}
    return store.change_status(
        tenant,
        plan_id,
        allowed_sources(PlanStatus.APPROVED),
        PlanStatus.APPROVED,
        updates | ({"acknowledged_warnings": acknowledged} if acknowledged else {}),
    )


def _check_approvable(tenant: str, plan: MigrationPlan, acknowledged: list[str]) -> None:
    active = scenarios.latest_version(tenant, plan.scenario_id)
    if active != plan.from_version:
        raise Conflict(
            f"the scenario's active version is now {active}, not {plan.from_version}: create a new plan",
            {"active_version": active, "from_version": plan.from_version},
        )
    known = {w.code for w in plan.summary.warnings} | {w.message for w in plan.summary.warnings}
    unknown = [a for a in acknowledged if a not in known]
    if unknown:
        raise InvalidInput(
            "acknowledged_warnings names warnings this plan does not have",
            [{"location": "acknowledged_warnings", "message": f"no warning '{a}'"} for a in unknown],
        )
    blocking = plan.summary.unacknowledged_critical(set(acknowledged))
    if blocking:
        raise Conflict(
            "the plan has critical warnings: approve it with each one's code in acknowledged_warnings",
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


def reject(tenant: str, plan_id: str, rejected_by: str, reason: str | None) -> MigrationPlan:
    now = isoformat(utcnow())
    updates = {"rejected_by": rejected_by, "rejected_at": now, "updated_at": now}
    if reason:
        updates["rejection_reason"] = reason
    return store.change_status(
        tenant, plan_id, allowed_sources(PlanStatus.REJECTED), PlanStatus.REJECTED, updates
    )
