"""Deploy (publish + fan-out), the marking worker's steps, cancel, and deployment status (SPEC 6, 8).

Work is cut so that no invocation's cost grows with the number of sessions, and the number of
messages follows the live sessions, not the size of the scenario:
- a deployment's work units are (index shard) x (range of step hashes), sized by the plan-time
  census (domain/marking.py): 8 for a small deployment, up to 8 x `deployment.marking_ranges`
  for a big one; each walks the old version's position index over its key range, so a unit
  with nobody in it costs one empty Query, whatever the number of steps;
- each `mark` message handles one page (PAGE_SIZE sessions) of one unit and enqueues the next;
  the sessions of a page may sit on any steps: each is marked for the anchor its step resolves
  to (TransformationMap.anchor_for, the one resolution JIT uses), under that anchor's policy;
- after a cancel, `unmark` messages walk the page ledgers, LEDGERS_PER_UNMARK at a time, then
  `settle_waiting` messages settle the sessions waiting on the customer, WAITING_PER_MESSAGE at a
  time, with a last pass SETTLE_DELAY seconds later for JIT writes that were in flight.
Every message carries its tenant as MessageGroupId: on an SQS fair queue, one tenant's big
deployment does not hold back another tenant's messages (and the bounded number of units bounds
a deployment's backlog anyway).
"""

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from scenario_migration import identity
from scenario_migration.clock import isoformat, parse_timestamp, utcnow
from scenario_migration.config import get_settings
from scenario_migration.domain.canary import (
    FULL,
    CanarySlice,
    GuardFigures,
    NewSessions,
    bucket,
    in_slice,
    judge,
)
from scenario_migration.domain.deployment import (
    CanaryStatus,
    CancelStarted,
    CounterMove,
    Counters,
    DeploymentStatus,
    DeployStarted,
    FanoutProgress,
    SliceCounts,
    SliceStatus,
)
from scenario_migration.domain.lifecycle import (
    AnchorPolicy,
    MigrationPlan,
    OperatorAction,
    PlanHeader,
    PlanStatus,
    allowed_sources,
    check_transition,
)
from scenario_migration.domain.marking import MarkingLayout, Unit
from scenario_migration.domain.migration_scenario import MigrationScenario
from scenario_migration.domain.plan import TransformationMap, census_by_step
from scenario_migration.domain.session import Marker, MarkerState
from scenario_migration.errors import Conflict, InvalidInput, problem
from scenario_migration.observability import logger, record_canary_guard
from scenario_migration.store import deployments as store
from scenario_migration.store import keys, work_queue
from scenario_migration.store import plans as plan_store
from scenario_migration.store import scenarios as scenario_store
from scenario_migration.store import sessions as session_store
from scenario_migration.store.scenarios import VersionInfo

# Sessions per page: three marker transactions (bench/fanout.py: larger pages spread the page's
# fixed cost, a Query, a ledger Put and a commit, over more sessions; the ledger stays ~15 KB).
PAGE_SIZE = 3 * session_store.MARKS_PER_TRANSACTION
SESSIONS_PER_UNMARK = 1500  # sessions (five full pages; more pages when they are small) per message
LEDGERS_PER_READ = 25
WAITING_PER_MESSAGE = 100
SETTLE_DELAY = 15  # seconds: longer than a JIT invocation may take (its timeout is 10 s)
# Marker transactions of a page in flight at once (all of them; the client pools 10 connections).
MARK_CONCURRENCY = 3
OPEN_STATUSES = (PlanStatus.DEPLOYING, PlanStatus.DEPLOYED)
UNMARKED = (session_store.Written.DONE, session_store.Written.OURS)  # what an unmark write leaves unmarked
# A step whose first messages a status change starts: the status, and the step recorded after them.
STARTED_BY = {PlanStatus.DEPLOYING: store.Step.MARKING_SENT, PlanStatus.CANCELLED: store.Step.UNMARKING_SENT}


def layout_of(tenant: str, plan: PlanHeader) -> MarkingLayout:
    """The plan's work units, as its deploy laid them out (a plan deployed before layouts were
    stored: the uniform one of its first slice, `legacy_layout`)."""
    return plan.marking_layout or legacy_layout(tenant, plan.id, 0)


