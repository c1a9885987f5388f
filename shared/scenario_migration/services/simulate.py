"""Dry run of a plan (issue 14): for chosen or sampled live sessions, the JIT decision as it would
be taken now, and what it adds up to. Writes nothing, anywhere.

The decision is JIT's own: the Situation comes from services/jit.situation (the one builder JIT
uses) and goes to domain.jit.decide; JIT's gates (closed, settled for good, already on the
version, outside the canary) are its own predicates too. What differs is the input, on purpose:
- the customer's turn is unknown (no message, no conversation, no profile: the service stores
  none), so extraction has nothing to read and every result says so in `inputs_missing`;
- a session waiting on its answer to a question is simulated as if that question had not been
  asked yet (its collected answers kept): an unknown next message is not an unusable reply, and
  the result names the question it is waiting on (`awaiting_answer`);
- a plan not deployed yet is simulated as if deployed now at 100 %, against its version read from
  the plan (nothing is published); a deploying or deployed plan as JIT sees it now (its canary,
  and `none` for every session if another plan has been deployed since).

Reads are bounded: the sessions by BatchGetItem (100 per request), a sample by windows of the
position index (domain/sampling.py), at most SAMPLE_ROUNDS x SAMPLE_WINDOWS windows of up to
three Queries each, and SWEEP_WINDOWS more once random windows find nobody new.
"""

import contextvars
import math
import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from scenario_migration.clock import isoformat, utcnow
from scenario_migration.config import get_settings
from scenario_migration.domain import canary
from scenario_migration.domain.decision import Decision
from scenario_migration.domain.graph import ScenarioGraph
from scenario_migration.domain.jit import Customer, decide
from scenario_migration.domain.lifecycle import MigrationPlan, PlanStatus
from scenario_migration.domain.plan import StepCensus, TransformationMap, census_by_step
from scenario_migration.domain.sampling import allocate, between
from scenario_migration.domain.scenario import Scenario
from scenario_migration.domain.session import Outcome, Session
from scenario_migration.errors import Conflict
from scenario_migration.services import jit
from scenario_migration.store import keys
from scenario_migration.store import plans as plan_store
from scenario_migration.store import sessions as session_store

MAX_SESSION_IDS = 100
MAX_SAMPLE = 1000
SAMPLE_WINDOWS = 40  # windows of the index per round
SAMPLE_ROUNDS = 3  # rounds: later ones only when earlier windows came back short
SWEEP_WINDOWS = 400  # the last resort's windows (`_sweep`)
READERS = 8  # windows read at once (each waits on the network)
HEAD = 20  # ids a window reads first: all of a small step, or the characters a big one's ids use
SIMULABLE = (PlanStatus.PENDING, PlanStatus.APPROVED, PlanStatus.DEPLOYING, PlanStatus.DEPLOYED)
UNKNOWN_TURN = Customer(message=None, conversation=[], profile={})
INPUTS_MISSING = ["conversation", "profile"]  # what the runtime sends with a message; never stored


@dataclass(frozen=True)
class Request:
    session_ids: list[str] | None = None
    sample: int | None = None
    seed: int | None = None  # a sample drawn again with the same seed is the same sample


@dataclass(frozen=True)
class _Deployment:
    """The plan as JIT would act for it now: its view of the scenario (None: another plan has
    been deployed since, JIT acts for that one) and the plan's version graph."""

    active: jit.Active | None
    new: ScenarioGraph | None


def simulate(tenant: str, plan_id: str, request: Request) -> dict[str, Any]:
    plan = plan_store.get_plan(tenant, plan_id, with_map=True)
    if plan.status not in SIMULABLE:
        raise Conflict(
            f"the plan is {plan.status.value}: only a pending, approved or open plan can be simulated",
            {"status": plan.status.value},
        )
    rng = random.Random(request.seed)
    ids = list(dict.fromkeys(request.session_ids or _sample(tenant, plan, request.sample or 0, rng)))
    sessions = session_store.get_many(tenant, ids)
    deployment = _deployment(tenant, plan)
    results = [_result(plan, deployment, sid, sessions.get(sid)) for sid in ids]
    return {
        "plan_id": plan.id,
        "status": plan.status.value,
        "simulated_at": isoformat(utcnow()),
        "mode": "session_ids" if request.session_ids else "sample",
        "requested": len(request.session_ids) if request.session_ids else request.sample,
        "canary_percent": deployment.active.percent if deployment.active else None,
        "results": results,
        "aggregate": _aggregate(plan, results),
    }


def _deployment(tenant: str, plan: MigrationPlan) -> _Deployment:
    if plan.status in (PlanStatus.PENDING, PlanStatus.APPROVED):
        hypothetical = jit.Active(plan.to_version, plan.id, plan_open=True)
        return _Deployment(hypothetical, _proposed_graph(tenant, plan.id))
    active = jit.read_active(tenant, plan.scenario_id)
    if active is None or active.plan_id != plan.id:
        return _Deployment(None, None)
    return _Deployment(jit.Active(active.version, plan.id, True, active.percent), None)


