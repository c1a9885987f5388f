"""Deploy API: publish a plan's version and start marking, cancel it, report live progress."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path as PathParam
from aws_lambda_powertools.utilities.typing import LambdaContext

from scenario_migration.api.auth import CurrentCaller, requires
from scenario_migration.api.errors import responses
from scenario_migration.api.resolver import API_PREFIX, create_resolver
from scenario_migration.identity import Role
from scenario_migration.observability import logger
from scenario_migration.services import deployments

app = create_resolver()
PlanId = Annotated[str, PathParam(min_length=1, max_length=64)]


@app.post(
    f"{API_PREFIX}/migration-plans/<plan_id>/deploy",
    responses=responses(202, "Deploy started", 404, 409),
    **requires(Role.OPERATOR),
)
def deploy(plan_id: PlanId, caller: CurrentCaller) -> tuple[dict[str, Any], int]:
    """Make the plan's version active for new sessions and mark live sessions (asynchronously)."""
    return deployments.deploy(caller.tenant, plan_id), 202


@app.post(
    f"{API_PREFIX}/migration-plans/<plan_id>/cancel",
    responses=responses(200, "Cancelled", 404, 409),
    **requires(Role.OPERATOR),
)
def cancel(plan_id: PlanId, caller: CurrentCaller) -> dict[str, Any]:
    """Stop marking and remove the markers of sessions not yet migrated."""
    return deployments.cancel(caller.tenant, plan_id)


@app.get(
    f"{API_PREFIX}/migration-plans/<plan_id>/deployment-status",
    responses=responses(200, "Live progress", 404),
    **requires(Role.VIEWER),
)
def deployment_status(plan_id: PlanId, caller: CurrentCaller) -> dict[str, Any]:
    return deployments.status(caller.tenant, plan_id)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
