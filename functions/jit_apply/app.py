"""JIT apply: invoked synchronously by the conversation runtime on every customer message.

Kept lean for cold starts: no REST resolver, no Tracer; CEL is imported only when a fork has to
be evaluated. Input errors come back as `{"outcome": "error", "error": {...}}` (never a crash),
so the runtime can carry on with the conversation.
"""

from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scenario_migration.config import get_settings
from scenario_migration.domain.scenario import ID_PATTERN
from scenario_migration.observability import logger, metrics, record_jit_outcome
from scenario_migration.services import jit

get_settings()  # at init: an invalid configuration fails the function at start, naming the key

Identifier = Annotated[str, Field(pattern=ID_PATTERN)]


class JitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant_id: Identifier
    session_id: Identifier
    message: Annotated[str, Field(max_length=10_000)] | None = None
    conversation: Annotated[list[str | dict[str, Any]], Field(max_length=500)] | None = None
    profile: dict[str, Any] | None = None
    request_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        request = JitRequest.model_validate(event)
    except ValidationError as exc:
        problems = [{"location": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()]
        return {
            "outcome": "error",
            "error": {"code": "invalid_input", "message": "invalid request", "details": problems},
        }
    logger.append_keys(tenant_id=request.tenant_id, session_id=request.session_id)
    result = jit.apply(request.model_dump(exclude_none=True))
    record_jit_outcome(result)
    return result
