"""Deploy (publish + fan-out), the marking worker's steps, cancel, and deployment status (SPEC 6, 8).

Work is cut so that no invocation's cost grows with the number of sessions, and the number of
messages follows the live sessions, not the size of the scenario:
- a deployment has a fixed number of work units: (index shard) x (range of step hashes), 8 x
  `deployment.marking_ranges`; each walks the old version's position index over its key range,
  so a unit with nobody in it costs one empty Query, whatever the number of steps;
- each `mark` message handles one page (PAGE_SIZE sessions) of one unit and enqueues the next;
  the sessions of a page may sit on any steps: each is marked for the anchor its step resolves
  to (TransformationMap.anchor_for, the one resolution JIT uses), under that anchor's policy;
- after a cancel, `unmark` messages walk the page ledgers, LEDGERS_PER_UNMARK at a time, then
  `settle_waiting` messages settle the sessions waiting on the customer, WAITING_PER_MESSAGE at a
  time, with a last pass SETTLE_DELAY seconds later for JIT writes that were in flight.
Every message carries its tenant as MessageGroupId: on an SQS fair queue, one tenant's big
deployment does not hold back another tenant's messages (and the fixed number of units bounds a
deployment's backlog anyway).
"""

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from scenario_migration.clock import isoformat, parse_timestamp, utcnow
from scenario_migration.config import get_settings
from scenario_migration.domain.deployment import (
    CancelStarted,
    CounterMove,
    Counters,
    DeploymentStatus,
    DeployStarted,
    FanoutProgress,
)
from scenario_migration.domain.lifecycle import (
    AnchorPolicy,
    MigrationPlan,
    PlanStatus,
    allowed_sources,
    check_transition,
)
from scenario_migration.domain.migration_scenario import MigrationScenario
from scenario_migration.domain.plan import TransformationMap
from scenario_migration.domain.session import Marker, MarkerState
from scenario_migration.errors import Conflict
from scenario_migration.observability import logger
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
HEX = "0123456789abcdef"


@dataclass(frozen=True)
class Unit:
    """The old version's live sessions in one index shard whose step hashes start with a hex
    digit in [first, last]."""

    shard: int
    first: str
    last: str


def unit_count() -> int:
    return keys.POSITION_SHARDS * get_settings().deployment.marking_ranges


def unit_at(index: int) -> Unit:
    ranges = get_settings().deployment.marking_ranges
    shard, part = divmod(index, ranges)
    width = len(HEX) // ranges
    return Unit(shard, HEX[part * width], HEX[part * width + width - 1])


@lru_cache(maxsize=32)
def _transformation_map(tenant: str, plan_id: str) -> TransformationMap:
    """A plan's map never changes once written: read it once per container."""
    tmap = plan_store.get_plan(tenant, plan_id, with_map=True).transformation_map
    assert tmap is not None
    return tmap


def _shards() -> int:
    return get_settings().deployment.counter_shards


# -- deploy ----------------------------------------------------------------------------------------


def deploy(tenant: str, plan_id: str) -> DeployStarted:
    """Make the plan's version active and send the first page of every work unit. A deploy whose
    status change was applied but whose first pages were not all sent (it crashed, timed out or
    lost its answer: `_cut_short`) is carried on by the next deploy call instead of refused."""
    settings = get_settings()
    if not settings.enabled:
        raise Conflict("scenario migration is disabled (scenario_migration.enabled = false)")
    plan = plan_store.get_plan(tenant, plan_id)
    if not _cut_short(tenant, plan, PlanStatus.DEPLOYING):
        _begin(tenant, plan)
        plan = plan_store.get_plan(tenant, plan_id)
    auto_mark = settings.deployment.auto_mark_sessions
    to_mark = sessions_to_mark(plan) if auto_mark else Counter()
    counts = store.counters(tenant, plan_id) or Counters()
    _supersede_others(tenant, plan)
    units = counts.units_total
    if units:
        first_pages = [{"kind": "mark", "plan_id": plan_id, "unit": unit, "page": 0} for unit in range(units)]
        work_queue.send(tenant, first_pages)
    store.record_step(tenant, plan_id, store.Step.MARKING_SENT)
    if not units:
        _finish_if_done(tenant, plan_id)
    logger.info("plan deployed", extra={"tenant_id": tenant, "plan_id": plan_id, "work_units": units})
    return DeployStarted(
        plan_id=plan_id,
        status=plan_store.get_plan(tenant, plan_id).status.value,
        sessions_to_mark=to_mark.total(),
        sessions_by_anchor=dict(sorted(to_mark.items())),
        sessions_marked=counts.sessions_marked,
        deployed_at=isoformat(plan.deployed_at or utcnow()),
        work_units=units,
        auto_mark_sessions=auto_mark,
    )


