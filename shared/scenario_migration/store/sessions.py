"""Live sessions (SessionsTable): every write of a session item, the position index, markers,
the JIT's atomic write and audit records. The only module that writes session items.

A session is findable by position only while it is live: closing it removes `position_pk`,
which drops it from the sparse `by_position` index (so neither census nor marking sees it).
Every write bumps `revision`, markers included: a JIT transaction conditional on the revision it
read then conflicts with a marker written since, instead of overwriting it.
"""

import contextvars
import json
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from scenario_migration.domain.session import AuditRecord, Marker, MarkerState, Session
from scenario_migration.errors import PayloadTooLarge
from scenario_migration.store import keys
from scenario_migration.store.dynamodb import (
    cancellation_reasons,
    client,
    from_item,
    is_item_too_large,
    table_name,
    to_item,
)

TABLE_ENV = "SESSIONS_TABLE"
POSITION_INDEX = "by_position"
TRANSACTION_ITEMS = 100  # TransactWriteItems' limit
MARKS_PER_TRANSACTION = TRANSACTION_ITEMS - 1  # and the page's fence (see `mark`)
BATCH_GET_KEYS = 100  # BatchGetItem's limit
_SETTLE_MARKER = "SET marker.#st = :unmarked, marker.resolved_at = :at, revision = revision + :one"


def _table() -> str:
    return table_name(TABLE_ENV)


def _key(tenant: str, session_id: str) -> dict[str, Any]:
    return to_item({"pk": keys.session_pk(tenant, session_id), "sk": keys.SESSION_SK})


def session_of(item: dict[str, Any]) -> Session:
    """A stored item as the domain's Session (variables are stored as one JSON string)."""
    return Session.model_validate({**item, "variables": json.loads(item.get("variables_json") or "{}")})


def _index_keys(tenant: str, session_id: str, scenario_id: str, version: int, step: tuple[str, str]) -> dict:
    shard = keys.position_shard(session_id)
    return {
        "position_pk": keys.position_pk(tenant, scenario_id, version, shard),
        "position_sk": keys.position_sk(step[0], step[1], session_id),
    }


# -- position reports ------------------------------------------------------------------------------


def put_position(
    tenant: str, session_id: str, position: dict[str, Any], live: bool, expires_at: int | None = None
) -> Session:
    """Record where the runtime says the session is; keeps any marker and bumps `revision`.

    `position` holds plain attributes (scenario_id, scenario_version, current_step_id,
    step_hash, ...). The index keys are derived here, so they can never disagree with it. A
    closed session leaves the index and gets `expires_at` (its personal data expires); a live
    one loses any `expires_at`."""
    values = {name: value for name, value in position.items() if value is not None}
    if live:
        step = (position["step_hash"], position["current_step_id"])
        values |= _index_keys(tenant, session_id, position["scenario_id"], position["scenario_version"], step)
    elif expires_at is not None:
        values["expires_at"] = expires_at
    names = {f"#f{i}": name for i, name in enumerate(values)}
    sets = [f"#f{i} = :v{i}" for i in range(len(values))]
    sets.append("revision = if_not_exists(revision, :zero) + :one")
    if "created_at" not in values:  # first report without a start time: the session starts now
        sets.append("created_at = if_not_exists(created_at, :created)")
    removes = "position_pk, position_sk" if not live else "expires_at"
    try:
        response = client().update_item(
            TableName=_table(),
            Key=_key(tenant, session_id),
            UpdateExpression="SET " + ", ".join(sets) + " REMOVE " + removes,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=to_item(
                {
                    **{f":v{i}": v for i, v in enumerate(values.values())},
                    ":zero": 0,
                    ":one": 1,
                    **({} if "created_at" in values else {":created": position["last_activity_at"]}),
                }
            ),
            ReturnValues="ALL_NEW",
        )
    except ClientError as exc:
        if is_item_too_large(exc):  # a 413 for the caller, not a ValidationException (500)
            raise PayloadTooLarge(
                "the session (variables, visited steps) exceeds what DynamoDB stores in one item (400 KB)",
                {"session_id": session_id},
            ) from None
        raise
    return session_of(from_item(response["Attributes"]))


def get(tenant: str, session_id: str) -> Session | None:
    item = (
        client().get_item(TableName=_table(), Key=_key(tenant, session_id), ConsistentRead=True).get("Item")
    )
    return session_of(from_item(item)) if item else None


