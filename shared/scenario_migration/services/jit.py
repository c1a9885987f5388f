"""JIT apply (SPEC 7): called on every customer message, so the common case is one read.

Fast path: read the session (one GetItem). Nothing pending and on the active version (cached
for ACTIVE_TTL seconds per container) -> `none`. A retried invocation (same request key within
RETRY_WINDOW) gets the stored answer from that same read.

Migration path: the ACTIVE item (which plan made the version active), the plan (status and
policies), then one transaction. Versions and transformation maps never change once written,
so they are cached per container. Concurrent invocations race on the session's revision:
exactly one transaction wins; the others re-read and return the winner's answer.
"""

import hashlib
import json
import time
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from scenario_migration.clock import isoformat, utcnow
from scenario_migration.config import get_settings
from scenario_migration.domain.extraction import Extractor, RuleExtractor
from scenario_migration.domain.graph import ScenarioGraph
from scenario_migration.domain.jit import Customer, Decision, PendingInput, SessionState, Situation, decide
from scenario_migration.domain.lifecycle import MigrationPlan, PlanStatus
from scenario_migration.domain.plan import TransformationMap
from scenario_migration.domain.planner import plan_migration
from scenario_migration.observability import logger
from scenario_migration.services import scenarios
from scenario_migration.store import plans as plan_store
from scenario_migration.store import scenarios as scenario_store
from scenario_migration.store import sessions as session_store

ACTIVE_TTL = 30.0
RETRY_WINDOW = timedelta(minutes=5)
MAX_RACES = 5
OPEN = {"pending", "awaiting_input"}
FINAL = {"blocked", "kept"}
_active_cache: dict[tuple[str, str], tuple[float, int | None]] = {}
_RULES = RuleExtractor()


def apply(request: dict[str, Any], extractor: Extractor | None = None) -> dict[str, Any]:
    tenant, session_id = request["tenant_id"], request["session_id"]
    key = request_key(request)
    for _ in range(MAX_RACES):
        session = session_store.get_session(tenant, session_id)
        retried = _retried_answer(session, key)
        if retried is not None:
            return retried
        if not _may_need_migration(tenant, session):
            return {"outcome": "none"}
        try:
            return _migrate(tenant, session, request, key, extractor or configured_extractor())
        except session_store.StaleSession:
            continue  # another invocation changed the session first: look again
    raise RuntimeError(f"session {session_id} kept changing under {MAX_RACES} attempts")


def configured_extractor() -> Extractor:
    """The extractor `gap_fill.extractor` selects. Bedrock's adapter is imported only when it is
    selected (cold start), and builds its client once per container, on first use."""
    gap = get_settings().gap_fill
    if gap.extractor == "bedrock":
        from scenario_migration.adapters.bedrock import extractor_for  # noqa: PLC0415

        return extractor_for(gap.bedrock_model_id)
    return _RULES


def request_key(request: dict[str, Any]) -> str:
    """Identifies one customer message: the runtime's request_id, else a hash of its content."""
    if request.get("request_id"):
        return str(request["request_id"])
    content = json.dumps([request.get("message"), request.get("conversation")], sort_keys=True, default=str)
    return hashlib.sha256(content.encode()).hexdigest()[:32]


def _retried_answer(session: dict[str, Any] | None, key: str) -> dict[str, Any] | None:
    last = (session or {}).get("last_result") or {}
    if last.get("key") != key:
        return None
    at = datetime.fromisoformat(last["at"].replace("Z", "+00:00"))
    return json.loads(last["response"]) if utcnow() - at <= RETRY_WINDOW else None


def _may_need_migration(tenant: str, session: dict[str, Any] | None) -> bool:
    if session is None or session.get("status") == "closed" or not get_settings().enabled:
        return False
    marker = session.get("marker") or {}
    if marker.get("state") in OPEN:
        return True
    if marker.get("state") in FINAL and marker.get("from_version") == session["scenario_version"]:
        return False  # blocked or kept: final for this session
    return _cached_active_version(tenant, session["scenario_id"]) not in (None, session["scenario_version"])


def _cached_active_version(tenant: str, scenario_id: str) -> int | None:
    now = time.monotonic()
    cached = _active_cache.get((tenant, scenario_id))
    if cached and now - cached[0] < ACTIVE_TTL:
        return cached[1]
    version = scenario_store.get_active_version(tenant, scenario_id)
    _active_cache[(tenant, scenario_id)] = (now, version)
    return version


# -- the migration path --------------------------------------------------------------------------


