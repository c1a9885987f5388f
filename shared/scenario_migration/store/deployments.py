"""A deployment's items in PlansTable: its counters (sharded), page ledgers and the list of
sessions waiting on the customer. Session items are written by store/sessions.py only; the
plan item and the scenario's ACTIVE item by their own stores, which give the deploy transaction
its items.

Exactly-once marking at about one write request per hundred marked sessions: the first attempt
at a page of a work unit claims a ledger item holding the page's session ids. Every attempt
(redelivery, a concurrent duplicate, a retry after a crash) marks from that same list with
conditional writes that stamp the page id into the marker, so "marked by this page" is a fact
stored on the session. The page's count is then added once, in a transaction that creates the
page's small state item (`counted`) beside the counters. The state item is also the page's fence:
marker transactions hold only while it does not exist, so a cancel that reaches a page first
(`close_page`) sees every marker the page will ever have. See docs/architecture.md.

Canaries (issue 14): a deployment marks in slices, each with its own work units and page ids
(PageRef); the counters also hold each slice's marking; widening, cancelling and rolling back are
transactions over the plan, the scenario's ACTIVE item and, for an operator's action, an
`ACTION#` item recording it.

Counters are shards `COUNTERS#<nn>` summed on read: one item takes about 1,000 writes a second
and concurrent transactions on it conflict, so each writer adds to the shard its key hashes to.
"""

import time
import zlib
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from scenario_migration.clock import isoformat, utcnow
from scenario_migration.domain.canary import FULL, CanarySlice
from scenario_migration.domain.deployment import COUNTED, CounterMove, Counters, slice_counter
from scenario_migration.domain.lifecycle import OPEN, MigrationPlan, OperatorAction, PlanStatus
from scenario_migration.domain.marking import MarkingLayout
from scenario_migration.errors import Conflict
from scenario_migration.store import keys
from scenario_migration.store import plans as plan_store
from scenario_migration.store import scenarios as scenario_store
from scenario_migration.store.dynamodb import (
    cancellation_reasons,
    client,
    from_item,
    is_condition_failure,
    table_name,
    to_item,
)

COUNTERS_PREFIX = "COUNTERS#"
PAGE_PREFIX = "PAGE#"  # a page's membership, fixed by its first claim (immutable)
STATE_PREFIX = "PAGESTATE#"  # a page's state: absent (claimed), counted, unmarked (small)
WAIT_PREFIX = "WAIT#"  # a session of this plan waiting on the customer
STEP_PREFIX = "STEP#"  # a step of the deployment that was done (Step)
ACTION_PREFIX = "ACTION#"  # an operator's action on the deployment (widen, rollback)


class PageState:
    """A page's state item; whichever state it has, it is the page's fence: a marker transaction
    of the page checks that the item does not exist yet (`fence_item`)."""

    COUNTED = "counted"  # its worker added its count
    CLOSING = "closing"  # a cancel reached it uncounted: no more markers, its count comes with the cancel's
    UNMARKED = "unmarked"  # the cancel settled it


def _plans() -> str:
    return table_name(plan_store.TABLE_ENV)


def _key(tenant: str, plan_id: str, sk: str) -> dict[str, Any]:
    return to_item({"pk": keys.plan_pk(tenant, plan_id), "sk": sk})


def counter_shard(key: str, shards: int) -> str:
    """The counter shard a writer adds to (by a key of its own: a session or page id)."""
    return f"{COUNTERS_PREFIX}{zlib.crc32(key.encode()) % shards:03d}"


# -- deploy and counters ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Rollout:
    """What a deploy starts: its work units, when, and its canary (percent, and the version new
    sessions start on meanwhile)."""

    units_total: int
    deployed_at: str
    percent: int = FULL
    new_sessions_version: int | None = None  # None: the plan's target version
    layout: MarkingLayout | None = None  # its work units (None: no marking)