@lru_cache(maxsize=8)
def _proposed_graph(tenant: str, plan_id: str) -> ScenarioGraph:
    """A plan's version before it is published: the document the plan holds (immutable)."""
    item = plan_store.get_plan_item(tenant, plan_id)
    document = plan_store.get_new_scenario(tenant, plan_id, item["doc_parts"])
    return ScenarioGraph(Scenario.model_validate(document))


# -- one session ------------------------------------------------------------------------------------


def _result(plan: MigrationPlan, deployment: _Deployment, session_id: str, session: Session | None) -> dict:
    if session is None:
        return _untouched(session_id, Outcome.ERROR, "no such session (or another tenant's)")
    skipped = _left_alone(plan, deployment.active, session)
    if skipped is not None:
        return _untouched(session_id, Outcome.NONE, skipped) | {"from_version": session.scenario_version}
    asked = _waiting_on(session)
    situation = jit.situation(_unasked(session), plan, UNKNOWN_TURN, deployment.new)
    decision = decide(situation, jit.configured_extractor())
    return _shown(plan, session, situation.tmap, decision) | {
        "awaiting_answer": asked,
        "inputs_missing": [*INPUTS_MISSING, *(["message"] if asked else [])],
        "canary_bucket": canary.bucket(session.tenant_id, plan.id, session.session_id),
    }


def _left_alone(plan: MigrationPlan, active: jit.Active | None, session: Session) -> str | None:
    """Why JIT would answer `none` now (JIT's own gates, in its order), or None: it decides."""
    if active is None:
        return "another plan has been deployed since: JIT acts for that one"
    marker = session.marker
    gates = (
        (session.scenario_id != plan.scenario_id, f"the session follows scenario '{session.scenario_id}'"),
        (not session.live, "the session is closed"),
        (not get_settings().enabled, "scenario migration is disabled (scenario_migration.enabled = false)"),
        (jit.settled_for_good(session), f"settled for good on its version ({marker and marker.state.value})"),
        (session.scenario_version == active.version, "already on the plan's version"),
        (
            not active.admits(session),
            f"outside the canary ({active.percent} %): its version check leaves it on its version",
        ),
    )
    return next((reason for closed, reason in gates if closed), None)


def _waiting_on(session: Session) -> str | None:
    pending = session.marker.input if session.marker and session.marker.state.open else None
    if pending is None:
        return None
    return pending.confirming.field if pending.confirming else pending.asked


def _unasked(session: Session) -> Session:
    """The session as if its pending question had not been asked yet (answers kept)."""
    marker = session.marker
    if marker is None or marker.input is None or not (marker.input.asked or marker.input.confirming):
        return session
    pending = marker.input.model_copy(update={"asked": None, "confirming": None, "attempts": 0})
    return session.model_copy(update={"marker": marker.model_copy(update={"input": pending})})


def _untouched(session_id: str, outcome: Outcome, reason: str) -> dict[str, Any]:
    return {"session_id": session_id, "outcome": outcome.value, "reason": reason, "anchor": None}


def _shown(plan: MigrationPlan, session: Session, tmap: TransformationMap, d: Decision) -> dict[str, Any]:
    """A decision as the dry run shows it: JIT's answer fields, plus where a re-route goes and
    why, and which step a checkpoint keeps the customer from."""
    migrated = d.outcome is Outcome.MIGRATED
    names = {a.anchor_content_hash: a.anchor_name for a in tmap.anchors}
    re_routed = migrated and d.migration_scenario is not None and d.migration_scenario.value == "re_route"
    return {
        "session_id": session.session_id,
        "outcome": d.outcome.value,
        "migration_scenario": d.migration_scenario.value if d.migration_scenario else None,
        "reason": d.reason,
        "anchor": d.anchor,
        "anchor_name": names.get(d.anchor or ""),
        "from_version": session.scenario_version,
        "to_version": plan.to_version,
        "from_step_id": session.current_step_id,
        "to_step_id": d.to_step_id if migrated else None,
        "filled_fields": {name: f.model_dump(mode="json") for name, f in d.filled_fields.items()},
        "questions": [q.model_dump() for q in d.questions],
        "message": d.message,
        "re_route": {"to_step_id": d.to_step_id, "reason": d.reason} if re_routed else None,
        "checkpoint_block": (
            {"to_step_id": d.to_step_id, "reason": d.reason} if d.outcome is Outcome.BLOCKED else None
        ),
    }


# -- what it adds up to -----------------------------------------------------------------------------