def get_many(tenant: str, session_ids: list[str]) -> dict[str, Session]:
    """Sessions by id, BATCH_GET_KEYS per BatchGetItem request (consistent, as JIT reads them);
    the ids not found are absent from the answer. Unprocessed keys are asked again."""
    found: dict[str, Session] = {}
    unique = list(dict.fromkeys(session_ids))
    for start in range(0, len(unique), BATCH_GET_KEYS):
        chunk = unique[start : start + BATCH_GET_KEYS]
        request: dict[str, Any] = {
            _table(): {"Keys": [_key(tenant, sid) for sid in chunk], "ConsistentRead": True}
        }
        while request:
            response = client().batch_get_item(RequestItems=request)
            for item in response["Responses"].get(_table(), []):
                session = session_of(from_item(item))
                found[session.session_id] = session
            request = response.get("UnprocessedKeys") or {}
    return found


# -- the position index ---------------------------------------------------------------------------------


def census(
    tenant: str, scenario_id: str, version: int, key: Callable[[dict[str, Any]], str | None] | None = None
) -> Counter[str]:
    """Live sessions of one scenario version, counted per step id, or per `key(entry)` of each
    index entry (`step_id`, `session_id`, `channel`, `created_at`; None: not counted). All shards are read in
    parallel, each in a copy of the caller's context: the request's identity, hence its
    tenant-scoped client, goes with it."""
    pks = [keys.position_pk(tenant, scenario_id, version, shard) for shard in range(keys.POSITION_SHARDS)]
    contexts = [contextvars.copy_context() for _ in pks]
    count = partial(_count_shard, key=key)
    with ThreadPoolExecutor(max_workers=keys.POSITION_SHARDS) as pool:
        counts = pool.map(lambda job: job[0].run(count, job[1]), zip(contexts, pks, strict=True))
    return sum(counts, Counter())


def _count_shard(pk: str, key: Callable[[dict[str, Any]], str | None] | None) -> Counter[str]:
    counts: Counter[str] = Counter()
    pages = (
        client()
        .get_paginator("query")
        .paginate(
            TableName=_table(),
            IndexName=POSITION_INDEX,
            KeyConditionExpression="position_pk = :pk",
            ExpressionAttributeValues=to_item({":pk": pk}),
            ProjectionExpression="position_sk" if key is None else "position_sk, channel, created_at",
        )
    )
    for page in pages:
        for item in page["Items"]:
            _, step_id, session_id = item["position_sk"]["S"].split("#", 2)
            if key is None:
                counts[step_id] += 1
                continue
            found = key({**from_item(item), "step_id": step_id, "session_id": session_id})
            if found is not None:
                counts[found] += 1
    return counts


def sessions_at(
    tenant: str, partition: tuple[str, int, int], step: tuple[str, str], *, cursor: Any, page_size: int
) -> tuple[list[dict[str, Any]], Any]:
    """One page of the live sessions at (step hash, step id) in one shard of a version: their
    ids, channels and start times (what the index projects)."""
    scenario_id, version, shard = partition
    step_hash, step_id = step
    response = client().query(
        TableName=_table(),
        IndexName=POSITION_INDEX,
        KeyConditionExpression="position_pk = :pk AND begins_with(position_sk, :prefix)",
        ExpressionAttributeValues=to_item(
            {
                ":pk": keys.position_pk(tenant, scenario_id, version, shard),
                ":prefix": f"{step_hash}#{step_id}#",
            }
        ),
        Limit=page_size,
        **({"ExclusiveStartKey": cursor} if cursor else {}),
    )
    return [from_item(item) for item in response["Items"]], response.get("LastEvaluatedKey")


def sessions_in_range(
    tenant: str, partition: tuple[str, int, int], hashes: tuple[str, str], *, cursor: Any, page_size: int
) -> tuple[list[dict[str, Any]], Any]:
    """One page of the live sessions in one shard of a version whose step hashes start with a
    hex digit from hashes[0] to hashes[1]: their ids, steps, channels and start times. A range
    nobody is in costs one empty Query, whatever the number of steps in it."""
    scenario_id, version, shard = partition
    response = client().query(
        TableName=_table(),
        IndexName=POSITION_INDEX,
        KeyConditionExpression="position_pk = :pk AND position_sk BETWEEN :low AND :high",
        ExpressionAttributeValues=to_item(
            {
                ":pk": keys.position_pk(tenant, scenario_id, version, shard),
                ":low": hashes[0],
                ":high": f"{hashes[1]}~",  # "~" sorts after every character of a position_sk
            }
        ),
        Limit=page_size,
        **({"ExclusiveStartKey": cursor} if cursor else {}),
    )
    found = []
    for item in map(from_item, response["Items"]):
        _, step_id, _ = item["position_sk"].split("#", 2)
        found.append({**item, "step_id": step_id})
    return found, response.get("LastEvaluatedKey")