def legacy_layout(tenant: str, plan_id: str, slice_index: int) -> MarkingLayout:
    """The layout a release before sized layouts gave a slice: its units (as the counters hold
    them) in equal ranges over the shards, whatever `marking_ranges` says now."""
    units = (store.counters(tenant, plan_id) or Counters()).slice_units(slice_index)
    return MarkingLayout.uniform(keys.POSITION_SHARDS, max(1, units // keys.POSITION_SHARDS))


@lru_cache(maxsize=32)
def _transformation_map(tenant: str, plan_id: str) -> TransformationMap:
    """A plan's map never changes once written: read it once per container."""
    tmap = plan_store.get_plan(tenant, plan_id, with_map=True).transformation_map
    assert tmap is not None
    return tmap


def _shards() -> int:
    return get_settings().deployment.counter_shards


# -- deploy ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Canary:
    """What a deploy asks for (issue 14): the share of sessions to migrate first, and where new
    sessions start meanwhile ("v1": the plan's source version until widened to 100)."""

    percent: int = FULL
    new_sessions: NewSessions | None = None

    def new_sessions_version(self, plan: MigrationPlan) -> int:
        keep_old = self.percent < FULL and self.new_sessions != "v2"
        return plan.from_version if keep_old else plan.to_version


def deploy(tenant: str, plan_id: str, canary: Canary | None = None) -> DeployStarted:
    """Make the plan's version active (for new sessions too, unless a canary keeps them on the
    old one) and send the first page of every work unit of the first slice. A deploy whose
    status change was applied but whose first pages were not all sent (it crashed, timed out or
    lost its answer: `cut_short`) is carried on by the next deploy call instead of refused."""
    settings = get_settings()
    if not settings.enabled:
        raise Conflict("scenario migration is disabled (scenario_migration.enabled = false)")
    canary = canary or Canary()
    if canary.percent >= FULL and canary.new_sessions == "v1":
        raise InvalidInput(
            "new_sessions 'v1' needs a canary below 100 %: "
            "a full deployment starts new sessions on its version",
            [problem("new_sessions", "only with canary_percent below 100")],
        )
    plan = plan_store.get_plan(tenant, plan_id)
    if not cut_short(tenant, plan, PlanStatus.DEPLOYING):
        _begin(tenant, plan, canary)
        plan = plan_store.get_plan(tenant, plan_id)
    units = _send_first_slice(tenant, plan)
    auto_mark = settings.deployment.auto_mark_sessions
    to_mark = sessions_to_mark(plan) if auto_mark else Counter()
    counts = store.counters(tenant, plan_id) or Counters()
    logger.info(
        "plan deployed",
        extra={"tenant_id": tenant, "plan_id": plan_id, "work_units": units, "canary_percent": plan.percent},
    )
    return DeployStarted(
        plan_id=plan_id,
        status=plan_store.get_plan(tenant, plan_id).status.value,
        sessions_to_mark=to_mark.total(),
        sessions_by_anchor=dict(sorted(to_mark.items())),
        sessions_marked=counts.sessions_marked,
        deployed_at=isoformat(plan.deployed_at or utcnow()),
        work_units=units,
        auto_mark_sessions=auto_mark,
        canary_percent=plan.percent,
        new_sessions_version=_new_sessions_version(plan),
    )


def _send_first_slice(tenant: str, plan: MigrationPlan) -> int:
    """After the status change: supersede the scenario's other pending plans, send the first page
    of each of the first slice's units, record that they were sent (MARKING_SENT). What a deploy
    cut short left undone, the next deploy or widening sends (again: each message is idempotent).
    Returns the slice's units."""
    units = (store.counters(tenant, plan.id) or Counters()).slice_units(0)
    _supersede_others(tenant, plan)
    _start_marking(tenant, plan, 0, units)
    store.record_step(tenant, plan.id, store.Step.MARKING_SENT)
    return units


def sessions_to_mark(plan: MigrationPlan) -> Counter[str]:
    """Live sessions of the old version that marking would mark now in the first slice, per
    anchor: each counted under the anchor its step resolves to, if it is in the slice and that
    anchor's policy admits it (the rules marking applies, `_claim`). A census of the position
    index, as planning takes one, after the deploy's transaction: a slow one (millions of
    sessions) costs the answer, never the deployment."""
    now, bounds = utcnow(), plan.slice_bounds(0)

    def anchor_marking(entry: dict[str, Any]) -> str | None:
        return _marked_anchor(plan, bounds, entry, now)

    return session_store.census(plan.tenant_id, plan.scenario_id, plan.from_version, anchor_marking)


def _marked_anchor(
    plan: MigrationPlan, bounds: tuple[int, int], entry: dict[str, Any], now: datetime
) -> str | None:
    """The anchor a live session (an index entry) is marked for in the slice `bounds`: the one
    its step resolves to, if it is in the slice and that anchor's policy admits it; else None."""
    if not in_slice(bucket(plan.tenant_id, plan.id, entry["session_id"]), *bounds):
        return None  # another slice's (or not in the canary yet)
    anchor = _transformation_map(plan.tenant_id, plan.id).anchor_for(entry["step_id"])
    if anchor is None or not _admits(plan.policy_for(anchor.anchor_content_hash), entry, now):
        return None
    return anchor.anchor_content_hash


def planned_layout(plan: MigrationPlan) -> MarkingLayout:
    """Work units sized by the plan-time census (domain/marking.py), with no read of the index:
    the layout goes into the deploy's transaction, which nothing slow may precede. A population
    that grew much since planning marks in longer chains, never misses anybody."""
    by_digit: Counter[str] = Counter()
    for step in census_by_step(_transformation_map(plan.tenant_id, plan.id), plan.summary):
        by_digit[step.step_hash[:1]] += step.sessions
    deployment = get_settings().deployment
    return MarkingLayout.spread(
        by_digit,
        shards=keys.POSITION_SHARDS,
        max_ranges=deployment.marking_ranges,
        unit_sessions=deployment.unit_sessions,
    )


def _begin(tenant: str, plan: MigrationPlan, canary: Canary) -> None:
    """Publish the plan's version, then one transaction: the plan becomes `deploying` (with its
    canary and work units), the version active, the counters start. Refused (409) unless the
    plan may be deployed, except when the refusal is this very deploy's own transaction, applied
    once already and retried by botocore after its answer was lost (where the emulator ignores
    the idempotency token)."""
    deployment = get_settings().deployment
    check_transition(plan.status, PlanStatus.DEPLOYING, require_approval=deployment.require_approval)
    if plan.summary.has_critical and plan.status is not PlanStatus.APPROVED:
        raise Conflict("the plan has critical warnings: approve it, acknowledging them, to deploy it")
    _publish_version(tenant, plan)
    layout = planned_layout(plan) if deployment.auto_mark_sessions else None
    at, new_sessions = isoformat(utcnow()), canary.new_sessions_version(plan)
    rollout = store.Rollout(len(layout) if layout else 0, at, canary.percent, new_sessions, layout)
    sources = allowed_sources(PlanStatus.DEPLOYING, require_approval=deployment.require_approval)
    try:
        store.begin_deploy(tenant, plan, sources, rollout)
    except Conflict:
        if not cut_short(tenant, plan_store.get_plan(tenant, plan.id), PlanStatus.DEPLOYING):
            raise


def cut_short(tenant: str, plan: PlanHeader, status: PlanStatus) -> bool:
    """Whether the plan's change to `status` (deploying: marking starts; cancelled: unmarking
    starts) was applied but the step's first messages were not all sent: the request that made
    it crashed, timed out or lost its answer (or is still running). The caller sends them (again:
    each message is idempotent), so no crash between the two writes loses a fan-out."""
    return plan.status is status and not store.step_recorded(tenant, plan.id, STARTED_BY[status])


@dataclass(frozen=True)
class MarkWork:
    """What one `mark` message asks for: one page of one work unit of one slice. The unit's
    index travels as `unit_index` with its range (`range`, checked against the plan's layout,
    `_unit_of`): a worker older than sized layouts reads `unit`, fails, and after five receives
    the message waits in the dead-letter queue for a redrive (docs/operations.md), rather than
    walk the wrong range. A message sent by that older release carries `unit` only (`range`
    None): an index into its slice's uniform layout (`legacy_layout`)."""

    where: store.PageRef
    range: Unit | None

    @classmethod
    def of(cls, message: dict[str, Any]) -> "MarkWork":
        legacy = "range" not in message
        index = int(message["unit"] if legacy else message["unit_index"])
        where = store.PageRef(int(message.get("slice", 0)), index, int(message["page"]))
        return cls(where, None if legacy else Unit.decode(message["range"]))

    def message(self, plan_id: str, cursor: str | None = None) -> dict[str, Any]:
        where = self.where
        body = {"kind": "mark", "plan_id": plan_id, "slice": where.slice_index, "page": where.page}
        unit = (
            {"range": self.range.encode(), "unit_index": where.unit} if self.range else {"unit": where.unit}
        )
        return body | unit | ({"cursor": cursor} if cursor else {})

    def next_page(self) -> "MarkWork":
        where = self.where
        return MarkWork(store.PageRef(where.slice_index, where.unit, where.page + 1), self.range)


def _start_marking(tenant: str, plan: PlanHeader, slice_index: int, units: int) -> None:
    """Enqueue the first page of each of a slice's work units (none: see if it is done)."""
    if not units:
        _finish_if_done(tenant, plan.id)
        return
    layout = layout_of(tenant, plan)
    first = [MarkWork(store.PageRef(slice_index, i, 0), layout.unit(i)) for i in range(units)]
    work_queue.send(tenant, [work.message(plan.id) for work in first])


def _publish_version(tenant: str, plan: MigrationPlan) -> None:
    """Write the new version (idempotent: a retried deploy finds it written)."""
    raw = plan_store.get_plan_item(tenant, plan.id)
    document = plan_store.get_new_scenario(tenant, plan.id, raw["doc_parts"])
    info = VersionInfo(
        scenario_id=plan.scenario_id,
        version=plan.to_version,
        name=document["name"],
        created_at=isoformat(utcnow()),
        step_count=len(document["steps"]),
    )
    scenario_store.put_version(tenant, info, document)


def _supersede_others(tenant: str, deployed: MigrationPlan) -> None:
    token = None
    while True:
        headers, token = plan_store.list_plans(
            tenant, scenario_id=deployed.scenario_id, status=None, limit=100, next_token=token
        )
        for other in headers:
            if other.id != deployed.id and other.status in (PlanStatus.PENDING, PlanStatus.APPROVED):
                with suppress(Conflict):  # it moved on by itself meanwhile: nothing to supersede
                    plan_store.change_status(
                        tenant,
                        other.id,
                        {PlanStatus.PENDING, PlanStatus.APPROVED},
                        PlanStatus.SUPERSEDED,
                        {"updated_at": isoformat(utcnow()), "superseded_by": deployed.id},
                    )
        if not token:
            return


def _finish_if_done(tenant: str, plan_id: str) -> None:
    """`deployed` once every unit of every slice is done (conditional on no widening having
    added units since the counters were read)."""
    counts = store.counters(tenant, plan_id)
    if counts and counts.marking_done and store.finish_deployment(tenant, plan_id, counts.units_total):
        logger.info("marking complete", extra={"tenant_id": tenant, "plan_id": plan_id})


# -- the worker's steps ------------------------------------------------------------------------------


def handle(message: dict[str, Any]) -> None:
    """One SQS message of the marking queue. Raises on a transient fault (SQS redelivers)."""
    kind = message["kind"]
    tenant, plan_id = message["tenant"], message["plan_id"]
    if kind == "mark":
        mark_page(tenant, plan_id, MarkWork.of(message), message.get("cursor"))
    elif kind == "unmark":
        unmark_pages(tenant, plan_id, message.get("cursor"))
    elif kind == "settle_waiting":
        settle_waiting(tenant, plan_id, message.get("cursor"), bool(message.get("last_pass")))
    else:
        raise ValueError(f"unknown message kind {kind!r}")


def _plan_is_open(tenant: str, plan_id: str) -> bool:
    return plan_store.get_plan(tenant, plan_id).status in OPEN_STATUSES


def mark_page(tenant: str, plan_id: str, work: MarkWork, cursor: str | None) -> int:
    """Mark one page of one unit of one slice; returns how many sessions this page marked."""
    plan, where = plan_store.get_plan(tenant, plan_id), work.where
    if plan.status not in OPEN_STATUSES:
        return 0
    # The first attempt claims at once (a redelivery's claim finds the first claim and uses it).
    ledger, fresh = _claim(tenant, plan, where, _unit_of(tenant, plan, work), cursor)
    marked = 0
    if fresh or store.page_state(tenant, plan_id, where.page_id) is None:
        marked = _mark_and_count(plan, where, ledger)
    if not ledger["last_page"]:
        work_queue.send(tenant, [work.next_page().message(plan_id, ledger["next_cursor"])])
    else:
        _finish_if_done(tenant, plan_id)
    return marked


def _mark_and_count(plan: MigrationPlan, where: store.PageRef, ledger: dict[str, Any]) -> int:
    """Mark the ledger's sessions and add the page's count once (an empty page in the middle of
    a unit has nothing to count: no commit). A page whose fence stands (another attempt counted
    it, or a cancel closed it) takes no marker and adds nothing."""
    fence = store.fence_item(plan.tenant_id, plan.id, where.page_id)
    try:
        outcomes = mark_sessions(plan.tenant_id, _targets(plan, ledger["entries"], where.page_id), fence)
    except session_store.PageClosed:
        return 0
    marked = sum(outcome is not session_store.Written.SKIPPED for outcome in outcomes)
    if ledger["entries"] or ledger["last_page"]:
        last = ledger["last_page"]
        store.commit_page(plan.tenant_id, plan.id, where, marked, last_page=last, shards=_shards())
    return marked


def mark_sessions(
    tenant: str, targets: list[session_store.MarkTarget], fence: dict[str, Any]
) -> list[session_store.Written]:
    """The page's sessions in transactions of up to 99 conditional writes and the page's fence,
    MARK_CONCURRENCY transactions in flight at once (each waits on the network, not the CPU);
    the outcome of each session. Every transaction finishes before the first error, if any, is
    raised: nothing of a failed attempt is still in flight when SQS redelivers."""
    by_id = {target.session_id: target for target in targets}

    def write(chunk: list[str]) -> dict[str, session_store.Written]:
        return session_store.mark(tenant, [by_id[sid] for sid in chunk], fence)

    return _in_chunks(list(by_id), write, session_store.MARKS_PER_TRANSACTION)


def _in_chunks(session_ids: list[str], write: Any, size: int) -> list[session_store.Written]:
    chunks = [session_ids[i : i + size] for i in range(0, len(session_ids), size)]
    if len(chunks) <= 1:
        results = [write(chunk) for chunk in chunks]
    else:
        futures = [_writers().submit(write, chunk) for chunk in chunks]
        wait(futures)
        results = [future.result() for future in futures]
    outcomes = {sid: outcome for result in results for sid, outcome in result.items()}
    return [outcomes[sid] for sid in session_ids]


@lru_cache(maxsize=1)
def _writers() -> ThreadPoolExecutor:
    """The container's writer threads (created on first use, reused by every invocation)."""
    return ThreadPoolExecutor(max_workers=MARK_CONCURRENCY, thread_name_prefix="mark")


def _unit_of(tenant: str, plan: MigrationPlan, work: MarkWork) -> Unit:
    """The range a `mark` message's page walks. An older release's message (no range) indexes
    its slice's uniform layout; a message with a range must name its plan's unit at its index:
    anything else is a poison message, which fails alone."""
    index = work.where.unit
    if work.range is None:
        return legacy_layout(tenant, plan.id, work.where.slice_index).unit(index)
    if layout_of(tenant, plan).unit(index) != work.range:
        raise ValueError(f"mark message: range {work.range.encode()} is not unit {index} of plan {plan.id}")
    return work.range


def _claim(
    tenant: str, plan: MigrationPlan, where: store.PageRef, unit: Unit, cursor: str | None
) -> tuple[dict[str, Any], bool]:
    """Read the unit's next page of the old version's index and fix, in the page's ledger, who
    in it migrates: (session, step) of those in the page's canary slice whose step resolves to
    an anchor whose policy admits them."""
    found, next_key = session_store.sessions_in_range(
        tenant,
        (plan.scenario_id, plan.from_version, unit.shard),
        (unit.first, unit.last),
        cursor=json.loads(cursor) if cursor else None,
        page_size=PAGE_SIZE,
    )
    now, bounds = utcnow(), plan.slice_bounds(where.slice_index)
    entries = [
        [item["session_id"], item["step_id"]] for item in found if _marked_anchor(plan, bounds, item, now)
    ]
    next_cursor = json.dumps(next_key) if next_key else None
    if not entries:  # nothing to fix across attempts: no ledger (most units of a small deployment)
        return {"entries": [], "next_cursor": next_cursor, "last_page": next_cursor is None}, True
    return store.claim_page(tenant, plan.id, where.page_id, entries, next_cursor)


def _targets(plan: MigrationPlan, entries: list[list[str]], page_id: str) -> list[session_store.MarkTarget]:
    tmap, at = _transformation_map(plan.tenant_id, plan.id), isoformat(utcnow())
    targets = []
    for session_id, step_id in entries:
        anchor = tmap.anchor_for(step_id)
        assert anchor is not None  # the claim kept only steps that resolve to an anchor
        marker = Marker(
            plan_id=plan.id,
            anchor=anchor.anchor_content_hash,
            from_version=plan.from_version,
            target_version=plan.to_version,
            marked_at=at,
            page_id=page_id,
            state=MarkerState.PENDING,
        )
        targets.append(session_store.MarkTarget(session_id, step_id, marker))
    return targets


def _admits(policy: AnchorPolicy, session: dict[str, Any], now: datetime) -> bool:
    return policy.admits(session.get("channel"), parse_timestamp(session["created_at"]), now)


# -- cancel ------------------------------------------------------------------------------------------


def cancel(tenant: str, plan_id: str, action: OperatorAction | None = None) -> CancelStarted:
    """Stop the deployment: the plan becomes `cancelled` (its canary closed with it, `action`
    recorded in the same write), then its open markers are settled by `unmark` messages. A
    cancel cut short after its status change (`cut_short`) is carried on by the next cancel
    call instead of refused."""
    if not cut_short(tenant, plan_store.get_plan(tenant, plan_id), PlanStatus.CANCELLED):
        _close(tenant, plan_id, action)
    start_unmarking(tenant, plan_id)
    logger.info("plan cancelled", extra={"tenant_id": tenant, "plan_id": plan_id})
    return CancelStarted(plan_id=plan_id, status=PlanStatus.CANCELLED.value, unmarking="started")


def _close(tenant: str, plan_id: str, action: OperatorAction | None) -> None:
    """The cancel's one transaction (store.close_deployment); refused (409) unless the plan is
    open, except when the refusal is this very cancel's own write, applied but unanswered."""
    plan = plan_store.get_plan(tenant, plan_id)
    now = isoformat(utcnow())
    updates: dict[str, Any] = {"cancelled_at": now, "updated_at": now}
    if action is not None and action.details.get("reverse_plan_id"):
        updates["rolled_back_by_plan"] = action.details["reverse_plan_id"]
    try:
        store.close_deployment(tenant, plan, updates, action)
    except Conflict:
        if not cut_short(tenant, plan_store.get_plan(tenant, plan_id), PlanStatus.CANCELLED):
            raise


def start_unmarking(tenant: str, plan_id: str) -> None:
    """Settle a cancelled plan's open markers (idempotent: a page or waiting session already
    settled is skipped, so starting it again after a crash is safe), then record that it started."""
    work_queue.send(tenant, [{"kind": "unmark", "plan_id": plan_id}])
    store.record_step(tenant, plan_id, store.Step.UNMARKING_SENT)


# -- widen (canary) ----------------------------------------------------------------------------------


def widen(tenant: str, plan_id: str, percent: int) -> DeploymentStatus:
    """Widen a canary to `percent`: mark the next slice only (buckets in [current, percent)).
    The same percent again is a no-op (or resumes the slice's marking if it stopped before it was
    sent); a lower one is a 409; the guard may refuse (409 with its figures, and the
    CanaryGuardTripped metric). 100 completes the deployment: the plan's
    version becomes the one new sessions start on."""
    plan = plan_store.get_plan(tenant, plan_id)
    if plan.status not in OPEN_STATUSES:
        raise Conflict(
            f"the plan is {plan.status.value}: only a deployment can be widened",
            {"status": plan.status.value},
        )
    if cut_short(tenant, plan, PlanStatus.DEPLOYING):
        _send_first_slice(tenant, plan)  # its deploy was cut short: the first slice first
    elif percent == plan.percent:
        _resume_marking(tenant, plan)
    if percent == plan.percent:
        return status(tenant, plan_id)  # idempotent: this slice is marked (or being marked)
    if percent < plan.percent:
        raise Conflict(
            f"the canary is at {plan.percent} %: it can only widen (cancel or roll back to go back)",
            {"canary_percent": plan.percent, "requested": percent},
        )
    _guard(tenant, plan)
    units = len(layout_of(tenant, plan)) if get_settings().deployment.auto_mark_sessions else 0
    at, caller = isoformat(utcnow()), identity.current()
    by = caller.principal if caller else None
    new_slice = CanarySlice(from_percent=plan.percent, to_percent=percent, at=at, by=by)
    details = {"from_percent": plan.percent, "to_percent": percent, "slice": len(plan.canary_slices)}
    try:
        store.widen(
            tenant, plan, new_slice, units, OperatorAction(action="widen", at=at, by=by, details=details)
        )
    except Conflict:
        if plan_store.get_plan(tenant, plan_id).percent == percent:  # a concurrent twin won
            return status(tenant, plan_id)
        raise
    _start_marking(tenant, plan, len(plan.canary_slices), units)
    logger.info("canary widened", extra={"tenant_id": tenant, "plan_id": plan_id, **details})
    return status(tenant, plan_id)


def _resume_marking(tenant: str, plan: MigrationPlan) -> None:
    """A widening called again while its slice is not fully marked: send the slice's first
    pages again. The call before may have stopped between its transaction and its messages (a
    crash, a timeout); if they were sent, the duplicates find every page claimed and counted
    (marking is exact under redelivery), so this costs reads, never a count. Once the slice is
    marked, nothing is sent: a repeated widening is a no-op."""
    index = len(plan.canary_slices) - 1
    counts = (store.counters(tenant, plan.id) or Counters()).slices.get(index)
    if plan.status is PlanStatus.DEPLOYING and counts and counts.units_done < counts.units_total:
        _start_marking(tenant, plan, index, counts.units_total)
        logger.info(
            "canary slice marking resumed", extra={"tenant_id": tenant, "plan_id": plan.id, "slice": index}
        )


def _guard(tenant: str, plan: MigrationPlan) -> None:
    """Refuse to widen a canary whose troubled share (blocked, kept, condition errors) is above
    `deployment.canary_guard_threshold`, once `canary_guard_min_migrations` outcomes are in."""
    figures = _guard_figures(store.counters(tenant, plan.id) or Counters())
    if figures.tripped:
        record_canary_guard(plan.scenario_id)
        logger.warning("canary guard refused a widening", extra={"tenant_id": tenant, "plan_id": plan.id})
        raise Conflict(
            f"the canary's share of blocked, kept and failed migrations is {figures.share:.1%}, above "
            f"{figures.threshold:.1%}: look at the outcomes, then roll back or cancel",
            {"guard": figures.model_dump()},
        )


def _guard_figures(c: Counters) -> GuardFigures:
    deployment = get_settings().deployment
    return judge(c.model_dump(), deployment.canary_guard_threshold, deployment.canary_guard_min_migrations)


def unmark_pages(tenant: str, plan_id: str, cursor: str | None) -> None:
    """Settle the pending markers of pages up to SESSIONS_PER_UNMARK sessions, then hand on to
    the next pages, and at the end to the sessions waiting on the customer."""
    ledgers, next_key = store.list_pages(
        tenant, plan_id, json.loads(cursor) if cursor else None, LEDGERS_PER_READ
    )
    now, taken, sessions = isoformat(utcnow()), [], 0
    for ledger in ledgers:
        if sessions >= SESSIONS_PER_UNMARK:
            break
        taken.append(ledger)
        sessions += len(ledger["entries"])
    for ledger in taken:
        if ledger["state"] != store.PageState.UNMARKED:
            _unmark_page(tenant, plan_id, ledger, now)
    if len(taken) < len(ledgers):  # the rest of this read waits for the next message
        next_key = store.page_key(tenant, plan_id, taken[-1]["page_id"])
    if next_key:
        work_queue.send(tenant, [{"kind": "unmark", "plan_id": plan_id, "cursor": json.dumps(next_key)}])
    else:
        work_queue.send(tenant, [{"kind": "settle_waiting", "plan_id": plan_id}])


def _unmark_page(tenant: str, plan_id: str, ledger: dict[str, Any], now: str) -> None:
    """Unmark a page's pending markers and settle its counts once. An uncounted page is closed
    first (its fence: no marker of it lands after this point), so the markers unmarked here and
    the page's count, taken now, are all the page will ever have."""
    page_id, state = ledger["page_id"], ledger["state"]
    if state is None:
        state = store.close_page(tenant, plan_id, page_id)
    if state == store.PageState.UNMARKED:
        return

    def write(chunk: list[str]) -> dict[str, session_store.Written]:
        return session_store.unmark(tenant, chunk, plan_id, page_id, now)

    outcomes = _in_chunks(
        [session_id for session_id, _ in ledger["entries"]], write, session_store.TRANSACTION_ITEMS
    )
    unmarked = sum(outcome in UNMARKED for outcome in outcomes)
    bearing = unmarked + sum(outcome is session_store.Written.SETTLED for outcome in outcomes)
    counts = (bearing, unmarked)
    counted = state == store.PageState.COUNTED
    store.settle_unmarked_page(tenant, plan_id, page_id, counts, counted=counted, shards=_shards())


def settle_waiting(tenant: str, plan_id: str, cursor: str | None, last_pass: bool) -> None:
    """Settle the cancelled plan's sessions waiting on the customer (their markers become
    `unmarked`, the counters follow in the same transaction), a page of them per message."""
    waiting, next_key = store.list_waiting(
        tenant, plan_id, json.loads(cursor) if cursor else None, WAITING_PER_MESSAGE
    )
    now = isoformat(utcnow())
    for entry in waiting:
        _settle_one(tenant, plan_id, entry["session_id"], bool(entry.get("by_fanout")), now)
    base = {"kind": "settle_waiting", "plan_id": plan_id}
    if next_key:
        work_queue.send(tenant, [{**base, "cursor": json.dumps(next_key), "last_pass": last_pass}])
    elif not last_pass:  # JIT writes in flight at the cancel land within a JIT timeout: look again
        work_queue.send(tenant, [{**base, "last_pass": True}], delay_seconds=SETTLE_DELAY)
    else:  # every page and every waiting session settled: retention may take the ledgers
        store.record_step(tenant, plan_id, store.Step.UNMARKING_DONE)


def _settle_one(tenant: str, plan_id: str, session_id: str, by_fanout: bool, now: str) -> None:
    adds = {"sessions_awaiting_input": -1} | ({"sessions_unmarked": 1} if by_fanout else {})
    shard = store.counter_shard(session_id, _shards())
    extra = [
        store.waiting_delete_item(tenant, plan_id, session_id, must_exist=True),
        store.counter_item(tenant, plan_id, shard, CounterMove(adds)),
    ]
    if not session_store.settle_waiting(tenant, session_id, plan_id, now, extra):
        logger.info(
            "a waiting session was settled by JIT first",
            extra={"tenant_id": tenant, "plan_id": plan_id, "session_id": session_id},
        )


# -- status ------------------------------------------------------------------------------------------


def status(tenant: str, plan_id: str) -> DeploymentStatus:
    plan = plan_store.get_plan(tenant, plan_id)
    c = store.counters(tenant, plan_id) or Counters()
    return DeploymentStatus(
        plan_id=plan_id,
        status=plan.status.value,
        sessions_marked=c.sessions_marked,
        migrations_applied=c.migrations_applied,
        migrations_pending=c.pending,
        migrations_by_scenario={scenario: c.migrated(scenario) for scenario in MigrationScenario},
        checkpoint_blocks=c.checkpoint_blocks,
        sessions_awaiting_input=c.sessions_awaiting_input,
        sessions_kept=c.sessions_kept,
        sessions_unmarked=c.sessions_unmarked,
        condition_errors=c.condition_errors,
        deployed_at=isoformat(plan.deployed_at) if plan.deployed_at else None,
        last_migration_at=c.last_migration_at,
        fanout=FanoutProgress(units_total=c.units_total, units_done=c.units_done),
        canary=_canary_status(plan, c),
    )


def _canary_status(plan: MigrationPlan, c: Counters) -> CanaryStatus | None:
    """The canary's percent, each slice's marking, where new sessions start, the guard's view."""
    if plan.canary_percent is None:
        return None  # not deployed (or deployed before canaries)
    slices = [
        SliceStatus(slice=index, **found.model_dump(), **c.slices.get(index, SliceCounts()).model_dump())
        for index, found in enumerate(plan.canary_slices)
    ]
    return CanaryStatus(
        percent=plan.percent,
        new_sessions_version=_new_sessions_version(plan),
        slices=slices,
        guard=_guard_figures(c),
    )


def _new_sessions_version(plan: MigrationPlan) -> int:
    """The version new sessions start on now: the old one while a "v1" canary is below 100 %."""
    keep_old = plan.new_sessions == "v1" and plan.percent < FULL
    return plan.from_version if keep_old else plan.to_version
