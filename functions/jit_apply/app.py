"""JIT apply: invoked synchronously by the conversation runtime on every customer message.

Kept lean for cold starts: no REST resolver, no Tracer; the decision machinery is imported on the
first migration (services/jit.py; at init under SnapStart), CEL only when a fork has to be
evaluated. Input errors come back as `{"outcome": "error", "error": {...}}` (never a crash),
so the runtime can carry on with the conversation. The tenant in the payload is trusted: only
the runtime's role may invoke this function (docs/security.md).
"""

import os
from typing import Annotated, Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scenario_migration.config import get_settings
from scenario_migration.domain import parsers
from scenario_migration.domain.scenario import ID_PATTERN
from scenario_migration.errors import validation_problems
from scenario_migration.observability import logger, metrics
from scenario_migration.services import jit

get_settings()  # at init: an invalid configuration fails the function at start, naming the key
if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":
    jit.load_migration_path()  # lazy otherwise (services/jit.py): into the snapshot, like the parsers
    parsers.text2num()  # into the snapshot (~27 ms), instead of after every restore that needs them
    parsers.phonenumbers()

Identifier = Annotated[str, Field(pattern=ID_PATTERN)]


class JitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant_id: Identifier
    session_id: Identifier
    message: Annotated[str, Field(max_length=10_000)] | None = None
    conversation: Annotated[list[str | dict[str, Any]], Field(max_length=500)] | None = None
    profile: dict[str, Any] | None = None
    request_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None

    def to_request(self) -> jit.Request:
        return jit.Request(
            tenant_id=self.tenant_id,
            session_id=self.session_id,
            message=self.message,
            conversation=jit.customer_turns(self.conversation),
            profile=self.profile or {},
            request_id=self.request_id,
        )


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        request = JitRequest.model_validate(event)
    except ValidationError as exc:
        return {
            "outcome": "error",
            "error": {
                "code": "invalid_input",
                "message": "invalid request",
                "details": validation_problems(exc.errors()),
            },
        }
    logger.append_keys(tenant_id=request.tenant_id, session_id=request.session_id)
    return jit.apply(request.to_request())
