"""Sessions API: the runtime reports positions (role `runtime`, a machine credential); viewers read
a session and its migrations. The runtime may not read: it needs only to write positions (and JIT
answers it with the session), so a leaked runtime credential reads no customer data here."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path as PathParam
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from scenario_migration.api.auth import CurrentCaller, requires
from scenario_migration.api.errors import responses
from scenario_migration.api.openapi import Tag, operation
from scenario_migration.api.resolver import API_PREFIX, create_resolver
from scenario_migration.domain.scenario import ID_PATTERN
from scenario_migration.domain.session import AuditRecord, SessionReport, SessionView
from scenario_migration.identity import Role
from scenario_migration.observability import logger
from scenario_migration.services import sessions

app = create_resolver()
SessionId = Annotated[str, PathParam(pattern=ID_PATTERN)]


class MigrationHistory(BaseModel):
    session_id: str
    migrations: list[AuditRecord]


@app.put(
    f"{API_PREFIX}/sessions/<session_id>",
    responses=responses(200, "The stored position", 413, 415),
    **operation(
        Tag.SESSIONS,
        "Report a session's position",
        "The runtime reports where a conversation is (scenario version, step, channel, visited steps, "
        "variables); the steps must be in that version (400 otherwise).",
    ),
    **requires(Role.RUNTIME),
)
def put_session(session_id: SessionId, body: SessionReport, caller: CurrentCaller) -> SessionView:
    return sessions.report(caller.tenant, session_id, body)


@app.get(
    f"{API_PREFIX}/sessions/<session_id>",
    responses=responses(200, "The session", 404),
    **operation(Tag.SESSIONS, "Read a session", "A session's position, variables and migration marker."),
    **requires(Role.VIEWER),
)
def get_session(session_id: SessionId, caller: CurrentCaller) -> SessionView:
    return sessions.get(caller.tenant, session_id)


@app.get(
    f"{API_PREFIX}/sessions/<session_id>/migrations",
    responses=responses(200, "Its audit trail", 404),
    **operation(Tag.SESSIONS, "Read a session's migrations", "The session's JIT migrations, oldest first."),
    **requires(Role.VIEWER),
)
def get_migrations(session_id: SessionId, caller: CurrentCaller) -> MigrationHistory:
    return MigrationHistory(session_id=session_id, migrations=sessions.migrations(caller.tenant, session_id))


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
