"""Planning API: the scenario registry and migration plans (create, read, list, summary, policies).

Thin on purpose: parse (Powertools validates bodies and parameters), call a service, shape the
response. The OpenAPI document of the whole API (generated from every function's routes by
`make openapi`, packaged with the layer) is served here, at /api/v1/openapi.json and /api/v1/docs.
"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path as PathParam
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from scenario_migration.api import openapi
from scenario_migration.api.auth import ActingPerson, CurrentCaller, acting_person, requires
from scenario_migration.api.errors import responses
from scenario_migration.api.resolver import API_PREFIX, create_resolver
from scenario_migration.domain.lifecycle import AnchorPolicy, MigrationPlan, PlanHeader, PlanStatus
from scenario_migration.domain.plan import PlanSummary
from scenario_migration.domain.scenario import ID_PATTERN, MAX_VERSION, Identifier, Scenario
from scenario_migration.identity import Role
from scenario_migration.observability import logger
from scenario_migration.services import plans, scenarios

app = create_resolver()
ScenarioId = Annotated[str, PathParam(pattern=ID_PATTERN)]
PlanId = Annotated[str, PathParam(min_length=1, max_length=64)]


class ScenarioVersionView(BaseModel):
    scenario_id: str
    version: int
    name: str
    created_at: str
    step_count: int
    active: bool
    document: dict[str, Any] | None = None


class ScenarioRegistration(Scenario):
    """A scenario document whose `id` is required: registering needs one (a plan takes its path's)."""

    id: Identifier


class CreatePlanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # the envelope is strict; the document keeps extras

    new_scenario: Scenario
    created_by: ActingPerson = None


class PoliciesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policies: dict[str, AnchorPolicy]


class PlanList(BaseModel):
    items: list[PlanHeader]
    next_token: str | None


class NewScenarioView(BaseModel):
    plan_id: str
    scenario_id: str
    version: int
    document: dict[str, Any]


class SummaryView(PlanSummary):
    plan_id: str
    status: PlanStatus


def _version_view(tenant: str, scenario_id: str, version: int, with_document: bool) -> ScenarioVersionView:
    info, document = scenarios.read_version(tenant, scenario_id, version)
    active = scenarios.active_version(tenant, scenario_id)
    return ScenarioVersionView(
        **info.__dict__, active=info.version == active, document=document if with_document else None
    )


@app.post(
    f"{API_PREFIX}/scenarios",
    responses=responses(201, "Scenario registered", 409, 413, 415),
    **requires(Role.OPERATOR),
)
def create_scenario(body: ScenarioRegistration, caller: CurrentCaller) -> tuple[ScenarioVersionView, int]:
    info = scenarios.register(caller.tenant, body)
    return ScenarioVersionView(**info.__dict__, active=True, document=scenarios.document_of(body)), 201


@app.get(
    f"{API_PREFIX}/scenarios/<scenario_id>",
    responses=responses(200, "The active version", 404),
    **requires(Role.VIEWER),
)
def get_scenario(scenario_id: ScenarioId, caller: CurrentCaller) -> ScenarioVersionView:
    """The active version of a scenario, with its document."""
    tenant = caller.tenant
    return _version_view(tenant, scenario_id, scenarios.active_version(tenant, scenario_id), True)


@app.get(
    f"{API_PREFIX}/scenarios/<scenario_id>/versions",
    responses=responses(200, "Every stored version", 404),
    **requires(Role.VIEWER),
)
def list_versions(scenario_id: ScenarioId, caller: CurrentCaller) -> list[ScenarioVersionView]:
    active = scenarios.active_version(caller.tenant, scenario_id)
    return [
        ScenarioVersionView(**info.__dict__, active=info.version == active)
        for info in scenarios.list_versions(caller.tenant, scenario_id)
    ]


@app.get(
    f"{API_PREFIX}/scenarios/<scenario_id>/versions/<version>",
    responses=responses(200, "One version", 404),
    **requires(Role.VIEWER),
)
def get_version(
    scenario_id: ScenarioId, version: Annotated[int, PathParam(ge=1, le=MAX_VERSION)], caller: CurrentCaller
) -> ScenarioVersionView:
    return _version_view(caller.tenant, scenario_id, version, True)


@app.post(
    f"{API_PREFIX}/scenarios/<scenario_id>/migration-plan",
    responses=responses(201, "Plan created", 404, 409, 413, 415),
    **requires(Role.OPERATOR),
)
def create_plan(
    scenario_id: ScenarioId, body: CreatePlanRequest, caller: CurrentCaller
) -> tuple[MigrationPlan, int]:
    created_by = acting_person(caller, body.created_by, "created_by")
    plan = plans.create_plan(caller.tenant, scenario_id, body.new_scenario, created_by)
    logger.info(
        "plan created", extra={"tenant_id": caller.tenant, "plan_id": plan.id, "scenario_id": scenario_id}
    )
    return plan, 201


@app.get(
    f"{API_PREFIX}/migration-plans", responses=responses(200, "Plans, newest first"), **requires(Role.VIEWER)
)
def list_plans(
    caller: CurrentCaller,
    scenario_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    status: Annotated[PlanStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    next_token: Annotated[str | None, Query(max_length=2048)] = None,
) -> PlanList:
    items, token = plans.list_plans(caller.tenant, scenario_id, status, limit, next_token)
    return PlanList(items=items, next_token=token)


@app.get(
    f"{API_PREFIX}/migration-plans/<plan_id>",
    responses=responses(200, "The plan", 404),
    **requires(Role.VIEWER),
)
def get_plan(plan_id: PlanId, caller: CurrentCaller) -> MigrationPlan:
    return plans.get_plan(caller.tenant, plan_id)


@app.get(
    f"{API_PREFIX}/migration-plans/<plan_id>/summary",
    responses=responses(200, "Its summary", 404),
    **requires(Role.VIEWER),
)
def get_summary(plan_id: PlanId, caller: CurrentCaller) -> SummaryView:
    plan = plans.get_plan(caller.tenant, plan_id, with_map=False)
    return SummaryView(**plan.summary.model_dump(), plan_id=plan.id, status=plan.status)


@app.get(
    f"{API_PREFIX}/migration-plans/<plan_id>/new-scenario",
    responses=responses(200, "The plan's new version, as submitted", 404),
    **requires(Role.VIEWER),
)
def get_new_scenario(plan_id: PlanId, caller: CurrentCaller) -> NewScenarioView:
    """The plan's new version, as submitted: the registry has it only once deploy publishes it,
    and a reviewer compares it with the old version before approving."""
    document = plans.new_scenario(caller.tenant, plan_id)
    return NewScenarioView(
        plan_id=plan_id, scenario_id=document["id"], version=document["version"], document=document
    )


@app.put(
    f"{API_PREFIX}/migration-plans/<plan_id>/policies",
    responses=responses(200, "The plan, policies merged", 404, 409, 413, 415),
    **requires(Role.OPERATOR),
)
def put_policies(plan_id: PlanId, body: PoliciesRequest, caller: CurrentCaller) -> MigrationPlan:
    return plans.set_policies(caller.tenant, plan_id, body.policies)


@app.get(f"{API_PREFIX}/openapi.json", include_in_schema=False)
def openapi_document() -> dict[str, Any]:
    return openapi.document()


@app.get(f"{API_PREFIX}/docs", include_in_schema=False)
def swagger_ui():  # a Response: not a schema Powertools can validate against
    return Response(200, content_types.TEXT_HTML, openapi.swagger_page())


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
