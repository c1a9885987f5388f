"""Deploy API: publish a plan's version and start marking (all at once or as a canary), widen a
canary, cancel or roll back a deployment, simulate a plan, report live progress."""

from typing import Annotated, Any, Self

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.openapi.params import Path as PathParam
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from scenario_migration.api import links
from scenario_migration.api.auth import ActingPerson, CurrentCaller, acting_person, requires
from scenario_migration.api.errors import responses
from scenario_migration.api.openapi import Tag, operation
from scenario_migration.api.resolver import API_PREFIX, create_resolver
from scenario_migration.domain.canary import FULL, NewSessions
from scenario_migration.domain.deployment import CancelStarted, DeploymentStatus, DeployStarted
from scenario_migration.domain.lifecycle import AnchorPolicy, OperatorAction
from scenario_migration.domain.scenario import ID_PATTERN
from scenario_migration.identity import Role
from scenario_migration.observability import logger, metrics
from scenario_migration.services import deployments, rollback, simulate

app = create_resolver()
PlanId = Annotated[str, PathParam(min_length=1, max_length=64)]


def _a_number(value: object) -> object:
    """JSON numbers only: `true` or "50" is a 400 (pydantic's lax int would take them as 1 and
    50); 50.0 is 50, as JSON Schema's integer says. After the Field: its bounds stay `minimum` and
    `maximum` in the document."""
    if isinstance(value, bool | str):
        raise ValueError("a number is required")
    return value


Percent = Annotated[int, Field(ge=1, le=FULL), BeforeValidator(_a_number)]
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
    created_by: ActingPerson = None
    reason: Annotated[str, Field(max_length=2000)] | None = None


class SimulateRequest(BaseModel):
    """Either `session_ids` (up to 100) or `sample` (up to 1,000 random live sessions at the
    plan's anchors; `seed` draws the same sample again)."""

    model_config = ConfigDict(extra="forbid")

    session_ids: (
        Annotated[list[SessionId], Field(min_length=1, max_length=simulate.MAX_SESSION_IDS)] | None
    ) = None
    sample: Annotated[int, Field(ge=1, le=simulate.MAX_SAMPLE), BeforeValidator(_a_number)] | None = None
    seed: Annotated[int, BeforeValidator(_a_number)] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.session_ids is None) == (self.sample is None):
            raise ValueError("give either session_ids or sample")
        return self


class ReversePlan(BaseModel):
    id: str
    status: str
    from_version: int
    to_version: int
    policies: dict[str, AnchorPolicy]


class RollbackStarted(BaseModel):
    """Rollback's answer: the plan cancelled and unmarking, its reverse plan, what is left to do
    (`next_step`: null when the reverse plan is deployed), and the rollback's audit record."""

    plan_id: str
    status: str
    unmarking: str
    reverse_plan: ReversePlan
    next_step: str | None
    audit: OperatorAction | None


class SimulatedSession(BaseModel):
    """One session as JIT would decide it now (a session left alone has only its outcome and
    reason). `re_route` and `checkpoint_block` say where a re-route goes, or which step a
    checkpoint keeps the customer from."""

    session_id: str
    outcome: str
    reason: str | None = None
    anchor: str | None = None
    anchor_name: str | None = None
    migration_scenario: str | None = None
    from_version: int | None = None
    to_version: int | None = None
    from_step_id: str | None = None
    to_step_id: str | None = None
    filled_fields: dict[str, Any] | None = None
    questions: list[dict[str, Any]] | None = None
    message: str | None = None
    re_route: dict[str, Any] | None = None
    checkpoint_block: dict[str, Any] | None = None
    awaiting_answer: str | None = None  # the field the customer's pending question is about
    inputs_missing: list[str] | None = None  # what the dry run could not know (message, profile...)
    canary_bucket: int | None = None  # the session's stable bucket, 0..9999


class AnchorOutcomes(BaseModel):
    anchor_name: str | None
    sessions: int
    by_outcome: dict[str, int]


class AskedQuestion(BaseModel):
    field: str
    text: str
    count: int


class SimulationTotals(BaseModel):
    sessions: int
    by_outcome: dict[str, int]
    by_migration_scenario: dict[str, int]
    by_anchor: dict[str, AnchorOutcomes]
    questions: list[AskedQuestion]


class Simulation(BaseModel):
    """The dry run's answer: each session's decision and what they add up to."""

    plan_id: str
    status: str
    simulated_at: str
    mode: str
    requested: int
    canary_percent: int | None
    results: list[SimulatedSession]
    aggregate: SimulationTotals


class DeployAccepted(DeployStarted):
    """Deploy's answer (202): poll `status_url` (also the `Location` header) until `status` is
    `deployed`."""

    status_url: str