def step_window(
    tenant: str,
    partition: tuple[str, int, int],
    step: tuple[str, str],
    *,
    after: str,
    limit: int,
    last: bool = False,
) -> list[str]:
    """Ids of up to `limit` live sessions at one step in one shard of a version, from the id
    `after` on (sorted by id), or with `last` the highest ids first. One Query: a random sample
    reads windows of the index, never a whole step (services/simulate.py)."""
    scenario_id, version, shard = partition
    prefix = f"{step[0]}#{step[1]}#"
    response = client().query(
        TableName=_table(),
        IndexName=POSITION_INDEX,
        KeyConditionExpression="position_pk = :pk AND position_sk BETWEEN :low AND :high",
        ExpressionAttributeValues=to_item(
            {
                ":pk": keys.position_pk(tenant, scenario_id, version, shard),
                ":low": prefix + ("" if last else after),
                ":high": prefix + "~",  # "~" sorts after every character of a session id
            }
        ),
        ProjectionExpression="position_sk",
        ScanIndexForward=not last,
        Limit=limit,
    )
    return [item["position_sk"]["S"].removeprefix(prefix) for item in response["Items"]]


def has_live_sessions(tenant: str, scenario_id: str, version: int) -> bool:
    """Whether any live session is on this version (one small query per index shard)."""
    for shard in range(keys.POSITION_SHARDS):
        response = client().query(
            TableName=_table(),
            IndexName=POSITION_INDEX,
            KeyConditionExpression="position_pk = :pk",
            ExpressionAttributeValues=to_item({":pk": keys.position_pk(tenant, scenario_id, version, shard)}),
            ProjectionExpression="position_pk",
            Limit=1,
        )
        if response["Items"]:
            return True
    return False


# -- markers, many sessions at a time ----------------------------------------------------------------------


class Written(StrEnum):
    """What a conditional marker write found: it wrote (`done`), an earlier attempt of the same
    page had written it (`ours`), the session bears the page's marker but in another state than
    the write expects (`settled`: JIT applied it, or it waits on the customer), or the session was
    not what the write expected (`skipped`)."""

    DONE = "done"
    OURS = "ours"
    SETTLED = "settled"
    SKIPPED = "skipped"


class PageClosed(Exception):
    """The page's fence stands: it was counted by another attempt, or closed by a cancel. It takes
    no more markers."""


@dataclass(frozen=True)
class MarkTarget:
    """A session to mark, the step it was found on, and its marker."""

    session_id: str
    step_id: str
    marker: Marker


def mark(tenant: str, targets: list[MarkTarget], fence: dict[str, Any]) -> dict[str, Written]:
    """Mark up to MARKS_PER_TRANSACTION sessions with one transaction of conditional updates: each
    session must be live, still at (marker.from_version, its step) and not yet marked for this
    plan; and the page's `fence` (a ConditionCheck: the page has no state yet) must stand, so that
    no marker of a page lands after the page was counted or closed by a cancel (PageClosed).

    A transaction is all or nothing, so when some conditions fail (a session moved or closed
    since the page was read), those sessions are classified from the old item DynamoDB returns
    and the rest go again in a new transaction: at most one request per session, usually one per
    chunk. Any other cancellation (a conflict with the session's own JIT write, throttling) is
    raised: the SQS message is redelivered and marks from the same ledger, so nothing is counted
    twice."""
    if len(targets) > MARKS_PER_TRANSACTION:
        raise ValueError(f"at most {MARKS_PER_TRANSACTION} sessions per transaction, got {len(targets)}")
    marks = {(target.marker.plan_id, target.marker.page_id) for target in targets}
    updates = {target.session_id: _mark_update(target) for target in targets}

    def classify(old: dict[str, Any]) -> Written:
        found = old.get("marker") or {}
        return Written.OURS if (found.get("plan_id"), found.get("page_id")) in marks else Written.SKIPPED

    return _conditional_updates(tenant, updates, classify, fence)


