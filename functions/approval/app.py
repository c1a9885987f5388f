"""Approval API: approve or reject a pending plan (compare-and-set on its status)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path as PathParam
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from scenario_migration.api.errors import responses
from scenario_migration.api.resolver import API_PREFIX, TenantId, create_resolver
from scenario_migration.domain.lifecycle import MigrationPlan
from scenario_migration.observability import logger
from scenario_migration.services import plans

app = create_resolver()
PlanId = Annotated[str, PathParam(min_length=1, max_length=64)]
Person = Annotated[str, Field(min_length=1, max_length=256)]


class ApproveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, not silently dropped

    approved_by: Person


class RejectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rejected_by: Person
    reason: Annotated[str, Field(max_length=2000)] | None = None


@app.post(
    f"{API_PREFIX}/migration-plans/<plan_id>/approve",
    responses=responses(200, "The approved plan", 404, 409, 413, 415),
)
def approve(plan_id: PlanId, body: ApproveRequest, tenant: TenantId) -> MigrationPlan:
    plan = plans.approve(tenant, plan_id, body.approved_by)
    logger.info("plan approved", extra={"tenant_id": tenant, "plan_id": plan_id, "by": body.approved_by})
    return plan


@app.post(
    f"{API_PREFIX}/migration-plans/<plan_id>/reject",
    responses=responses(200, "The rejected plan", 404, 409, 413, 415),
)
def reject(plan_id: PlanId, body: RejectRequest, tenant: TenantId) -> MigrationPlan:
    plan = plans.reject(tenant, plan_id, body.rejected_by, body.reason)
    logger.info("plan rejected", extra={"tenant_id": tenant, "plan_id": plan_id, "by": body.rejected_by})
    return plan


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
