"""Deploy API: publish a plan's version and start marking, cancel it, report live progress."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path as PathParam
from aws_lambda_powertools.utilities.typing import LambdaContext

from scenario_migration.api import links
from scenario_migration.api.auth import CurrentCaller, requires
from scenario_migration.api.errors import responses
from scenario_migration.api.openapi import Tag, operation
from scenario_migration.api.resolver import API_PREFIX, create_resolver
from scenario_migration.domain.deployment import CancelStarted, DeploymentStatus, DeployStarted
from scenario_migration.identity import Role
from scenario_migration.observability import logger
from scenario_migration.services import deployments

app = create_resolver()
PlanId = Annotated[str, PathParam(min_length=1, max_length=64)]


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
        headers={"Location": "Where to follow the deployment (its deployment-status)"},
    ),
    **operation(
        Tag.DEPLOYMENT,
        "Deploy a plan",
        "Makes the plan's version active for new sessions and starts marking live ones, asynchronously "
        "(202, `status: deploying`): `sessions_by_anchor` counts, per anchor, the live sessions the "
        "plan's policies admit now (what marking will mark unless they move first); follow "
        "`status_url`, also the `Location` header. The plan must be approved (or pending, without "
        "`deployment.require_approval`): 409 otherwise.",
    ),
    **requires(Role.OPERATOR),
)
def deploy(plan_id: PlanId, caller: CurrentCaller) -> Response[DeployAccepted]:
    started = deployments.deploy(caller.tenant, plan_id)
    url = links.deployment_status_url(plan_id)
    body = DeployAccepted(**started.model_dump(), status_url=url)
    return Response(202, content_types.APPLICATION_JSON, body, headers={"Location": url})


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


@app.get(
    f"{API_PREFIX}/migration-plans/<plan_id>/deployment-status",
    responses=responses(200, "Live progress", 404),
    **operation(
        Tag.DEPLOYMENT,
        "Follow a deployment",
        "Marking progress and migrations by outcome, from the deployment's counters (exact at every moment).",
    ),
    **requires(Role.VIEWER),
)
def deployment_status(plan_id: PlanId, caller: CurrentCaller) -> DeploymentStatus:
    return deployments.status(caller.tenant, plan_id)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