def sessions_to_mark(plan: MigrationPlan) -> Counter[str]:
    """Live sessions of the old version that marking would mark now, per anchor: each counted
    under the anchor its step resolves to, if that anchor's policy admits it (the rules marking
    applies, `_claim`). A census of the position index, as planning takes one."""
    tmap, now = _transformation_map(plan.tenant_id, plan.id), utcnow()

    def anchor_marking(entry: dict[str, Any]) -> str | None:
        anchor = tmap.anchor_for(entry["step_id"])
        if anchor is None or not _admits(plan.policy_for(anchor.anchor_content_hash), entry, now):
            return None
        return anchor.anchor_content_hash

    return session_store.census(plan.tenant_id, plan.scenario_id, plan.from_version, anchor_marking)


def _begin(tenant: str, plan: MigrationPlan) -> None:
    """Publish the plan's version, then one transaction: the plan becomes `deploying`, the version
    active, the counters start. Refused (409) unless the plan may be deployed, except when the
    refusal is this very deploy's own transaction, applied once already and retried by botocore
    after its answer was lost (where the emulator ignores the idempotency token)."""
    deployment = get_settings().deployment
    check_transition(plan.status, PlanStatus.DEPLOYING, require_approval=deployment.require_approval)
    if plan.summary.has_critical and plan.status is not PlanStatus.APPROVED:
        raise Conflict("the plan has critical warnings: approve it, acknowledging them, to deploy it")
    _publish_version(tenant, plan)
    units = unit_count() if deployment.auto_mark_sessions else 0
    sources = allowed_sources(PlanStatus.DEPLOYING, require_approval=deployment.require_approval)
    try:
        store.begin_deploy(tenant, plan, sources, units, isoformat(utcnow()))
    except Conflict:
        if not _cut_short(tenant, plan_store.get_plan(tenant, plan.id), PlanStatus.DEPLOYING):
            raise


def _cut_short(tenant: str, plan: MigrationPlan, status: PlanStatus) -> bool:
    """Whether the plan's change to `status` (deploying: marking starts; cancelled: unmarking
    starts) was applied but the step's first messages were not all sent: the request that made
    it crashed, timed out or lost its answer (or is still running). The caller sends them (again:
    each message is idempotent), so no crash between the two writes loses a fan-out."""
    return plan.status is status and not store.step_recorded(tenant, plan.id, STARTED_BY[status])


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
    counts = store.counters(tenant, plan_id)
    if counts and counts.marking_done:
        try:
            plan_store.change_status(
                tenant,
                plan_id,
                {PlanStatus.DEPLOYING},
                PlanStatus.DEPLOYED,
                {"updated_at": isoformat(utcnow())},
            )
            logger.info("marking complete", extra={"tenant_id": tenant, "plan_id": plan_id})
        except Conflict:
            pass  # already deployed (a duplicate finished first) or cancelled


# -- the worker's steps ------------------------------------------------------------------------------


def handle(message: dict[str, Any]) -> None:
    """One SQS message of the marking queue. Raises on a transient fault (SQS redelivers)."""
    kind = message["kind"]
    tenant, plan_id = message["tenant"], message["plan_id"]
    if kind == "mark":
        mark_page(tenant, plan_id, int(message["unit"]), int(message["page"]), message.get("cursor"))
    elif kind == "unmark":
        unmark_pages(tenant, plan_id, message.get("cursor"))
    elif kind == "settle_waiting":
        settle_waiting(tenant, plan_id, message.get("cursor"), bool(message.get("last_pass")))
    else:
        raise ValueError(f"unknown message kind {kind!r}")


def _plan_is_open(tenant: str, plan_id: str) -> bool:
    return plan_store.get_plan(tenant, plan_id).status in OPEN_STATUSES