def _mark_update(target: MarkTarget) -> dict[str, Any]:
    marker = target.marker
    values = {
        ":m": marker.model_dump(mode="json", exclude_none=True),
        ":v": marker.from_version,
        ":step": target.step_id,
        ":plan": marker.plan_id,
        ":one": 1,
    }
    return {
        "UpdateExpression": "SET marker = :m, revision = revision + :one",
        "ConditionExpression": (
            "attribute_exists(position_pk) AND scenario_version = :v AND current_step_id = :step "
            "AND (attribute_not_exists(marker) OR marker.plan_id <> :plan)"
        ),
        "ExpressionAttributeValues": to_item(values),
    }


def unmark(tenant: str, session_ids: list[str], plan_id: str, page_id: str, at: str) -> dict[str, Written]:
    """Settle the still-pending markers a fan-out page wrote (a cancelled deployment): they
    become `unmarked` (kept, not removed, so a redelivery recognises its own work). A session
    bearing the page's marker in another state is `settled` (its count matters to a page the
    cancel counts: store/deployments.py `settle_unmarked_page`)."""
    values = {
        ":unmarked": MarkerState.UNMARKED.value,
        ":pending": MarkerState.PENDING.value,
        ":page": page_id,
        ":plan": plan_id,
        ":at": at,
        ":one": 1,
    }
    update = {
        "UpdateExpression": _SETTLE_MARKER,
        "ConditionExpression": "marker.plan_id = :plan AND marker.page_id = :page AND marker.#st = :pending",
        "ExpressionAttributeNames": {"#st": "state"},
        "ExpressionAttributeValues": to_item(values),
    }

    def classify(old: dict[str, Any]) -> Written:
        found = old.get("marker") or {}
        if found.get("page_id") != page_id or found.get("plan_id") != plan_id:
            return Written.SKIPPED
        return Written.OURS if found.get("state") == MarkerState.UNMARKED.value else Written.SETTLED

    return _conditional_updates(tenant, dict.fromkeys(session_ids, update), classify)


Classify = Callable[[dict[str, Any]], Written]


def _conditional_updates(
    tenant: str, updates: dict[str, dict[str, Any]], classify: Classify, fence: dict[str, Any] | None = None
) -> dict[str, Written]:
    """Each session's conditional update (one per session: a transaction refuses two actions on
    one item) and the `fence` if any, in one transaction, again without the sessions whose
    condition failed (`classify` says what each found)."""
    outcomes: dict[str, Written] = {}
    pending = list(updates)
    if len(pending) + (fence is not None) > TRANSACTION_ITEMS:
        raise ValueError(f"at most {TRANSACTION_ITEMS} items per transaction, got {len(pending)} and a fence")
    while pending:
        items = [
            {
                "Update": {
                    "TableName": _table(),
                    "Key": _key(tenant, sid),
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    **updates[sid],
                }
            }
            for sid in pending
        ]
        try:
            client().transact_write_items(TransactItems=[*items, *([fence] if fence else [])])
        except ClientError as exc:
            pending = _settle_failed_conditions(exc, pending, classify, outcomes, fenced=fence is not None)
        else:
            outcomes |= dict.fromkeys(pending, Written.DONE)
            pending = []
    return outcomes


def _settle_failed_conditions(
    exc: ClientError, pending: list[str], classify: Classify, outcomes: dict[str, Written], *, fenced: bool
) -> list[str]:
    """Classify the sessions whose condition failed; the ones to try again (raises `exc` when the
    transaction was cancelled for anything but failed conditions, so the loop always shrinks, and
    PageClosed when the fence failed)."""
    codes = cancellation_reasons(exc)
    if len(codes) != len(pending) + fenced or set(codes) - {"None"} != {"ConditionalCheckFailed"}:
        raise exc
    if fenced and codes[-1] == "ConditionalCheckFailed":
        raise PageClosed from None
    retry = []
    for session_id, code, reason in zip(pending, codes, exc.response["CancellationReasons"], strict=False):
        if code != "ConditionalCheckFailed":
            retry.append(session_id)
            continue
        outcomes[session_id] = classify(from_item(reason.get("Item") or {}))
    return retry


# -- one session's JIT outcome --------------------------------------------------------------------------


class StaleSession(Exception):
    """The session changed since it was read (another invocation, or a marker, came first)."""


