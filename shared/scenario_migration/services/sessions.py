"""The runtime's side: position reports and reads of a session and its migration history."""

import json
from typing import Any

from scenario_migration.clock import isoformat, utcnow
from scenario_migration.domain.session import SessionReport, checkpoints_passed, unknown_steps
from scenario_migration.errors import InvalidInput, NotFound
from scenario_migration.services import scenarios
from scenario_migration.store import sessions as store


def report(tenant: str, session_id: str, body: SessionReport) -> dict[str, Any]:
    """Store the position; the step hash, checkpoints passed and index keys are derived here."""
    try:
        scenario = scenarios.load_version(tenant, body.scenario_id, body.scenario_version)
    except NotFound:
        raise InvalidInput(
            f"scenario '{body.scenario_id}' has no version {body.scenario_version}",
            [{"location": "scenario_version", "message": "unknown scenario version"}],
        ) from None
    problems = unknown_steps(body, scenario)
    if problems:
        raise InvalidInput(f"the steps reported are not in version {body.scenario_version}", problems)
    now = isoformat(utcnow())
    position = {
        "tenant_id": tenant,
        "session_id": session_id,
        "scenario_id": body.scenario_id,
        "scenario_version": body.scenario_version,
        "current_step_id": body.current_step_id,
        "step_hash": scenario.step_by_id[body.current_step_id].content_hash,
        "channel": body.channel,
        "customer_id": body.customer_id,
        "visited_step_ids": body.visited_step_ids,
        "checkpoints_passed": checkpoints_passed(body, scenario),
        "variables_json": json.dumps(body.variables),
        "status": body.status.value,
        "created_at": isoformat(body.created_at) if body.created_at else None,
        "last_activity_at": isoformat(body.last_activity_at) if body.last_activity_at else now,
        "updated_at": now,
    }
    return view(store.put_position(tenant, session_id, position, body.status.live))


def get(tenant: str, session_id: str) -> dict[str, Any]:
    item = store.get_session(tenant, session_id)
    if item is None:
        raise NotFound(f"session '{session_id}' not found")
    return view(item)


def migrations(tenant: str, session_id: str) -> list[dict[str, Any]]:
    get(tenant, session_id)  # 404 for an unknown (or another tenant's) session
    return [
        {
            **{k: v for k, v in record.items() if k not in ("pk", "sk")},
            "filled_fields": json.loads(record.get("filled_fields") or "{}"),
        }
        for record in store.list_migrations(tenant, session_id)
    ]


_INTERNAL = {"pk", "sk", "position_pk", "position_sk", "variables_json", "tenant_id", "last_result"}


def view(item: dict[str, Any]) -> dict[str, Any]:
    """The session as the API shows it: no storage keys, variables decoded."""
    shown = {k: v for k, v in item.items() if k not in _INTERNAL}
    shown["variables"] = json.loads(item.get("variables_json") or "{}")
    shown.setdefault("marker", None)
    return shown
