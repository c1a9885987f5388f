"""What a JIT decision writes (pure): the session after it, its marker, the plans' counter moves,
the waiting list and the audit record. One transaction writes all of it (services/jit.py).

Counters stay exact across plans: a session whose open marker belongs to an older plan (asked
under plan 1, answering after plan 2 made a newer version active) is settled under plan 2, and
plan 1's counters are settled in the same write.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from scenario_migration.clock import isoformat
from scenario_migration.domain.decision import Decision
from scenario_migration.domain.deployment import CounterMove
from scenario_migration.domain.session import (
    AuditRecord,
    LastResult,
    Marker,
    MarkerState,
    Outcome,
    Session,
)

_STATE = {
    Outcome.MIGRATED: MarkerState.APPLIED,
    Outcome.NEEDS_INPUT: MarkerState.AWAITING_INPUT,
    Outcome.BLOCKED: MarkerState.BLOCKED,
    Outcome.KEPT: MarkerState.KEPT,
}


class Waiting(Enum):
    """A change to a plan's list of sessions waiting on the customer."""

    ADD = "add"
    ADD_MARKED = "add_marked"  # waiting, and marked by the fan-out
    REMOVE = "remove"


@dataclass(frozen=True)
class Target:
    """Where the decision was taken: the plan, and the version it migrates to."""

    plan_id: str
    to_version: int


@dataclass
class Settlement:
    session: Session
    moves: dict[str, CounterMove] = field(default_factory=dict)  # plan id -> its counters' move
    waiting: dict[str, Waiting] = field(default_factory=dict)  # plan id -> change
    audit: AuditRecord | None = None


def settle(
    session: Session,
    target: Target,
    decision: Decision,
    now: datetime,
    *,
    request_id: str | None,
    turn_key: str,
    response: str,
    audit_days: int,
) -> Settlement:
    """`request_id` is the caller's (recorded in the audit); `turn_key` names the answer in the
    session (the request_id, or the invocation's own key: services/jit.py)."""
    stamp = isoformat(now)
    result = Settlement(session=session)
    _settle_older_plan(session, target.plan_id, result)
    _settle_this_plan(session, target.plan_id, decision, stamp, result)
    marker = _marker_after(session, target, decision, stamp)
    last = LastResult(key=turn_key, at=stamp, response=response)
    after = session.model_copy(update={"marker": marker, "last_result": last})
    if decision.outcome is Outcome.MIGRATED:
        after = _moved(after, target, decision, now)
    result.session = after
    if decision.outcome is not Outcome.NEEDS_INPUT:
        result.audit = _audit(
            session, target, decision, stamp, request_id=request_id, expires=now + timedelta(days=audit_days)
        )
    return result


def settle_moot(session: Session, now: datetime) -> Settlement:
    """An open marker on a session that reached the active version by itself (the runtime
    reported it there): nothing to migrate, but its plan's counters wait for the marker to
    settle. It is settled as applied, without an audit record."""
    marker = session.marker
    assert marker is not None and marker.state.open
    result = Settlement(session=session)
    adds = {"marked_resolved": 1} if marker.by_fanout else {}
    if marker.state is MarkerState.AWAITING_INPUT:
        adds["sessions_awaiting_input"] = -1
        result.waiting[marker.plan_id] = Waiting.REMOVE
    if adds:
        result.moves[marker.plan_id] = CounterMove(adds)
    settled = marker.model_copy(
        update={"state": MarkerState.APPLIED, "input": None, "resolved_at": isoformat(now)}
    )
    result.session = session.model_copy(update={"marker": settled})
    return result


def _settle_older_plan(session: Session, plan_id: str, result: Settlement) -> None:
    before = session.marker
    if before is None or before.plan_id == plan_id or not before.state.open:
        return
    adds = {"marked_resolved": 1} if before.by_fanout else {}
    if before.state is MarkerState.AWAITING_INPUT:
        adds["sessions_awaiting_input"] = -1
        result.waiting[before.plan_id] = Waiting.REMOVE
    if adds:
        result.moves[before.plan_id] = CounterMove(adds)