def write_outcome(
    tenant: str, before: Session, after: Session, extra: list[dict[str, Any]], audit: AuditRecord | None
) -> None:
    """One atomic write: the session's new state (conditional on the revision read), the items
    other stores add (counters, waiting entries) and the audit record. Raises StaleSession if the
    session moved on meanwhile."""
    items: list[dict[str, Any]] = [{"Update": _outcome_update(tenant, before, after)}, *extra]
    if audit is not None:
        record = _audit_item(tenant, audit, before.revision)
        items.append({"Put": {"TableName": _table(), "Item": to_item(record)}})
    try:
        client().transact_write_items(TransactItems=items)
    except ClientError as exc:
        reasons = cancellation_reasons(exc)
        if reasons[:1] == ["ConditionalCheckFailed"] or "TransactionConflict" in reasons:
            raise StaleSession(before.session_id) from None
        raise


def _outcome_update(tenant: str, before: Session, after: Session) -> dict[str, Any]:
    values: dict[str, Any] = {
        "marker": after.marker.model_dump(mode="json", exclude_none=True) if after.marker else None,
        "last_result": after.last_result.model_dump() if after.last_result else None,
    }
    if after.scenario_version != before.scenario_version:
        values |= {
            "scenario_version": after.scenario_version,
            "current_step_id": after.current_step_id,
            "step_hash": after.step_hash,
            "visited_step_ids": after.visited_step_ids,
            "checkpoints_passed": after.checkpoints_passed,
            "variables_json": json.dumps(after.variables),
            "updated_at": after.updated_at.isoformat() if after.updated_at else None,
        }
        if after.live:
            step = (after.step_hash, after.current_step_id)
            values |= _index_keys(tenant, after.session_id, after.scenario_id, after.scenario_version, step)
    values = {k: v for k, v in values.items() if v is not None}
    names = {f"#f{i}": name for i, name in enumerate(values)}
    update: dict[str, Any] = {
        "TableName": _table(),
        "Key": _key(tenant, before.session_id),
        "UpdateExpression": "SET "
        + ", ".join([*(f"#f{i} = :v{i}" for i in range(len(values))), "revision = revision + :one"]),
        "ConditionExpression": "revision = :rev",
        "ExpressionAttributeValues": to_item(
            {**{f":v{i}": v for i, v in enumerate(values.values())}, ":one": 1, ":rev": before.revision}
        ),
    }
    if names:  # DynamoDB rejects an empty ExpressionAttributeNames (moto accepts it)
        update["ExpressionAttributeNames"] = names
    return update


def settle_waiting(tenant: str, session_id: str, plan_id: str, at: str, extra: list[dict[str, Any]]) -> bool:
    """Settle the marker of a cancelled plan on a session waiting on the customer: it becomes
    `unmarked` (conditional: still this plan's, still waiting), with the other stores' items in
    the same transaction. False when it was not waiting any more (JIT settled it first)."""
    update = {
        "TableName": _table(),
        "Key": _key(tenant, session_id),
        "UpdateExpression": _SETTLE_MARKER,
        "ConditionExpression": "marker.plan_id = :plan AND marker.#st = :waiting",
        "ExpressionAttributeNames": {"#st": "state"},
        "ExpressionAttributeValues": to_item(
            {
                ":unmarked": MarkerState.UNMARKED.value,
                ":waiting": MarkerState.AWAITING_INPUT.value,
                ":plan": plan_id,
                ":at": at,
                ":one": 1,
            }
        ),
    }
    try:
        client().transact_write_items(TransactItems=[{"Update": update}, *extra])
    except ClientError as exc:
        if "ConditionalCheckFailed" in cancellation_reasons(exc):
            return False
        raise
    return True


# -- audit records --------------------------------------------------------------------------------------


def _audit_item(tenant: str, record: AuditRecord, revision: int) -> dict[str, Any]:
    return {
        "pk": keys.session_pk(tenant, record.session_id),
        "sk": keys.migration_sk(record.at, record.plan_id, revision),
        **record.model_dump(mode="json"),
        "filled_fields": json.dumps(record.model_dump(mode="json")["filled_fields"]),
    }


def list_migrations(tenant: str, session_id: str) -> list[AuditRecord]:
    """The session's audit trail, oldest first."""
    pages = (
        client()
        .get_paginator("query")
        .paginate(
            TableName=_table(),
            KeyConditionExpression="pk = :pk AND begins_with(sk, :mig)",
            ExpressionAttributeValues=to_item({":pk": keys.session_pk(tenant, session_id), ":mig": "MIG#"}),
        )
    )
    items = (from_item(item) for page in pages for item in page["Items"])
    return [
        AuditRecord.model_validate({**item, "filled_fields": json.loads(item.get("filled_fields") or "{}")})
        for item in items
    ]