def _migrate(
    tenant: str, session: dict[str, Any], request: dict[str, Any], key: str, extractor: Extractor
) -> dict[str, Any]:
    active = scenario_store.get_active(tenant, session["scenario_id"]) or {}
    _active_cache[(tenant, session["scenario_id"])] = (time.monotonic(), active.get("active_version"))
    plan_id = active.get("plan_id")
    if active.get("active_version") == session["scenario_version"] or not plan_id:
        return {"outcome": "none"}
    plan = plan_store.get_plan(tenant, plan_id)
    if plan.status not in (PlanStatus.DEPLOYING, PlanStatus.DEPLOYED):
        return {"outcome": "none"}
    situation = _situation(tenant, session, request, plan)
    decision = decide(situation, extractor)
    response = _response(session, plan, decision)
    _record(tenant, session, plan, decision, response=response, key=key)
    _log(tenant, session, plan, decision)
    return response


def _situation(
    tenant: str, session: dict[str, Any], request: dict[str, Any], plan: MigrationPlan
) -> Situation:
    settings = get_settings()
    from_version = session["scenario_version"]
    tmap = _transformation_map(tenant, plan.scenario_id, from_version, plan)
    anchor_key = next(
        (a.anchor_content_hash for a in tmap.anchors if a.from_step_id == session["current_step_id"]), None
    )
    return Situation(
        old=_graph(tenant, plan.scenario_id, from_version),
        new=_graph(tenant, plan.scenario_id, plan.to_version),
        tmap=tmap,
        session=SessionState(
            current_step_id=session["current_step_id"],
            visited_step_ids=session.get("visited_step_ids") or [],
            variables=json.loads(session.get("variables_json") or "{}"),
            checkpoints_passed=session.get("checkpoints_passed") or [],
            channel=session.get("channel"),
            created_at=datetime.fromisoformat(session["created_at"].replace("Z", "+00:00")),
        ),
        policy=plan.policies.get(anchor_key) if anchor_key else None,
        pending=PendingInput.from_marker(session.get("marker")),
        customer=Customer(
            message=request.get("message"),
            conversation=customer_turns(request.get("conversation")),
            profile=request.get("profile") or {},
        ),
        settings=settings,
        now=utcnow(),
        max_reasks=settings.gap_fill.max_reasks,
    )


def customer_turns(conversation: Any) -> list[str]:
    """The customer's turns, oldest first: plain strings, or {role, text|content} with the role
    of the customer (user/customer)."""
    turns = []
    for turn in conversation or []:
        if isinstance(turn, str):
            turns.append(turn)
        elif isinstance(turn, dict) and turn.get("role", "customer") in ("customer", "user"):
            text = turn.get("text") or turn.get("content")
            if isinstance(text, str):
                turns.append(text)
    return turns


@lru_cache(maxsize=16)
def _graph(tenant: str, scenario_id: str, version: int) -> ScenarioGraph:
    return ScenarioGraph(scenarios.load_version(tenant, scenario_id, version))


def _transformation_map(
    tenant: str, scenario_id: str, from_version: int, plan: MigrationPlan
) -> TransformationMap:
    if from_version == plan.from_version:
        return _stored_map(tenant, plan.id)
    return _computed_map(tenant, scenario_id, from_version, plan.to_version)


@lru_cache(maxsize=16)
def _stored_map(tenant: str, plan_id: str) -> TransformationMap:
    tmap = plan_store.get_plan(tenant, plan_id, with_map=True).transformation_map
    assert tmap is not None
    return tmap


@lru_cache(maxsize=16)
def _computed_map(tenant: str, scenario_id: str, from_version: int, to_version: int) -> TransformationMap:
    """Several versions behind: diff the session's version straight against the active one."""
    old = scenarios.load_version(tenant, scenario_id, from_version)
    new = scenarios.load_version(tenant, scenario_id, to_version)
    return plan_migration(old, new).transformation_map


# -- answer and record -----------------------------------------------------------------------------


def _response(session: dict[str, Any], plan: MigrationPlan, d: Decision) -> dict[str, Any]:
    migrated = d.outcome == "migrated"
    return {
        "outcome": d.outcome,
        "migration_scenario": d.migration_scenario.value if d.migration_scenario else None,
        "plan_id": plan.id,
        "from_version": session["scenario_version"],
        "to_version": plan.to_version,
        "from_step_id": session["current_step_id"],
        "to_step_id": d.to_step_id if migrated else None,
        "filled_fields": d.filled_fields,
        "questions": d.questions,
        "message": d.message,
        "reason": d.reason,
        "session": {
            "scenario_id": session["scenario_id"],
            "scenario_version": plan.to_version if migrated else session["scenario_version"],
            "current_step_id": d.to_step_id if migrated else session["current_step_id"],
        },
    }