@app.post(
    f"{API_PREFIX}/migration-plans/<plan_id>/deploy",
    responses=responses(
        202,
        "Deploy started",
        404,
        409,
        413,
        415,
        headers={"Location": "Where to follow the deployment (its deployment-status)"},
    ),
    **operation(
        Tag.DEPLOYMENT,
        "Deploy a plan",
        "Makes the plan's version active for new sessions and starts marking live ones, asynchronously "
        "(202, `status: deploying`): `sessions_by_anchor` counts, per anchor, the live sessions the "
        "plan's policies admit now (of a canary, those in its first slice: what marking will mark unless "
        "they move first); follow "
        "`status_url`, also the `Location` header. The plan must be approved (or pending, without "
        "`deployment.require_approval`): 409 otherwise. An optional body starts a canary: "
        "`canary_percent` below 100 marks only that share of the sessions (a stable hash of tenant, plan "
        "and session; `widen` adds the next slices), and new sessions stay on the old version until "
        "100 unless `new_sessions` is `v2`.",
    ),
    **requires(Role.OPERATOR),
)
def deploy(
    plan_id: PlanId, caller: CurrentCaller, body: Annotated[DeployRequest | None, Body()] = None
) -> Response[DeployAccepted]:
    request = body or DeployRequest()
    canary = deployments.Canary(request.canary_percent, request.new_sessions)
    started = deployments.deploy(caller.tenant, plan_id, canary)
    url = links.deployment_status_url(plan_id)
    answer = DeployAccepted(**started.model_dump(), status_url=url)
    return Response(202, content_types.APPLICATION_JSON, answer, headers={"Location": url})


@app.post(
    f"{API_PREFIX}/migration-plans/<plan_id>/widen",
    responses=responses(200, "The deployment, widened", 404, 409, 413, 415),
    **operation(
        Tag.DEPLOYMENT,
        "Widen a canary",
        "Marks the next slice only (the sessions whose stable bucket lies between the current percent and "
        "the new one). The same percent again changes nothing (or resumes that slice's marking); a lower "
        "one is a 409; the canary guard refuses (409 with its figures under `details.guard`) while too "
        "many outcomes are blocked, kept or failed; 100 completes the deployment (new sessions then "
        "start on the plan's version). The answer is the deployment's status.",
    ),
    **requires(Role.OPERATOR),
)
def widen(plan_id: PlanId, body: WidenRequest, caller: CurrentCaller) -> DeploymentStatus:
    return deployments.widen(caller.tenant, plan_id, body.canary_percent)


@app.post(
    f"{API_PREFIX}/migration-plans/<plan_id>/cancel",
    responses=responses(200, "Cancelled", 404, 409),
    **operation(
        Tag.DEPLOYMENT,
        "Cancel a deployment",
        "Stops marking and removes the markers of sessions not yet migrated (asynchronously); sessions "
        "already migrated stay migrated. Only while deploying or deployed (409 otherwise).",
    ),
    **requires(Role.OPERATOR),
)
def cancel(plan_id: PlanId, caller: CurrentCaller) -> CancelStarted:
    return deployments.cancel(caller.tenant, plan_id)


@app.post(
    f"{API_PREFIX}/migration-plans/<plan_id>/rollback",
    responses=responses(200, "Rolled back", 404, 409, 413, 415),
    **operation(
        Tag.DEPLOYMENT,
        "Roll back a deployment",
        "In one call: the old version's content becomes a new version, planned against the plan's (a "
        "reverse plan whose anchors are forced to a clean graft), the plan is cancelled (its canary "
        "closed, its unmigrated sessions unmarked) and the rollback recorded in its `actions`; the "
        "reverse plan is deployed at once unless `deployment.require_approval` is on (`next_step` says "
        "what is left). A repeated call resumes and answers the same. 409 unless the plan is deploying "
        "or deployed and its version is still the latest.",
    ),
    **requires(Role.OPERATOR),
)
def rollback_plan(plan_id: PlanId, body: RollbackRequest, caller: CurrentCaller) -> RollbackStarted:
    requested_by = acting_person(caller, body.created_by, "created_by")
    answer = rollback.rollback(caller.tenant, plan_id, requested_by, body.reason)
    return RollbackStarted.model_validate(answer)


@app.post(
    f"{API_PREFIX}/migration-plans/<plan_id>/simulate",
    responses=responses(200, "What JIT would decide now", 404, 409, 413, 415),
    **operation(
        Tag.DEPLOYMENT,
        "Simulate a plan (dry run)",
        "For the sessions named (`session_ids`, up to 100) or a random sample of live sessions at the "
        "plan's anchors (`sample`, up to 1,000; `seed` draws it again), the decision JIT would take now, "
        "and what they add up to. Writes nothing. 409 for a plan that is rejected, superseded or "
        "cancelled.",
    ),
    **requires(Role.VIEWER),
)
def simulate_plan(plan_id: PlanId, body: SimulateRequest, caller: CurrentCaller) -> Simulation:
    request = simulate.Request(session_ids=body.session_ids, sample=body.sample, seed=body.seed)
    return Simulation.model_validate(simulate.simulate(caller.tenant, plan_id, request))


@app.get(
    f"{API_PREFIX}/migration-plans/<plan_id>/deployment-status",
    responses=responses(200, "Live progress", 404),
    **operation(
        Tag.DEPLOYMENT,
        "Follow a deployment",
        "Marking progress and migrations by outcome, from the deployment's counters (exact at every "
        "moment); during a canary, its percent, slices and the guard's figures.",
    ),
    **requires(Role.VIEWER),
)
def deployment_status(plan_id: PlanId, caller: CurrentCaller) -> DeploymentStatus:
    return deployments.status(caller.tenant, plan_id)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
