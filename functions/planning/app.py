"""Planning API: the scenario registry and migration plans (create, read, list, summary, map and
warnings pages, policies).

Thin on purpose: parse (Powertools validates bodies and parameters), call a service, shape the
response. The OpenAPI document of the whole API (generated from every function's routes by
`make openapi`, packaged with the layer) is served here, at /api/v1/openapi.json and at
/api/v1/docs?format=json (the URL the Swagger UI page of /api/v1/docs reads it from).
"""

import json
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path as PathParam
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from scenario_migration.api import links, openapi
from scenario_migration.api.auth import ActingPerson, CurrentCaller, acting_person, requires
from scenario_migration.api.errors import responses
from scenario_migration.api.openapi import Tag, operation
from scenario_migration.api.resolver import API_PREFIX, create_resolver
from scenario_migration.domain.lifecycle import AnchorPolicy, PlanHeader, PlanStatus, PlanView
from scenario_migration.domain.plan import MapPage, PlanSummaryView, WarningsPage
from scenario_migration.domain.scenario import ID_PATTERN, MAX_VERSION, Identifier, ProposedScenario, Scenario
from scenario_migration.identity import Role
from scenario_migration.observability import logger
from scenario_migration.services import plans, scenarios

app = create_resolver()
ScenarioId = Annotated[str, PathParam(pattern=ID_PATTERN)]
PlanId = Annotated[str, PathParam(min_length=1, max_length=64)]
PageLimit = Annotated[int, Query(ge=1, le=plans.MAX_PAGE_ENTRIES)]
PageToken = Annotated[str | None, Query(max_length=200)]


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


class VersionList(BaseModel):
    scenario_id: str
    items: list[ScenarioVersionView]


class CreatePlanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # the envelope is strict; the document keeps extras

    new_scenario: ProposedScenario
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


class SummaryView(PlanSummaryView):
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
    **operation(
        Tag.SCENARIOS,
        "Register a scenario",
        "Registers a scenario with its first version, active at once. Later versions come through "
        "migration plans. A 409 when the scenario exists.",
    ),
    **requires(Role.OPERATOR),
)
def create_scenario(body: ScenarioRegistration, caller: CurrentCaller) -> tuple[ScenarioVersionView, int]:
    info = scenarios.register(caller.tenant, body)
    return ScenarioVersionView(**info.__dict__, active=True, document=scenarios.document_of(body)), 201


@app.get(
    f"{API_PREFIX}/scenarios/<scenario_id>",
    responses=responses(200, "The active version", 404),
    **operation(Tag.SCENARIOS, "Read a scenario", "The active version of a scenario, with its document."),
    **requires(Role.VIEWER),
)
def get_scenario(scenario_id: ScenarioId, caller: CurrentCaller) -> ScenarioVersionView:
    """The active version of a scenario, with its document."""
    tenant = caller.tenant
    return _version_view(tenant, scenario_id, scenarios.active_version(tenant, scenario_id), True)


@app.get(
    f"{API_PREFIX}/scenarios/<scenario_id>/versions",
    responses=responses(200, "Every stored version", 404),
    **operation(
        Tag.SCENARIOS,
        "List a scenario's versions",
        "Every stored version of a scenario, oldest first, without their documents; `active` marks "
        "the one new sessions start on.",
    ),
    **requires(Role.VIEWER),
)
def list_versions(scenario_id: ScenarioId, caller: CurrentCaller) -> VersionList:
    active = scenarios.active_version(caller.tenant, scenario_id)
    return VersionList(
        scenario_id=scenario_id,
        items=[
            ScenarioVersionView(**info.__dict__, active=info.version == active)
            for info in scenarios.list_versions(caller.tenant, scenario_id)
        ],
    )


@app.get(
    f"{API_PREFIX}/scenarios/<scenario_id>/versions/<version>",
    responses=responses(200, "One version", 404),
    **operation(Tag.SCENARIOS, "Read a version", "One version of a scenario, with its document."),
    **requires(Role.VIEWER),
)
def get_version(
    scenario_id: ScenarioId, version: Annotated[int, PathParam(ge=1, le=MAX_VERSION)], caller: CurrentCaller
) -> ScenarioVersionView:
    return _version_view(caller.tenant, scenario_id, version, True)


@app.post(
    f"{API_PREFIX}/scenarios/<scenario_id>/migration-plan",
    responses=responses(201, "Plan created", 404, 409, 413, 415),
    **operation(
        Tag.PLANS,
        "Create a migration plan",
        "Diffs the active version against `new_scenario` and stores a pending plan, with a census of "
        "the live sessions. Without `entry_step_id` the new version keeps the active version's entry "
        "step (a 400 when the new version no longer has it). The answer is the plan as GET shows it: "
        "the first page of its transformation map and of its warnings. A 409 when the version is not "
        "above the active one.",
    ),
    **requires(Role.OPERATOR),
)
def create_plan(
    scenario_id: ScenarioId, body: CreatePlanRequest, caller: CurrentCaller
) -> tuple[PlanView, int]:
    created_by = acting_person(caller, body.created_by, "created_by")
    plan = plans.create_plan(caller.tenant, scenario_id, body.new_scenario, created_by)
    logger.info(
        "plan created", extra={"tenant_id": caller.tenant, "plan_id": plan.id, "scenario_id": scenario_id}
    )
    return links.plan(plan), 201


