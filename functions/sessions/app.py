"""Sessions API: the runtime reports positions; anyone may read a session and its migrations."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path as PathParam
from aws_lambda_powertools.utilities.typing import LambdaContext

from scenario_migration.api.errors import responses
from scenario_migration.api.resolver import API_PREFIX, TenantId, create_resolver
from scenario_migration.domain.scenario import ID_PATTERN
from scenario_migration.domain.session import SessionReport
from scenario_migration.observability import logger
from scenario_migration.services import sessions

app = create_resolver()
SessionId = Annotated[str, PathParam(pattern=ID_PATTERN)]


@app.put(f"{API_PREFIX}/sessions/<session_id>", responses=responses(200, "The stored position", 413, 415))
def put_session(session_id: SessionId, body: SessionReport, tenant: TenantId) -> dict[str, Any]:
    return sessions.report(tenant, session_id, body)


@app.get(f"{API_PREFIX}/sessions/<session_id>", responses=responses(200, "The session", 404))
def get_session(session_id: SessionId, tenant: TenantId) -> dict[str, Any]:
    return sessions.get(tenant, session_id)


@app.get(f"{API_PREFIX}/sessions/<session_id>/migrations", responses=responses(200, "Its audit trail", 404))
def get_migrations(session_id: SessionId, tenant: TenantId) -> dict[str, Any]:
    return {"session_id": session_id, "migrations": sessions.migrations(tenant, session_id)}


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