def _aggregate(plan: MigrationPlan, results: list[dict[str, Any]]) -> dict[str, Any]:
    by_anchor: dict[str, dict[str, Any]] = {}
    questions: Counter[tuple[str, str]] = Counter()
    for result in results:
        for question in result.get("questions") or []:
            questions[(question["field"], question["text"])] += 1
        if result.get("anchor"):
            entry = by_anchor.setdefault(
                result["anchor"], {"anchor_name": result.get("anchor_name"), "sessions": 0, "by_outcome": {}}
            )
            entry["sessions"] += 1
            entry["by_outcome"][result["outcome"]] = entry["by_outcome"].get(result["outcome"], 0) + 1
    return {
        "sessions": len(results),
        "by_outcome": dict(Counter(r["outcome"] for r in results)),
        "by_migration_scenario": dict(
            Counter(r["migration_scenario"] for r in results if r.get("migration_scenario"))
        ),
        "by_anchor": by_anchor,
        "questions": [
            {"field": field, "text": text, "count": count} for (field, text), count in questions.most_common()
        ],
    }


# -- a random sample ------------------------------------------------------------------------------------


def _strata(plan: MigrationPlan) -> list[StepCensus]:
    """The steps whose sessions migrate, with their plan-time census."""
    assert plan.transformation_map is not None
    return [step for step in census_by_step(plan.transformation_map, plan.summary) if step.migrates]


def _sample(tenant: str, plan: MigrationPlan, size: int, rng: random.Random) -> list[str]:
    """Up to `size` live sessions at the plan's anchors, drawn by windows of the position index:
    steps get windows in proportion to the plan-time census, a step's windows go round its
    shards, each from a random point of the step's ids there. Further rounds only for what came
    back short, and only while they find sessions not seen yet; still short, a sweep (`_sweep`)."""
    strata, found = _strata(plan), dict[str, None]()
    for _ in range(SAMPLE_ROUNDS):
        missing = size - len(found)
        if missing <= 0 or not strata:
            break
        windows = min(missing, SAMPLE_WINDOWS)
        per_window = math.ceil(missing / windows)
        counts = allocate([s.sessions for s in strata], windows)
        jobs = [job for s, n in zip(strata, counts, strict=True) for job in _jobs(s, n, rng)]
        before = len(found)
        for ids in _read_windows(tenant, plan, jobs, per_window):
            found.update(dict.fromkeys(ids))
        if len(found) == before:
            break
    if len(found) < size:  # short: windows on empty shards, or everybody seen: look everywhere
        for ids in _read_windows(tenant, plan, _sweep(strata, rng), size - len(found)):
            found.update(dict.fromkeys(ids))
    chosen = list(found)
    rng.shuffle(chosen)
    return chosen[:size]


def _sweep(strata: list[StepCensus], rng: random.Random) -> list[tuple[StepCensus, int, float]]:
    """A window on every shard of every stratum with sessions, the heaviest strata first, at most
    SWEEP_WINDOWS: where random windows found nothing new (few sessions spread over shards, most
    of them empty), the sample takes who is there instead of stopping short."""
    heavy = sorted((s for s in strata if s.sessions), key=lambda s: -s.sessions)
    jobs = [(s, shard, rng.random()) for s in heavy for shard in range(keys.POSITION_SHARDS)]
    return jobs[:SWEEP_WINDOWS]


def _jobs(stratum: StepCensus, windows: int, rng: random.Random) -> list[tuple[StepCensus, int, float]]:
    """A stratum's windows over its shards in turn from a random one (8 windows or more cover
    every shard), each with a seed of its own for the random point."""
    first = rng.randrange(keys.POSITION_SHARDS)
    return [(stratum, (first + i) % keys.POSITION_SHARDS, rng.random()) for i in range(windows)]


def _read_windows(tenant: str, plan: MigrationPlan, jobs: list, per_window: int) -> list[list[str]]:
    """Read the windows READERS at a time, each in a copy of the caller's context (the request's
    identity, hence its tenant-scoped client, goes with it)."""

    def read(job: tuple[StepCensus, int, float]) -> list[str]:
        stratum, shard, seed = job
        partition = (plan.scenario_id, plan.from_version, shard)
        return _window(
            tenant, partition, (stratum.step_hash, stratum.step_id), per_window, random.Random(seed)
        )

    contexts = [contextvars.copy_context() for _ in jobs]
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        return list(pool.map(lambda pair: pair[0].run(read, pair[1]), zip(contexts, jobs, strict=True)))


def _window(
    tenant: str, partition: tuple[str, int, int], step: tuple[str, str], limit: int, rng: random.Random
) -> list[str]:
    """Up to `limit` sessions of one step in one shard from a random point of its ids (wrapping
    round to its first ids). The first Query reads at least HEAD ids: when that is all of them,
    `limit` of those at random; else they show which characters the ids use, the last id bounds
    the range, and a third Query reads the window."""
    want = max(limit, HEAD)
    head = session_store.step_window(tenant, partition, step, after="", limit=want + 1)
    if len(head) <= want:
        return rng.sample(head, min(limit, len(head)))
    last = session_store.step_window(tenant, partition, step, after="", limit=1, last=True)
    point = between(head[0], last[0], rng, alphabet="".join(head))
    ids = session_store.step_window(tenant, partition, step, after=point, limit=limit)
    return ids + [i for i in head if i < point][: limit - len(ids)]
