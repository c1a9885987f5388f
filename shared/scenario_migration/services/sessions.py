"""The runtime's side: position reports and reads of a session and its migration history."""

import json
from datetime import timedelta

from scenario_migration.clock import isoformat, utcnow
from scenario_migration.config import get_settings
from scenario_migration.domain.session import (
    AuditRecord,
    SessionReport,
    SessionView,
    unknown_steps,
)
from scenario_migration.errors import InvalidInput, NotFound
from scenario_migration.services import scenarios
from scenario_migration.store import sessions as store


def report(tenant: str, session_id: str, body: SessionReport) -> SessionView:
    """Store the position; the step hash, checkpoints passed and index keys are derived here."""
    try:
        graph = scenarios.load_graph(tenant, body.scenario_id, body.scenario_version)
    except NotFound:
        raise InvalidInput(
            f"scenario '{body.scenario_id}' has no version {body.scenario_version}",
            [{"location": "scenario_version", "message": "unknown scenario version"}],
        ) from None
    problems = unknown_steps(body, graph.scenario)
    if problems:
        raise InvalidInput(f"the steps reported are not in version {body.scenario_version}", problems)
    now = utcnow()
    place = graph.position(body.visited_step_ids, body.current_step_id)
    position = {
        "tenant_id": tenant,
        "session_id": session_id,
        "scenario_id": body.scenario_id,
        "scenario_version": body.scenario_version,
        "current_step_id": body.current_step_id,
        "step_hash": place.step_hash,
        "channel": body.channel,
        "customer_id": body.customer_id,
        "visited_step_ids": body.visited_step_ids,
        "checkpoints_passed": place.checkpoints_passed,
        "variables_json": json.dumps(body.variables),
        "status": body.status.value,
        "created_at": isoformat(body.created_at) if body.created_at else None,
        "last_activity_at": isoformat(body.last_activity_at) if body.last_activity_at else isoformat(now),
        "updated_at": isoformat(now),
    }
    expires = now + timedelta(days=get_settings().retention.closed_session_days)
    stored = store.put_position(tenant, session_id, position, body.status.live, int(expires.timestamp()))
    return stored.view()


def get(tenant: str, session_id: str) -> SessionView:
    session = store.get(tenant, session_id)
    if session is None:
        raise NotFound(f"session '{session_id}' not found")
    return session.view()


def migrations(tenant: str, session_id: str) -> list[AuditRecord]:
    get(tenant, session_id)  # 404 for an unknown (or another tenant's) session
    return store.list_migrations(tenant, session_id)