def mark_page(tenant: str, plan_id: str, unit_index: int, page: int, cursor: str | None) -> int:
    """Mark one page of one unit; returns how many sessions this page marked."""
    plan = plan_store.get_plan(tenant, plan_id)
    if plan.status not in OPEN_STATUSES:
        return 0
    page_id = f"{unit_index:06d}#{page:06d}"
    # The first attempt claims at once (a redelivery's claim finds the first claim and uses it).
    ledger, fresh = _claim(tenant, plan, unit_at(unit_index), page_id, cursor)
    marked = 0
    if fresh or store.page_state(tenant, plan_id, page_id) is None:
        marked = _mark_and_count(plan, page_id, ledger)
    if not ledger["last_page"]:
        next_page = {"kind": "mark", "plan_id": plan_id, "unit": unit_index, "page": page + 1}
        work_queue.send(tenant, [{**next_page, "cursor": ledger["next_cursor"]}])
    else:
        _finish_if_done(tenant, plan_id)
    return marked


def _mark_and_count(plan: MigrationPlan, page_id: str, ledger: dict[str, Any]) -> int:
    """Mark the ledger's sessions and add the page's count once (an empty page in the middle of
    a unit has nothing to count: no commit). A page whose fence stands (another attempt counted
    it, or a cancel closed it) takes no marker and adds nothing."""
    fence = store.fence_item(plan.tenant_id, plan.id, page_id)
    try:
        outcomes = mark_sessions(plan.tenant_id, _targets(plan, ledger["entries"], page_id), fence)
    except session_store.PageClosed:
        return 0
    marked = sum(outcome is not session_store.Written.SKIPPED for outcome in outcomes)
    if ledger["entries"] or ledger["last_page"]:
        last = ledger["last_page"]
        store.commit_page(plan.tenant_id, plan.id, page_id, marked, last_page=last, shards=_shards())
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


def _claim(
    tenant: str, plan: MigrationPlan, unit: Unit, page_id: str, cursor: str | None
) -> tuple[dict[str, Any], bool]:
    """Read the unit's next page of the old version's index and fix, in the page's ledger, who
    in it migrates: (session, step) of those whose step resolves to an anchor whose policy
    admits them."""
    found, next_key = session_store.sessions_in_range(
        tenant,
        (plan.scenario_id, plan.from_version, unit.shard),
        (unit.first, unit.last),
        cursor=json.loads(cursor) if cursor else None,
        page_size=PAGE_SIZE,
    )
    tmap, now = _transformation_map(tenant, plan.id), utcnow()
    entries = []
    for item in found:
        anchor = tmap.anchor_for(item["step_id"])
        if anchor is not None and _admits(plan.policy_for(anchor.anchor_content_hash), item, now):
            entries.append([item["session_id"], item["step_id"]])
    next_cursor = json.dumps(next_key) if next_key else None
    if not entries:  # nothing to fix across attempts: no ledger (most units of a small deployment)
        return {"entries": [], "next_cursor": next_cursor, "last_page": next_cursor is None}, True
    return store.claim_page(tenant, plan.id, page_id, entries, next_cursor)


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


def cancel(tenant: str, plan_id: str) -> CancelStarted:
    """Cancel, then start unmarking; a cancel cut short after its status change (`_cut_short`) is
    carried on by the next cancel call instead of refused."""
    try:
        plan = plan_store.change_status(
            tenant,
            plan_id,
            {PlanStatus.DEPLOYING, PlanStatus.DEPLOYED},
            PlanStatus.CANCELLED,
            {"cancelled_at": isoformat(utcnow()), "updated_at": isoformat(utcnow())},
        )
    except Conflict:
        plan = plan_store.get_plan(tenant, plan_id)
        if not _cut_short(tenant, plan, PlanStatus.CANCELLED):
            raise
    work_queue.send(tenant, [{"kind": "unmark", "plan_id": plan_id}])
    store.record_step(tenant, plan_id, store.Step.UNMARKING_SENT)
    logger.info("plan cancelled", extra={"tenant_id": tenant, "plan_id": plan_id})
    return CancelStarted(plan_id=plan_id, status=plan.status.value, unmarking="started")


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
    )