@app.get(
    f"{API_PREFIX}/migration-plans",
    responses=responses(200, "Plans, newest first"),
    **operation(
        Tag.PLANS,
        "List plans",
        "The tenant's plans, newest first, without summaries or maps; filter by scenario and status, "
        "page with `limit` and `next_token`.",
    ),
    **requires(Role.VIEWER),
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
    **operation(
        Tag.PLANS,
        "Read a plan",
        "The plan: status, who did what when, policies, the summary with the first page of warnings "
        "(`summary.warnings_next` reads on) and the first page of the transformation map "
        "(`transformation_map.next` reads on; a small plan's map fits whole).",
    ),
    **requires(Role.VIEWER),
)
def get_plan(plan_id: PlanId, caller: CurrentCaller) -> PlanView:
    return links.plan(plans.get_plan(caller.tenant, plan_id))


@app.get(
    f"{API_PREFIX}/migration-plans/<plan_id>/summary",
    responses=responses(200, "Its summary", 404),
    **operation(
        Tag.PLANS,
        "Read a plan's summary",
        "Anchors by classification, sessions per anchor, fields customers may be asked for, and the "
        "first page of warnings (most severe first; `warnings_next` reads on).",
    ),
    **requires(Role.VIEWER),
)
def get_summary(plan_id: PlanId, caller: CurrentCaller) -> SummaryView:
    plan, summary = plans.get_summary(caller.tenant, plan_id)
    shown = links.plan_summary(plan_id, summary)
    return SummaryView(**shown.model_dump(), plan_id=plan.id, status=plan.status)


@app.get(
    f"{API_PREFIX}/migration-plans/<plan_id>/transformation-map",
    responses=responses(200, "A page of the map", 404),
    **operation(
        Tag.PLANS,
        "Read the transformation map, page by page",
        "The map's anchors (each with its fields on the way), then its deleted, ambiguous, changed-fork "
        "and edited steps, as one sequence read page by page: at most `limit` entries and about 2 MB "
        "a page. `next_token` (and the `next` URL) reads the following page; null on the last.",
    ),
    **requires(Role.VIEWER),
)
def get_transformation_map(
    plan_id: PlanId, caller: CurrentCaller, next_token: PageToken = None, limit: PageLimit = 500
) -> MapPage:
    return links.map_page(plan_id, plans.map_page(caller.tenant, plan_id, next_token, limit), limit)


@app.get(
    f"{API_PREFIX}/migration-plans/<plan_id>/warnings",
    responses=responses(200, "A page of warnings", 404),
    **operation(
        Tag.PLANS,
        "Read the warnings, page by page",
        "Every warning of the plan, most severe first, at most `limit` and about 2 MB a page; "
        "`next_token` (and the `next` URL) reads the following page.",
    ),
    **requires(Role.VIEWER),
)
def get_warnings(
    plan_id: PlanId, caller: CurrentCaller, next_token: PageToken = None, limit: PageLimit = 500
) -> WarningsPage:
    return links.warnings_page(plans.warnings_page(caller.tenant, plan_id, next_token, limit), limit)


@app.get(
    f"{API_PREFIX}/migration-plans/<plan_id>/new-scenario",
    responses=responses(200, "The plan's new version, as submitted", 404),
    **operation(
        Tag.PLANS,
        "Read the plan's new version",
        "The new scenario version as submitted (the registry has it only once deploy publishes it).",
    ),
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
    **operation(
        Tag.PLANS,
        "Set per-anchor policies",
        "Merges policies, keyed by anchor hash, into the plan's: scope filters (channels, session age), "
        "whether to migrate at all, a forced classification. Only while the plan is pending (409 "
        "otherwise). The answer is the plan as GET shows it.",
    ),
    **requires(Role.OPERATOR),
)
def put_policies(plan_id: PlanId, body: PoliciesRequest, caller: CurrentCaller) -> PlanView:
    return links.plan(plans.set_policies(caller.tenant, plan_id, body.policies))


@app.get(f"{API_PREFIX}/openapi.json", include_in_schema=False)
def openapi_document() -> dict[str, Any]:
    return openapi.document()


@app.get(f"{API_PREFIX}/docs", include_in_schema=False)
def swagger_ui(format: Annotated[str | None, Query()] = None):
    """The Swagger UI page; `?format=json`, where the page reads the document from, the document."""
    if format == "json":
        return Response(200, content_types.APPLICATION_JSON, json.dumps(openapi.document()))
    return Response(200, content_types.TEXT_HTML, openapi.swagger_page())


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
