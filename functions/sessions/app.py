"""Sessions API: the runtime reports positions; anyone may read a session and its migrations."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path as PathParam
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from scenario_migration.api.resolver import API_PREFIX, TenantId, create_resolver
from scenario_migration.domain.scenario import ID_PATTERN
from scenario_migration.domain.session import AuditRecord, SessionReport, SessionView
from scenario_migration.observability import logger
from scenario_migration.services import sessions

app = create_resolver()
SessionId = Annotated[str, PathParam(pattern=ID_PATTERN)]


class MigrationHistory(BaseModel):
    session_id: str
    migrations: list[AuditRecord]


@app.put(f"{API_PREFIX}/sessions/<session_id>")
def put_session(session_id: SessionId, body: SessionReport, tenant: TenantId) -> SessionView:
    return sessions.report(tenant, session_id, body)


@app.get(f"{API_PREFIX}/sessions/<session_id>")
def get_session(session_id: SessionId, tenant: TenantId) -> SessionView:
    return sessions.get(tenant, session_id)


@app.get(f"{API_PREFIX}/sessions/<session_id>/migrations")
def get_migrations(session_id: SessionId, tenant: TenantId) -> MigrationHistory:
    return MigrationHistory(session_id=session_id, migrations=sessions.migrations(tenant, session_id))


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