def begin_deploy(tenant: str, plan: MigrationPlan, sources: frozenset[PlanStatus], rollout: Rollout) -> None:
    """One transaction: the plan becomes `deploying` (with its canary and first slice), the
    scenario points at the deployment (its latest version moves from the plan's source to its
    target, compare-and-set), and the first counter shard starts (holding units_total)."""
    at, units = rollout.deployed_at, rollout.units_total
    canary = {
        "canary_percent": rollout.percent,
        "canary_slices": [CanarySlice(from_percent=0, to_percent=rollout.percent, at=at).model_dump()],
        "new_sessions": "v1" if rollout.new_sessions_version == plan.from_version else "v2",
    } | ({"marking_layout": rollout.layout.encode()} if rollout.layout else {})
    counters = dict.fromkeys(COUNTED, 0) | {"units_total": units, slice_counter("units_total", 0): units}
    new_sessions_version = rollout.new_sessions_version or plan.to_version
    items = [
        plan_store.status_change_item(
            tenant, plan.id, sources, PlanStatus.DEPLOYING, {"deployed_at": at, "updated_at": at, **canary}
        ),
        scenario_store.deploy_active_item(
            tenant,
            plan.scenario_id,
            (plan.from_version, plan.to_version),
            plan.id,
            at=at,
            canary=(rollout.percent, new_sessions_version),
        ),
        {
            "Put": {
                "TableName": _plans(),
                "Item": to_item(
                    {"pk": keys.plan_pk(tenant, plan.id), "sk": f"{COUNTERS_PREFIX}000", **counters}
                ),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
    ]
    try:
        client().transact_write_items(TransactItems=items)
    except ClientError as exc:
        reasons = cancellation_reasons(exc)
        if reasons[:1] == ["ConditionalCheckFailed"]:
            raise _status_conflict(tenant, plan.id, "deployed") from None
        if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
            raise Conflict(
                "the scenario's active version (its latest deployed) is no longer the plan's source "
                "version, or another plan's canary is open (widen it to 100, cancel or roll it back)"
            ) from None
        raise


class Step:
    """Steps of a deployment's life recorded as items of their own (`STEP#<name>`), so that a
    step cut short is found and carried on, and nothing is deleted under a step still running."""

    MARKING_SENT = "marking_sent"  # the deploy sent the first page of every work unit
    UNMARKING_SENT = "unmarking_sent"  # the cancel sent the first unmarking message
    UNMARKING_DONE = "unmarking_done"  # the cancel's last pass over waiting sessions ended


def record_step(tenant: str, plan_id: str, step: str) -> None:
    item = {"pk": keys.plan_pk(tenant, plan_id), "sk": f"{STEP_PREFIX}{step}"}
    client().put_item(TableName=_plans(), Item=to_item(item))


def step_recorded(tenant: str, plan_id: str, step: str) -> bool:
    found = client().get_item(
        TableName=_plans(), Key=_key(tenant, plan_id, f"{STEP_PREFIX}{step}"), ConsistentRead=True
    )
    return "Item" in found


def _status_conflict(tenant: str, plan_id: str, verb: str) -> Conflict:
    current = plan_store.get_plan(tenant, plan_id)
    return Conflict(
        f"the plan is {current.status.value}: it cannot be {verb}", {"status": current.status.value}
    )


def widen(
    tenant: str, plan: MigrationPlan, new_slice: CanarySlice, units: int, action: OperatorAction
) -> None:
    """One transaction: the plan's canary moves to the new slice's end (and back to `deploying`
    while it has units to mark), the scenario's canary with it (compare-and-set on the percent:
    of two concurrent widenings one wins), the slice's units join the counters, and the action
    is recorded. Conflict when the plan or its canary moved meanwhile."""
    at = new_slice.at
    slices = [s.model_dump() for s in [*plan.canary_slices, new_slice]]
    updates = {"canary_percent": new_slice.to_percent, "canary_slices": slices, "updated_at": at}
    sources, target = (OPEN, PlanStatus.DEPLOYING) if units else ({plan.status}, plan.status)
    index = len(plan.canary_slices)
    items = [
        plan_store.status_change_item(tenant, plan.id, sources, target, updates),
        scenario_store.widen_active_item(
            tenant,
            plan.scenario_id,
            plan.id,
            (plan.percent, new_slice.to_percent),
            to_version=plan.to_version,
            at=at,
        ),
        action_item(tenant, plan.id, action),
    ]
    move = CounterMove({"units_total": units, slice_counter("units_total", index): units} if units else {})
    counter = counter_item(tenant, plan.id, f"{COUNTERS_PREFIX}000", move)
    try:
        client().transact_write_items(TransactItems=[*items, *([counter] if counter else [])])
    except ClientError as exc:
        if "ConditionalCheckFailed" in cancellation_reasons(exc):
            raise Conflict("the deployment changed meanwhile: read its status and try again") from None
        raise


def close_deployment(
    tenant: str, plan: MigrationPlan, updates: dict[str, Any], action: OperatorAction | None = None
) -> None:
    """One transaction: the open plan becomes `cancelled` (with `updates`), its canary if open is
    closed on the scenario (so that it may be deployed again), and the action, if any, is
    recorded. Conflict naming the status when the plan is not open any more."""
    items = [plan_store.status_change_item(tenant, plan.id, OPEN, PlanStatus.CANCELLED, updates)]
    active = scenario_store.get_active(tenant, plan.scenario_id) or {}
    if active.get("plan_id") == plan.id and "canary_percent" in active:
        items.append(scenario_store.end_canary_item(tenant, plan.scenario_id, plan.id, updates["updated_at"]))
    if action is not None:
        items.append(action_item(tenant, plan.id, action))
    try:
        client().transact_write_items(TransactItems=items)
    except ClientError as exc:
        reasons = cancellation_reasons(exc)
        if reasons[:1] == ["ConditionalCheckFailed"]:
            raise _status_conflict(tenant, plan.id, "cancelled") from None
        if "ConditionalCheckFailed" in reasons:
            raise Conflict("the deployment changed meanwhile: try again") from None
        raise


def finish_deployment(tenant: str, plan_id: str, units_total: int) -> bool:
    """`deploying` -> `deployed`, provided no widening added units since `units_total` was read
    (a condition on the shard that holds it): False when it did, or the plan moved on."""
    check = {
        "ConditionCheck": {
            "TableName": _plans(),
            "Key": _key(tenant, plan_id, f"{COUNTERS_PREFIX}000"),
            "ConditionExpression": "units_total = :units",
            "ExpressionAttributeValues": to_item({":units": units_total}),
        }
    }
    status = plan_store.status_change_item(
        tenant, plan_id, {PlanStatus.DEPLOYING}, PlanStatus.DEPLOYED, {"updated_at": isoformat(utcnow())}
    )
    try:
        client().transact_write_items(TransactItems=[status, check])
    except ClientError as exc:
        if "ConditionalCheckFailed" in cancellation_reasons(exc):
            return False
        raise
    return True


def counters(tenant: str, plan_id: str) -> Counters | None:
    """The plan's counters (its shards summed), or None before it was deployed."""
    pages = (
        client()
        .get_paginator("query")
        .paginate(
            TableName=_plans(),
            KeyConditionExpression="pk = :pk AND begins_with(sk, :c)",
            ExpressionAttributeValues=to_item({":pk": keys.plan_pk(tenant, plan_id), ":c": COUNTERS_PREFIX}),
            ConsistentRead=True,
        )
    )
    shards = [from_item(item) for page in pages for item in page["Items"]]
    return Counters.total(shards) if shards else None


def counter_item(tenant: str, plan_id: str, shard: str, move: CounterMove) -> dict[str, Any] | None:
    """A transaction item moving a plan's counters in one shard, or None when there is nothing to
    move (DynamoDB rejects an empty update expression and empty name or value maps)."""
    if not move:
        return None
    names = {f"#a{i}": k for i, k in enumerate(move.adds)}
    values: dict[str, Any] = {f":a{i}": v for i, v in enumerate(move.adds.values())}
    clauses = []
    if move.last_migration_at:
        names["#last"] = "last_migration_at"
        values[":last"] = move.last_migration_at
        clauses.append("SET #last = :last")
    if move.adds:
        clauses.append("ADD " + ", ".join(f"#a{i} :a{i}" for i in range(len(move.adds))))
    return {
        "Update": {
            "TableName": _plans(),
            "Key": _key(tenant, plan_id, shard),
            "UpdateExpression": " ".join(clauses),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_item(values),
        }
    }


def add_counters(tenant: str, plan_id: str, shard: str, move: CounterMove) -> None:
    item = counter_item(tenant, plan_id, shard, move)
    if item is not None:
        client().update_item(**item["Update"])


# -- page ledgers ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageRef:
    """A page of a work unit of a slice. Its id keys its ledger and state items: slice 0 keeps
    the ids deployments had before canaries (`<unit>#<page>`), a widening's slice n prefixes
    them (`S<nn>#<unit>#<page>`), so two slices' pages of one unit never share an item."""

    slice_index: int
    unit: int
    page: int

    @property
    def page_id(self) -> str:
        base = f"{self.unit:06d}#{self.page:06d}"
        return base if self.slice_index == 0 else f"S{self.slice_index:02d}#{base}"

    @staticmethod
    def slice_of(page_id: str) -> int:
        """The slice of a page id (`S<nn>#...`; slice 0's ids have no prefix)."""
        return int(page_id[1:3]) if page_id.startswith("S") else 0


def page_sk(page_id: str) -> str:
    return f"{PAGE_PREFIX}{page_id}"


def state_sk(page_id: str) -> str:
    return f"{STATE_PREFIX}{page_id}"


def claim_page(
    tenant: str, plan_id: str, page_id: str, entries: list[list[str]], next_cursor: Any
) -> tuple[dict, bool]:
    """Fix the page's membership, [session id, step id] pairs, on first claim; later attempts get
    the first claim back (and False: not a fresh claim)."""
    item = {
        "pk": keys.plan_pk(tenant, plan_id),
        "sk": page_sk(page_id),
        "entries": entries,
        "next_cursor": next_cursor,
        "last_page": next_cursor is None,
    }
    try:
        client().put_item(
            TableName=_plans(), Item=to_item(item), ConditionExpression="attribute_not_exists(pk)"
        )
        return {k: v for k, v in item.items() if v is not None}, True
    except ClientError as exc:
        if not is_condition_failure(exc):
            raise
    found = client().get_item(
        TableName=_plans(), Key=_key(tenant, plan_id, page_sk(page_id)), ConsistentRead=True
    )
    return from_item(found["Item"]), False


def page_state(tenant: str, plan_id: str, page_id: str) -> str | None:
    """The page's state (None while only claimed)."""
    item = (
        client()
        .get_item(TableName=_plans(), Key=_key(tenant, plan_id, state_sk(page_id)), ConsistentRead=True)
        .get("Item")
    )
    return from_item(item)["state"] if item else None


def commit_page(
    tenant: str, plan_id: str, page: PageRef, marked: int, *, last_page: bool, shards: int
) -> bool:
    """Add the page's count once (False if an earlier attempt already did, or a cancel settled
    the page first), to the plan's counters and its slice's. Writes a small state item, never the
    ledger's list of sessions again."""
    adds = {"sessions_marked": marked, slice_counter("sessions_marked", page.slice_index): marked}
    if last_page:
        adds |= {"units_done": 1, slice_counter("units_done", page.slice_index): 1}
    move = counter_item(
        tenant,
        plan_id,
        counter_shard(page.page_id, shards),
        CounterMove({k: v for k, v in adds.items() if v}),
    )
    state = {
        "Put": {
            "TableName": _plans(),
            "Item": to_item(
                {
                    "pk": keys.plan_pk(tenant, plan_id),
                    "sk": state_sk(page.page_id),
                    "state": PageState.COUNTED,
                    "marked": marked,
                }
            ),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }
    return _first_time([state, *([move] if move else [])])


def fence_item(tenant: str, plan_id: str, page_id: str) -> dict[str, Any]:
    """A transaction item that holds while the page has no state: each marker transaction of the
    page carries it, so no marker of the page lands once it was counted or closed by a cancel."""
    return {
        "ConditionCheck": {
            "TableName": _plans(),
            "Key": _key(tenant, plan_id, state_sk(page_id)),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


def close_page(tenant: str, plan_id: str, page_id: str) -> str:
    """Close an uncounted page to marking (a cancel reached it): its state becomes `closing`
    unless it has one already (its worker's commit came first). Returns the page's state."""
    item = {"pk": keys.plan_pk(tenant, plan_id), "sk": state_sk(page_id), "state": PageState.CLOSING}
    try:
        client().put_item(
            TableName=_plans(), Item=to_item(item), ConditionExpression="attribute_not_exists(pk)"
        )
    except ClientError as exc:
        if not is_condition_failure(exc):
            raise
        found = page_state(tenant, plan_id, page_id)
        assert found is not None  # a state item goes only with its plan
        return found
    return PageState.CLOSING


def list_pages(tenant: str, plan_id: str, start: Any, limit: int) -> tuple[list[dict], Any]:
    """A page of ledgers (their membership items), with their states."""
    response = client().query(
        TableName=_plans(),
        KeyConditionExpression="pk = :pk AND begins_with(sk, :page)",
        ExpressionAttributeValues=to_item({":pk": keys.plan_pk(tenant, plan_id), ":page": PAGE_PREFIX}),
        Limit=limit,
        ConsistentRead=True,
        **({"ExclusiveStartKey": start} if start else {}),
    )
    ledgers = [from_item(item) for item in response["Items"]]
    states = _states(tenant, plan_id, [ledger["sk"].removeprefix(PAGE_PREFIX) for ledger in ledgers])
    for ledger in ledgers:
        ledger["page_id"] = ledger["sk"].removeprefix(PAGE_PREFIX)
        ledger["state"] = states.get(ledger["page_id"])
    return ledgers, response.get("LastEvaluatedKey")


def page_key(tenant: str, plan_id: str, page_id: str) -> dict[str, Any]:
    """The key of a page's ledger, as `list_pages` takes it to start after that page."""
    return _key(tenant, plan_id, page_sk(page_id))


def _states(tenant: str, plan_id: str, page_ids: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    request: dict[str, Any] = {
        _plans(): {"Keys": [_key(tenant, plan_id, state_sk(p)) for p in page_ids], "ConsistentRead": True}
    }
    while page_ids and request:
        response = client().batch_get_item(RequestItems=request)
        for item in map(from_item, response["Responses"].get(_plans(), [])):
            found[item["sk"].removeprefix(STATE_PREFIX)] = item["state"]
        request = response.get("UnprocessedKeys") or {}
    return found


def settle_unmarked_page(
    tenant: str, plan_id: str, page_id: str, counts: tuple[int, int], *, counted: bool, shards: int
) -> bool:
    """Record a cancelled page's counts once: `counts` is (sessions bearing the page's marker,
    of those unmarked). A page its worker counted adds the unmarked ones to `sessions_unmarked`;
    one a cancel closed before its count (`closing`) adds both, the page's count coming with the
    cancel's, so every marker a page wrote is counted once, whoever ends the page."""
    marked, unmarked = counts
    state = {
        "Update": {
            "TableName": _plans(),
            "Key": _key(tenant, plan_id, state_sk(page_id)),
            "UpdateExpression": "SET #st = :unmarked, unmarked = :n",
            "ConditionExpression": "#st = :was",
            "ExpressionAttributeNames": {"#st": "state"},
            "ExpressionAttributeValues": to_item(
                {
                    ":unmarked": PageState.UNMARKED,
                    ":n": unmarked,
                    ":was": PageState.COUNTED if counted else PageState.CLOSING,
                }
            ),
        }
    }
    # a page the cancel closed counts its markers as marked here, in its slice's count too
    in_slice = slice_counter("sessions_marked", PageRef.slice_of(page_id))
    adds = {"sessions_unmarked": unmarked} | (
        {} if counted else {"sessions_marked": marked, in_slice: marked}
    )
    move = counter_item(
        tenant, plan_id, counter_shard(page_id, shards), CounterMove({k: v for k, v in adds.items() if v})
    )
    return _first_time([state, *([move] if move else [])])


def _first_time(items: list[dict[str, Any]]) -> bool:
    """Run a transaction whose first item's condition makes it happen once; False if it had."""
    try:
        client().transact_write_items(TransactItems=items)
    except ClientError as exc:
        if cancellation_reasons(exc)[:1] == ["ConditionalCheckFailed"]:
            return False
        raise
    return True


# -- operators' actions ------------------------------------------------------------------------------------


def action_item(tenant: str, plan_id: str, action: OperatorAction) -> dict[str, Any]:
    """A transaction item recording an operator's action on the plan (never overwritten). Its key
    orders actions by when they were taken: `at` has whole seconds, and two widenings may come
    within one (their key clashed, and the second was refused), so the nanosecond clock follows."""
    item = {
        "pk": keys.plan_pk(tenant, plan_id),
        "sk": f"{ACTION_PREFIX}{action.at}#{time.time_ns():020d}#{action.action}",
        **action.model_dump(mode="json"),
    }
    return {
        "Put": {
            "TableName": _plans(),
            "Item": to_item(item),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


def list_actions(tenant: str, plan_id: str) -> list[OperatorAction]:
    """The plan's recorded actions, oldest first (a handful: one per widening or rollback)."""
    pages = (
        client()
        .get_paginator("query")
        .paginate(
            TableName=_plans(),
            KeyConditionExpression="pk = :pk AND begins_with(sk, :a)",
            ExpressionAttributeValues=to_item({":pk": keys.plan_pk(tenant, plan_id), ":a": ACTION_PREFIX}),
            ConsistentRead=True,
        )
    )
    return [OperatorAction.model_validate(from_item(item)) for page in pages for item in page["Items"]]


# -- sessions waiting on the customer ----------------------------------------------------------------------


def waiting_put_item(tenant: str, plan_id: str, session_id: str, by_fanout: bool) -> dict[str, Any]:
    """A transaction item listing a session as waiting on the customer under this plan (so that
    a cancel can settle it, whether or not the fan-out had marked it)."""
    item = {
        "pk": keys.plan_pk(tenant, plan_id),
        "sk": f"{WAIT_PREFIX}{session_id}",
        "session_id": session_id,
        "by_fanout": by_fanout,
    }
    return {"Put": {"TableName": _plans(), "Item": to_item(item)}}


def waiting_delete_item(
    tenant: str, plan_id: str, session_id: str, *, must_exist: bool = False
) -> dict[str, Any]:
    delete: dict[str, Any] = {
        "TableName": _plans(),
        "Key": _key(tenant, plan_id, f"{WAIT_PREFIX}{session_id}"),
    }
    if must_exist:
        delete["ConditionExpression"] = "attribute_exists(pk)"
    return {"Delete": delete}


def list_waiting(tenant: str, plan_id: str, start: Any, limit: int) -> tuple[list[dict], Any]:
    response = client().query(
        TableName=_plans(),
        KeyConditionExpression="pk = :pk AND begins_with(sk, :w)",
        ExpressionAttributeValues=to_item({":pk": keys.plan_pk(tenant, plan_id), ":w": WAIT_PREFIX}),
        Limit=limit,
        ConsistentRead=True,
        **({"ExclusiveStartKey": start} if start else {}),
    )
    return [from_item(item) for item in response["Items"]], response.get("LastEvaluatedKey")