def _record(
    tenant: str, session: dict[str, Any], plan: MigrationPlan, d: Decision, *, response: dict, key: str
) -> None:
    now = isoformat(utcnow())
    marker = dict(session.get("marker") or {})
    was_marked = marker.get("plan_id") == plan.id and "page_id" in marker and marker.get("state") in OPEN
    was_waiting = marker.get("state") == "awaiting_input"
    changes = _session_changes(session, plan, d)
    changes["marker"] = _new_marker(marker, plan, session, d, now)
    changes["last_result"] = {"key": key, "at": now, "response": json.dumps(response)}
    counters = _counter_moves(d, was_marked, was_waiting, now)
    audit = None if d.outcome == "needs_input" else _audit(session, plan, d, now, key)
    session_store.write_outcome(tenant, session, changes, (plan.id, *counters) if counters else None, audit)


def _session_changes(session: dict[str, Any], plan: MigrationPlan, d: Decision) -> dict[str, Any]:
    if d.outcome != "migrated":
        return {}
    new = _graph(session["tenant_id"], plan.scenario_id, plan.to_version)
    step = new.step(new.index[d.to_step_id])
    variables = json.loads(session.get("variables_json") or "{}")
    variables |= {name: filled["value"] for name, filled in d.filled_fields.items()}
    tmap = _transformation_map(session["tenant_id"], plan.scenario_id, session["scenario_version"], plan)
    by_old = {a.from_step_id: a.to_step_id for a in tmap.anchors}
    visited = [
        by_old[s]
        for s in [*(session.get("visited_step_ids") or []), session["current_step_id"]]
        if s in by_old
    ]
    return {
        "scenario_version": plan.to_version,
        "current_step_id": d.to_step_id,
        "step_hash": step.content_hash,
        "visited_step_ids": visited,
        "variables_json": json.dumps(variables),
        "updated_at": isoformat(utcnow()),
        "live": session.get("status") != "closed",
    }


def _new_marker(
    marker: dict[str, Any], plan: MigrationPlan, session: dict[str, Any], d: Decision, now: str
) -> dict[str, Any]:
    state = {"migrated": "applied", "needs_input": "awaiting_input"}.get(d.outcome, d.outcome)
    base = marker if marker.get("plan_id") == plan.id else {}
    return {
        **base,
        "plan_id": plan.id,
        "anchor": d.anchor,
        "from_version": session["scenario_version"],
        "target_version": plan.to_version,
        "state": state,
        "input": d.pending.as_dict() if d.pending else None,
        "resolved_at": None if d.outcome == "needs_input" else now,
        "migration_scenario": d.migration_scenario.value if d.migration_scenario else None,
    }


def _counter_moves(d: Decision, was_marked: bool, was_waiting: bool, now: str) -> tuple[dict, dict] | None:
    adds: dict[str, int] = {}
    sets: dict[str, Any] = {}
    if d.outcome == "needs_input":
        if not was_waiting:
            adds["sessions_awaiting_input"] = 1
        return (adds, sets) if adds else None
    if was_waiting:
        adds["sessions_awaiting_input"] = -1
    if was_marked:
        adds["marked_resolved"] = 1
    if d.outcome == "migrated":
        adds["migrations_applied"] = 1
        adds[f"migrated_{d.migration_scenario.value if d.migration_scenario else 'clean_graft'}"] = 1
        sets["last_migration_at"] = now
    elif d.outcome == "blocked":
        adds["checkpoint_blocks"] = 1
    else:
        adds["sessions_kept"] = 1
    return adds, sets


def _audit(session: dict[str, Any], plan: MigrationPlan, d: Decision, now: str, key: str) -> dict[str, Any]:
    return {
        "at": now,
        "session_id": session["session_id"],
        "plan_id": plan.id,
        "scenario_id": plan.scenario_id,
        "anchor": d.anchor,
        "outcome": d.outcome,
        "migration_scenario": d.migration_scenario.value if d.migration_scenario else None,
        "from_version": session["scenario_version"],
        "to_version": plan.to_version,
        "from_step_id": session["current_step_id"],
        "to_step_id": d.to_step_id,
        "filled_fields": json.dumps(d.filled_fields),
        "blocked": d.outcome == "blocked",
        "reason": d.reason,
        "request_key": key,
    }


def _log(tenant: str, session: dict[str, Any], plan: MigrationPlan, d: Decision) -> None:
    extra = {
        "tenant_id": tenant,
        "session_id": session["session_id"],
        "plan_id": plan.id,
        "outcome": d.outcome,
    }
    if d.outcome == "blocked":
        logger.warning("teleport blocked by a checkpoint", extra={**extra, "reason": d.reason})
    else:
        logger.info("jit decision", extra={**extra, "reason": d.reason})
