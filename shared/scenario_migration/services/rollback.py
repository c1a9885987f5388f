"""Rollback (issue 14): go back from a deployment in one call, through the normal machinery.

For a deploying or deployed plan P (V_from -> V_to), one call:
1. plans V_from's content as a new version V(n+1) with the normal planning service (the history
   stays append-only: nothing is deleted or rewritten), creating the reverse plan R (V_to ->
   V(n+1)) whose anchors' policies force a clean graft (customers go back to the step they are
   on, without questions; a checkpoint or action they have not been through still stops the walk,
   and one they passed still blocks);
2. cancels P with the cancel machinery (its canary closed, its unmigrated sessions unmarked: they
   stay on V_from, whose content V(n+1) has), recording the rollback in P's partition in that
   same write (its one audit record, shown in P's `actions`);
3. deploys R at once when `deployment.require_approval` is off; otherwise R waits, pending, for
   an approver other than its creator (four eyes), then an operator's deploy.
Sessions already on V_to come back by JIT under R, by the same rules as any migration.

A repeated call on the rolled-back plan resumes: it starts the unmarking again (idempotent) and
deploys R if that is still due, and answers as the first call did.
"""

from typing import Any

from scenario_migration.clock import isoformat, utcnow
from scenario_migration.config import get_settings
from scenario_migration.domain.lifecycle import (
    OPEN,
    AnchorPolicy,
    MigrationPlan,
    OperatorAction,
    PlanHeader,
    PlanStatus,
)
from scenario_migration.domain.migration_scenario import MigrationScenario
from scenario_migration.domain.scenario import MAX_VERSION, Scenario
from scenario_migration.errors import Conflict
from scenario_migration.observability import logger
from scenario_migration.services import deployments, plans, scenarios
from scenario_migration.store import plans as plan_store


def rollback(tenant: str, plan_id: str, requested_by: str, reason: str | None = None) -> dict[str, Any]:
    plan = plan_store.get_plan(tenant, plan_id)
    if plan.status is PlanStatus.CANCELLED and plan.rolled_back_by_plan:
        return _resume(tenant, plan)
    if plan.status not in OPEN:
        raise Conflict(
            f"the plan is {plan.status.value}: only a deploying or deployed plan can be rolled back",
            {"status": plan.status.value},
        )
    latest = scenarios.latest_version(tenant, plan.scenario_id)
    if latest != plan.to_version:
        raise Conflict(
            f"version {latest} has been deployed since: roll back the plan that deployed it",
            {"latest_version": latest, "to_version": plan.to_version},
        )
    reverse = _reverse_plan(tenant, plan, requested_by)
    details = {
        "reverse_plan_id": reverse.id,
        "reverse_version": reverse.to_version,
        "from_version": plan.to_version,
        "restores_content_of": plan.from_version,
        "reason": reason,
    }
    action = OperatorAction(action="rollback", at=isoformat(utcnow()), by=requested_by, details=details)
    deployments.cancel(tenant, plan.id, action)
    logger.info(
        "plan rolled back", extra={"tenant_id": tenant, "plan_id": plan.id, "reverse_plan_id": reverse.id}
    )
    return _answer(tenant, plan.id, _deploy_if_due(tenant, reverse))


def _reverse_plan(tenant: str, plan: MigrationPlan, created_by: str) -> PlanHeader:
    """V_from's content as the next version, planned by the normal service (census, map,
    summary, warnings), with every anchor that is not a clean graft forced to one."""
    _, document = scenarios.read_version(tenant, plan.scenario_id, plan.from_version)
    newest = max(v.version for v in scenarios.list_versions(tenant, plan.scenario_id))
    if newest >= MAX_VERSION:
        raise Conflict(
            f"the scenario's newest version is {newest}, the highest a version may have: a rollback "
            "publishes the old content as one more version, so there is no room for it",
            {"newest_version": newest, "max_version": MAX_VERSION},
        )
    content = Scenario.model_validate({**document, "version": newest + 1})
    reverse, tmap = plans.plan_version(tenant, plan.scenario_id, content, created_by, rollback_of=plan.id)
    policies = {
        a.anchor_content_hash: AnchorPolicy(force_scenario=MigrationScenario.CLEAN_GRAFT)
        for a in tmap.anchors
        if a.migration_scenario is not MigrationScenario.CLEAN_GRAFT
    }
    return plans.set_policies(tenant, reverse.id, policies) if policies else reverse


def _deploy_if_due(tenant: str, reverse: PlanHeader) -> str | None:
    """Deploy the reverse plan when no approval is required (or, on a resumed call, once it was
    approved); else, or when its critical warnings need an approval that acknowledges them, what
    is left to do."""
    if deployments.cut_short(tenant, reverse, PlanStatus.DEPLOYING):
        deployments.deploy(tenant, reverse.id)  # its deploy was cut short: carry it on
        return None
    if reverse.status not in (PlanStatus.PENDING, PlanStatus.APPROVED):
        return None  # deployed already (a resumed call), or moved on by someone else
    if reverse.status is PlanStatus.PENDING and get_settings().deployment.require_approval:
        return "approve the reverse plan (an approver other than its creator), then deploy it"
    try:
        deployments.deploy(tenant, reverse.id)
    except Conflict as exc:
        return f"deploy the reverse plan once it can be: {exc.message}"
    return None


def _resume(tenant: str, plan: MigrationPlan) -> dict[str, Any]:
    """A repeated call: the unmarking again (idempotent), and the reverse plan's deploy if due."""
    deployments.start_unmarking(tenant, plan.id)
    assert plan.rolled_back_by_plan is not None
    reverse = plan_store.get_plan(tenant, plan.rolled_back_by_plan)
    return _answer(tenant, plan.id, _deploy_if_due(tenant, reverse))


def _answer(tenant: str, plan_id: str, next_step: str | None) -> dict[str, Any]:
    plan = plans.with_actions(plan_store.get_plan(tenant, plan_id))
    assert plan.rolled_back_by_plan is not None
    reverse = plan_store.get_plan(tenant, plan.rolled_back_by_plan)
    return {
        "plan_id": plan.id,
        "status": plan.status.value,
        "unmarking": "started",
        "reverse_plan": {
            "id": reverse.id,
            "status": reverse.status.value,
            "from_version": reverse.from_version,
            "to_version": reverse.to_version,
            "policies": {
                k: p.model_dump(mode="json", exclude_none=True) for k, p in reverse.policies.items()
            },
        },
        "next_step": next_step,
        "audit": next((a.model_dump() for a in reversed(plan.actions) if a.action == "rollback"), None),
    }
