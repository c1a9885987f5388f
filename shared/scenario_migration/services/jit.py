"""JIT apply (SPEC 7): called on every customer message, so the common case is one read.

Load, decide, write:
- load: the session (one GetItem). Nothing open and on the active version (cached for ACTIVE_TTL
  seconds per container, with whether the plan that made it active is still open) -> `none`.
  A retried invocation (same request_id within RETRY_WINDOW) gets the stored answer from that
  same read. Otherwise the ACTIVE item and the plan (two reads); versions, graphs and
  transformation maps never change once written, so they are cached per container;
- decide: the pure domain (domain/jit.py, domain/settlement.py);
- write: one transaction, conditional on the session's revision. Concurrent invocations race
  on it: exactly one wins; the others read again and decide again (a retry with the winner's
  request_id gets the winner's answer). Every write records the invocation's turn key (its
  request_id, or one made up for it) with its answer: when a write was applied but its response
  lost (a timeout, then botocore's retry refused by the revision it had just moved), the re-read
  finds the invocation's own answer and returns it, instead of deciding again on a session it
  already migrated.

A canary (domain/canary.py) below 100 % migrates only the sessions of its slice: the version
check admits no other (`Active.admits`, the test marking applies too), marked or not, however the
session reached the old version. `situation` builds what a decision reads for JIT and for the
dry run (services/simulate.py), so the two decide with the same code.
"""

from __future__ import annotations  # annotations name the lazy modules' types without loading them

import json
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import cache, lru_cache
from typing import Any

from scenario_migration import lazy
from scenario_migration.clock import parse_timestamp, utcnow
from scenario_migration.config import get_settings
from scenario_migration.domain import canary
from scenario_migration.domain.canary import FULL
from scenario_migration.domain.decision import Decision
from scenario_migration.domain.session import Outcome, Session
from scenario_migration.domain.settlement import Settlement, Target, Waiting, settle, settle_moot
from scenario_migration.observability import logger, record_jit_outcome
from scenario_migration.store import scenarios as scenario_store
from scenario_migration.store import sessions as session_store

# Cold start (issue 12): the fast path reads the session and a cached ACTIVE item and needs none
# of what follows: the decision machinery (about half the handler's import: extraction and its
# tables, replay, planning), the plan models and the stores of plans and counters. They load on
# the first migration (lazy.py), or at init under SnapStart (`load_migration_path`, the handler's
# priming).
decisions = lazy.module("scenario_migration.domain.jit")
extraction = lazy.module("scenario_migration.domain.extraction")
graphs = lazy.module("scenario_migration.domain.graph")
lifecycle = lazy.module("scenario_migration.domain.lifecycle")
plan_models = lazy.module("scenario_migration.domain.plan")
planning = lazy.module("scenario_migration.domain.planning")
scenarios = lazy.module("scenario_migration.services.scenarios")
deployment_store = lazy.module("scenario_migration.store.deployments")
plan_store = lazy.module("scenario_migration.store.plans")
bedrock = lazy.module("scenario_migration.adapters.bedrock")  # only when gap_fill.extractor selects it
MIGRATION_PATH = (
    decisions,
    extraction,
    graphs,
    lifecycle,
    plan_models,
    planning,
    scenarios,
    deployment_store,
    plan_store,
)

ACTIVE_TTL = 30.0
RETRY_WINDOW = timedelta(minutes=5)
MAX_RACES = 5
NONE = {"outcome": Outcome.NONE.value}


@dataclass(frozen=True)
class Request:
    tenant_id: str
    session_id: str
    message: str | None
    conversation: list[str]  # the customer's turns, oldest first
    profile: dict[str, Any]
    request_id: str | None
    # What identifies this invocation's answer in the session (LastResult.key): its request_id,
    # else a key of its own, so that even without one a lost response is recognised (above).
    turn_key: str = field(default_factory=lambda: f"turn:{uuid.uuid4().hex}")

    def __post_init__(self) -> None:
        if self.request_id is not None:
            object.__setattr__(self, "turn_key", self.request_id)


@dataclass(frozen=True)
class Active:
    """A scenario's deployment as JIT sees it: the version sessions migrate to (the ACTIVE item's
    `target_version` during a canary that keeps new sessions on the old version, else its active
    version), the plan that made it so (open: still deploying or deployed; None: not read yet),
    and the canary's percent (100: every session)."""

    version: int
    plan_id: str | None
    plan_open: bool | None = None
    percent: int = FULL

    def admits(self, session: Session) -> bool:
        """Whether the deployment may migrate this session: it is not on the deployment's
        version, and its bucket is in the canary (the test marking applies too)."""
        if session.scenario_version == self.version:
            return False
        plan_id = self.plan_id or ""
        return canary.admits(session.tenant_id, plan_id, session.session_id, self.percent)


