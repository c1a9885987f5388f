"""Deploy API: publish a plan's version and start marking (all at once or as a canary), widen a
canary, cancel or roll back a deployment, simulate a plan, report live progress."""

from typing import Annotated, Any, Self

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.openapi.params import Path as PathParam
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, model_validator

from scenario_migration.api.auth import CurrentCaller, acting_person, requires
from scenario_migration.api.resolver import API_PREFIX, create_resolver
from scenario_migration.domain.canary import FULL, NewSessions
from scenario_migration.domain.scenario import ID_PATTERN
from scenario_migration.identity import Role
from scenario_migration.observability import logger, metrics
from scenario_migration.services import deployments, rollback, simulate

app = create_resolver()
PlanId = Annotated[str, PathParam(min_length=1, max_length=64)]
Percent = Annotated[int, Field(ge=1, le=FULL)]
SessionId = Annotated[str, Field(pattern=ID_PATTERN)]


class DeployRequest(BaseModel):
    """Optional. `canary_percent` below 100 marks only that share of the sessions (a stable hash
    of tenant, plan and session); new sessions stay on the old version until the canary is
    widened to 100, unless `new_sessions` is "v2"."""

    model_config = ConfigDict(extra="forbid")

    canary_percent: Percent = FULL
    new_sessions: NewSessions | None = None


class WidenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    canary_percent: Percent


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The reverse plan's creator. With a token, the token's principal (a value here must equal
    # it); without one (the local run), required.
    created_by: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    reason: Annotated[str, Field(max_length=2000)] | None = None


class SimulateRequest(BaseModel):
    """Either `session_ids` (up to 100) or `sample` (up to 1,000 random live sessions at the
    plan's anchors; `seed` draws the same sample again)."""

    model_config = ConfigDict(extra="forbid")

    session_ids: (
        Annotated[list[SessionId], Field(min_length=1, max_length=simulate.MAX_SESSION_IDS)] | None
    ) = None
    sample: Annotated[int, Field(ge=1, le=simulate.MAX_SAMPLE)] | None = None
    seed: int | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.session_ids is None) == (self.sample is None):
            raise ValueError("give either session_ids or sample")
        return self


@app.post(
    f"{API_PREFIX}/migration-plans/<plan_id>/deploy",
    responses={202: {"description": "Deploy started"}},
    **requires(Role.OPERATOR),
)
def deploy(
    plan_id: PlanId, caller: CurrentCaller, body: Annotated[DeployRequest | None, Body()] = None
) -> tuple[dict[str, Any], int]:
    """Make the plan's version active for new sessions and mark live sessions (asynchronously);
    with a canary, only a share of them, and new sessions on the plan's version only at 100 %."""
    request = body or DeployRequest()
    canary = deployments.Canary(request.canary_percent, request.new_sessions)
    return deployments.deploy(caller.tenant, plan_id, canary), 202


@app.post(f"{API_PREFIX}/migration-plans/<plan_id>/widen", **requires(Role.OPERATOR))
def widen(plan_id: PlanId, body: WidenRequest, caller: CurrentCaller) -> dict[str, Any]:
    """Widen a canary: mark the next slice only. The same percent again changes nothing; the
    canary guard refuses (409 with its figures) while too many outcomes are blocked, kept or
    failed; 100 completes the deployment."""
    return deployments.widen(caller.tenant, plan_id, body.canary_percent)


@app.post(f"{API_PREFIX}/migration-plans/<plan_id>/cancel", **requires(Role.OPERATOR))
def cancel(plan_id: PlanId, caller: CurrentCaller) -> dict[str, Any]:
    """Stop marking and remove the markers of sessions not yet migrated."""
    return deployments.cancel(caller.tenant, plan_id)


@app.post(f"{API_PREFIX}/migration-plans/<plan_id>/rollback", **requires(Role.OPERATOR))
def rollback_plan(plan_id: PlanId, body: RollbackRequest, caller: CurrentCaller) -> dict[str, Any]:
    """Go back: the old version's content as a new version, a reverse plan to it (deployed at
    once unless approval is required), the plan cancelled and its unmigrated sessions unmarked."""
    requested_by = acting_person(caller, body.created_by, "created_by")
    return rollback.rollback(caller.tenant, plan_id, requested_by, body.reason)


@app.post(f"{API_PREFIX}/migration-plans/<plan_id>/simulate", **requires(Role.VIEWER))
def simulate_plan(plan_id: PlanId, body: SimulateRequest, caller: CurrentCaller) -> dict[str, Any]:
    """Dry run: the JIT decision each session would get now, and what they add up to. Writes
    nothing."""
    request = simulate.Request(session_ids=body.session_ids, sample=body.sample, seed=body.seed)
    return simulate.simulate(caller.tenant, plan_id, request)


@app.get(f"{API_PREFIX}/migration-plans/<plan_id>/deployment-status", **requires(Role.VIEWER))
def deployment_status(plan_id: PlanId, caller: CurrentCaller) -> dict[str, Any]:
    return deployments.status(caller.tenant, plan_id)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
