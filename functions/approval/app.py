"""Approval API: approve or reject a pending plan (compare-and-set on its status)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path as PathParam
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from scenario_migration.api import links
from scenario_migration.api.auth import ActingPerson, CurrentCaller, acting_person, requires
from scenario_migration.api.errors import responses
from scenario_migration.api.openapi import Tag, operation
from scenario_migration.api.resolver import API_PREFIX, create_resolver
from scenario_migration.domain.lifecycle import PlanView
from scenario_migration.identity import Role
from scenario_migration.observability import logger
from scenario_migration.services import plans

app = create_resolver()
PlanId = Annotated[str, PathParam(min_length=1, max_length=64)]


# With a token, the token's principal is recorded and a name here must equal it; without one (the
# local run), required.
class ApproveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, not silently dropped

    approved_by: ActingPerson = None
    # Critical warnings block approval unless each is listed here: its code, message or kind.
    acknowledged_warnings: Annotated[
        list[Annotated[str, Field(max_length=4000)]], Field(max_length=1000)
    ] = []


class RejectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rejected_by: ActingPerson = None
    reason: Annotated[str, Field(max_length=2000)] | None = None


@app.post(
    f"{API_PREFIX}/migration-plans/<plan_id>/approve",
    responses=responses(200, "The approved plan", 403, 404, 409, 413, 415),
    **operation(
        Tag.APPROVAL,
        "Approve a plan",
        "Approves a pending plan whose source version is still the active one (409 otherwise). "
        "Critical warnings block approval unless `acknowledged_warnings` lists each (code or message), "
        "or its kind (the code's first part, e.g. `condition_type`, acknowledges every warning of it). "
        "With `deployment.require_approval` and a token, the plan's creator cannot approve it (403). "
        "The answer is the plan as GET shows it.",
    ),
    **requires(Role.APPROVER),
)
def approve(plan_id: PlanId, body: ApproveRequest, caller: CurrentCaller) -> PlanView:
    approved_by = acting_person(caller, body.approved_by, "approved_by")
    plan = plans.approve(caller.tenant, plan_id, approved_by, body.acknowledged_warnings)
    logger.info("plan approved", extra={"tenant_id": caller.tenant, "plan_id": plan_id, "by": approved_by})
    return links.plan(plan)


@app.post(
    f"{API_PREFIX}/migration-plans/<plan_id>/reject",
    responses=responses(200, "The rejected plan", 404, 409, 413, 415),
    **operation(
        Tag.APPROVAL,
        "Reject a plan",
        "Rejects a pending plan, recording who and why (409 when it is not pending). The answer is the "
        "plan as GET shows it.",
    ),
    **requires(Role.APPROVER),
)
def reject(plan_id: PlanId, body: RejectRequest, caller: CurrentCaller) -> PlanView:
    rejected_by = acting_person(caller, body.rejected_by, "rejected_by")
    plan = plans.reject(caller.tenant, plan_id, rejected_by, body.reason)
    logger.info("plan rejected", extra={"tenant_id": caller.tenant, "plan_id": plan_id, "by": rejected_by})
    return links.plan(plan)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