_active_cache: dict[tuple[str, str], tuple[float, Active | None]] = {}


def apply(request: Request, extractor: extraction.Extractor | None = None) -> dict[str, Any]:
    for _ in range(MAX_RACES):
        session = session_store.get(request.tenant_id, request.session_id)
        retried = _retried_answer(session, request.turn_key)
        if retried is not None:
            return retried
        if session is None or not _may_need_migration(session):
            return NONE
        try:
            return _migrate(session, request, extractor or configured_extractor())
        except session_store.StaleSession:
            continue  # the session changed first (another invocation, a marker): look again
    raise RuntimeError(f"session {request.session_id} kept changing under {MAX_RACES} attempts")


def configured_extractor() -> extraction.Extractor:
    """The extractor `gap_fill.extractor` selects. Bedrock's adapter is imported only when it is
    selected (cold start), and builds its client once per container, on first use."""
    gap = get_settings().gap_fill
    if gap.extractor == "bedrock":
        return bedrock.extractor_for(gap.bedrock_model_id)
    return _rules()


@cache
def _rules() -> extraction.Extractor:
    return extraction.RuleExtractor()


@cache
def _open_plans() -> tuple[lifecycle.PlanStatus, ...]:
    return (lifecycle.PlanStatus.DEPLOYING, lifecycle.PlanStatus.DEPLOYED)


def load_migration_path() -> None:
    """Import the migration path's modules now: SnapStart's priming puts them in the snapshot."""
    for module in MIGRATION_PATH:
        lazy.load(module)


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


def _retried_answer(session: Session | None, turn_key: str) -> dict[str, Any] | None:
    """The answer already written for this turn: a retry with the same request_id, or this very
    invocation's write whose response was lost. Without a request_id every invocation is a new turn."""
    last = session.last_result if session else None
    if last is None or last.key != turn_key:
        return None
    return json.loads(last.response) if utcnow() - parse_timestamp(last.at) <= RETRY_WINDOW else None


# -- the fast path -------------------------------------------------------------------------------------


def _may_need_migration(session: Session) -> bool:
    if not session.live or not get_settings().enabled or settled_for_good(session):
        return False
    active = _cached_active(session.tenant_id, session.scenario_id)
    if active is None:
        return False
    marker = session.marker
    if marker is not None and marker.state.open:  # to continue, or to settle under a newer plan
        return not (active.plan_id == marker.plan_id and active.plan_open is False)
    return active.plan_open is not False and active.admits(session)


def settled_for_good(session: Session) -> bool:
    """Blocked, kept or unmarked: final for this session on this version (no plan migrates it)."""
    marker = session.marker
    return marker is not None and not marker.state.open and marker.from_version == session.scenario_version


def _cached_active(tenant: str, scenario_id: str) -> Active | None:
    now = time.monotonic()
    cached = _active_cache.get((tenant, scenario_id))
    if cached and now - cached[0] < ACTIVE_TTL:
        return cached[1]
    return _read_active(tenant, scenario_id)


def _read_active(tenant: str, scenario_id: str, plan_open: bool | None = None) -> Active | None:
    item = scenario_store.get_active(tenant, scenario_id)
    active = None
    if item:
        version = item.get("target_version", item["active_version"])
        percent = item.get("canary_percent", FULL)
        active = Active(version, item.get("plan_id"), plan_open, percent)
    _active_cache[(tenant, scenario_id)] = (time.monotonic(), active)
    return active


def read_active(tenant: str, scenario_id: str) -> Active | None:
    """The scenario's deployment, read now (simulate asks what JIT would do at this moment)."""
    return _read_active(tenant, scenario_id)


# -- load, decide, write ---------------------------------------------------------------------------------


def _migrate(session: Session, request: Request, extractor: extraction.Extractor) -> dict[str, Any]:
    tenant = session.tenant_id
    active = _read_active(tenant, session.scenario_id)
    if active is None or active.plan_id is None:
        return NONE
    plan = plan_store.get_plan(tenant, active.plan_id)
    plan_open = plan.status in _open_plans()
    active = replace(active, plan_open=plan_open)
    _active_cache[(tenant, session.scenario_id)] = (time.monotonic(), active)
    if not plan_open:
        return NONE
    if active.version == session.scenario_version:
        if session.marker is not None and session.marker.state.open:
            _write(tenant, session, settle_moot(session, utcnow()))
        return NONE
    if not active.admits(session):
        return NONE  # outside the canary: its version check never migrates it
    customer = decisions.Customer(
        message=request.message, conversation=request.conversation, profile=request.profile
    )
    facts = situation(session, plan, customer)
    decision = decisions.decide(facts, extractor)
    response = _response(session, plan, decision)
    settlement = settle(
        session,
        Target(plan.id, plan.to_version),
        decision,
        facts.now,
        request_id=request.request_id,
        turn_key=request.turn_key,
        response=json.dumps(response),
        audit_days=get_settings().retention.audit_record_days,
    )
    _write(tenant, session, settlement)
    record_jit_outcome(decision)
    _log(session, plan, decision)
    return response