def _settle_this_plan(
    session: Session, plan_id: str, decision: Decision, stamp: str, result: Settlement
) -> None:
    mine = session.marker_of(plan_id)
    was_waiting = mine is not None and mine.state is MarkerState.AWAITING_INPUT
    adds: dict[str, int] = {}
    if decision.condition_failure is not None:
        adds["condition_errors"] = 1
    if decision.outcome is Outcome.NEEDS_INPUT:
        if not was_waiting:
            adds["sessions_awaiting_input"] = 1
            result.waiting[plan_id] = Waiting.ADD_MARKED if mine and mine.by_fanout else Waiting.ADD
    elif decision.final:
        if was_waiting:
            adds["sessions_awaiting_input"] = -1
            result.waiting[plan_id] = Waiting.REMOVE
        if mine is not None and mine.by_fanout and mine.state.open:
            adds["marked_resolved"] = 1
        adds |= _outcome_counts(decision)
    last = stamp if decision.outcome is Outcome.MIGRATED else None
    move = CounterMove(adds, last)
    if move:
        result.moves[plan_id] = move


def _outcome_counts(decision: Decision) -> dict[str, int]:
    if decision.outcome is Outcome.MIGRATED:
        scenario = decision.migration_scenario.value if decision.migration_scenario else "clean_graft"
        return {"migrations_applied": 1, f"migrated_{scenario}": 1}
    return {"checkpoint_blocks": 1} if decision.outcome is Outcome.BLOCKED else {"sessions_kept": 1}


def _marker_after(session: Session, target: Target, decision: Decision, stamp: str) -> Marker:
    mine = session.marker_of(target.plan_id)
    state = _STATE[decision.outcome]
    if not decision.final:  # tried again on the next message: the marker stays open
        state = mine.state if mine and mine.state.open else MarkerState.PENDING
    base = mine or Marker(
        plan_id=target.plan_id,
        from_version=session.scenario_version,
        target_version=target.to_version,
        state=state,
    )
    open_after = state.open
    return base.model_copy(
        update={
            "anchor": decision.anchor,
            "from_version": session.scenario_version,
            "target_version": target.to_version,
            "state": state,
            "input": decision.pending if open_after else None,
            "resolved_at": None if open_after else stamp,
            "migration_scenario": decision.migration_scenario,
        }
    )


def _moved(session: Session, target: Target, decision: Decision, now: datetime) -> Session:
    position = decision.position_after
    assert position is not None and decision.to_step_id  # set on every migration (domain/jit.py)
    return session.model_copy(
        update={
            "scenario_version": target.to_version,
            "current_step_id": decision.to_step_id,
            "step_hash": position.step_hash,
            "visited_step_ids": decision.visited_after,
            "checkpoints_passed": position.checkpoints_passed,
            "variables": session.variables
            | {name: filled.value for name, filled in decision.filled_fields.items()},
            "updated_at": now,
        }
    )


def _audit(
    session: Session,
    target: Target,
    decision: Decision,
    stamp: str,
    *,
    request_id: str | None,
    expires: datetime,
) -> AuditRecord:
    return AuditRecord(
        at=stamp,
        session_id=session.session_id,
        plan_id=target.plan_id,
        scenario_id=session.scenario_id,
        anchor=decision.anchor,
        outcome=decision.outcome,
        migration_scenario=decision.migration_scenario,
        from_version=session.scenario_version,
        to_version=target.to_version,
        from_step_id=session.current_step_id,
        to_step_id=decision.to_step_id,
        filled_fields=decision.filled_fields,
        blocked=decision.outcome is Outcome.BLOCKED,
        reason=decision.reason,
        request_key=request_id,
        expires_at=int(expires.timestamp()),
    )