def situation(
    session: Session,
    plan: lifecycle.MigrationPlan,
    customer: decisions.Customer,
    new: graphs.ScenarioGraph | None = None,
) -> decisions.Situation:
    """Everything a decision for this session under this plan reads: the one place JIT and
    simulate build it. `new`: the plan's version when it is not published yet (a plan that was
    never deployed: simulate reads it from the plan); else the published version."""
    tenant, version = session.tenant_id, session.scenario_version
    old = scenarios.load_graph(tenant, plan.scenario_id, version)
    new = new or scenarios.load_graph(tenant, plan.scenario_id, plan.to_version)
    return decisions.Situation(
        old=old,
        new=new,
        tmap=_transformation_map(tenant, plan, old, new),
        session=session,
        plan=plan,
        customer=customer,
        settings=get_settings(),
        now=utcnow(),
    )


def _transformation_map(
    tenant: str, plan: lifecycle.MigrationPlan, old: graphs.ScenarioGraph, new: graphs.ScenarioGraph
) -> plan_models.TransformationMap:
    if old.scenario.version == plan.from_version:
        return _stored_map(tenant, plan.id)
    return _computed_map(tenant, plan.id, old, new)


@lru_cache(maxsize=16)
def _stored_map(tenant: str, plan_id: str) -> plan_models.TransformationMap:
    tmap = plan_store.get_plan(tenant, plan_id, with_map=True).transformation_map
    assert tmap is not None
    return tmap


_computed: dict[tuple[str, str, int], plan_models.TransformationMap] = {}


def _computed_map(
    tenant: str, plan_id: str, old: graphs.ScenarioGraph, new: graphs.ScenarioGraph
) -> plan_models.TransformationMap:
    """Several versions behind (or on the new version already): diff its version straight
    against the plan's. Kept per plan (the plan fixes the new version's content), 16 at most."""
    key = (tenant, plan_id, old.scenario.version)
    if key not in _computed:
        if len(_computed) >= 16:
            _computed.pop(next(iter(_computed)))
        _computed[key] = planning.plan_migration(old.scenario, new.scenario).transformation_map
    return _computed[key]


def _write(tenant: str, session: Session, settlement: Settlement) -> None:
    shards = get_settings().deployment.counter_shards
    extra = []
    for plan_id, move in settlement.moves.items():
        shard = deployment_store.counter_shard(session.session_id, shards)
        item = deployment_store.counter_item(tenant, plan_id, shard, move)
        if item is not None:
            extra.append(item)
    for plan_id, change in settlement.waiting.items():
        if change is Waiting.REMOVE:
            extra.append(deployment_store.waiting_delete_item(tenant, plan_id, session.session_id))
        else:
            marked = change is Waiting.ADD_MARKED
            extra.append(deployment_store.waiting_put_item(tenant, plan_id, session.session_id, marked))
    session_store.write_outcome(tenant, session, settlement.session, extra, settlement.audit)


def _response(session: Session, plan: lifecycle.MigrationPlan, d: Decision) -> dict[str, Any]:
    migrated = d.outcome is Outcome.MIGRATED
    return {
        "outcome": d.outcome.value,
        "migration_scenario": d.migration_scenario.value if d.migration_scenario else None,
        "plan_id": plan.id,
        "from_version": session.scenario_version,
        "to_version": plan.to_version,
        "from_step_id": session.current_step_id,
        "to_step_id": d.to_step_id if migrated else None,
        "filled_fields": {name: filled.model_dump(mode="json") for name, filled in d.filled_fields.items()},
        "questions": [q.model_dump() for q in d.questions],
        "message": d.message,
        "reason": d.reason,
        "session": {
            "scenario_id": session.scenario_id,
            "scenario_version": plan.to_version if migrated else session.scenario_version,
            "current_step_id": d.to_step_id if migrated else session.current_step_id,
        },
    }


def _log(session: Session, plan: lifecycle.MigrationPlan, d: Decision) -> None:
    extra = {
        "tenant_id": session.tenant_id,
        "session_id": session.session_id,
        "plan_id": plan.id,
        "outcome": d.outcome.value,
        "reason": d.reason,
    }
    if d.outcome is Outcome.BLOCKED:
        logger.warning("teleport blocked by a checkpoint", extra=extra)
    elif d.condition_failure is not None:
        logger.warning("a condition failed to evaluate", extra=extra)
    else:
        logger.info("jit decision", extra=extra)
