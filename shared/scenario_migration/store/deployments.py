"""Deployment state: the start of a deploy, counters, page ledgers and session markers.

Exactly-once marking at about one write request per hundred marked sessions: the first attempt
at a page of a work unit claims a ledger item holding the page's session ids. Every attempt
(redelivery, a concurrent duplicate, a retry after a crash) marks from that same list with
conditional writes (transactions of up to 100) that stamp the page id into the marker, so
"marked by this page" is a fact stored on the session.
The page's count is then added once, in a transaction that also moves the ledger from `claimed`
to `counted`. See docs/architecture.md.
"""

from typing import Any

from botocore.exceptions import ClientError

from scenario_migration.domain.lifecycle import PlanStatus
from scenario_migration.errors import Conflict
from scenario_migration.store import keys
from scenario_migration.store import plans as plan_store
from scenario_migration.store import scenarios as scenario_store
from scenario_migration.store import sessions as session_store
from scenario_migration.store.dynamodb import (
    cancellation_reasons,
    client,
    from_item,
    is_condition_failure,
    to_item,
)

COUNTERS_SK = "COUNTERS"
COUNTER_FIELDS = (
    "sessions_marked",
    "sessions_unmarked",
    "marked_resolved",
    "migrations_applied",
    "migrated_clean_graft",
    "migrated_gap_fill",
    "migrated_re_route",
    "checkpoint_blocks",
    "sessions_kept",
    "sessions_awaiting_input",
    "units_total",
    "units_done",
)


def _plans() -> str:
    return plan_store._table()


def _key(tenant: str, plan_id: str, sk: str) -> dict[str, Any]:
    return to_item({"pk": keys.plan_pk(tenant, plan_id), "sk": sk})


def ledger_sk(page_id: str) -> str:
    return f"PAGE#{page_id}"


# -- deploy and its counters -------------------------------------------------------------------


def begin_deploy(
    tenant: str, plan: Any, sources: frozenset[PlanStatus], units_total: int, deployed_at: str
) -> None:
    """One transaction: the plan becomes `deploying`, the scenario's active version moves from
    the plan's source to its target, and the counters start at zero."""
    values = {":from": plan.from_version, ":to": plan.to_version, ":plan": plan.id, ":at": deployed_at}
    statuses = {f":s{i}": s.value for i, s in enumerate(sorted(sources))}
    counters = {name: 0 for name in COUNTER_FIELDS} | {"units_total": units_total}
    items = [
        {
            "Update": {
                "TableName": _plans(),
                "Key": _key(tenant, plan.id, keys.PLAN_SK),
                "UpdateExpression": "SET #s = :deploying, deployed_at = :at, updated_at = :at",
                "ConditionExpression": f"#s IN ({', '.join(statuses)})",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": to_item(
                    {":deploying": PlanStatus.DEPLOYING.value, ":at": deployed_at, **statuses}
                ),
            }
        },
        {
            "Update": {
                "TableName": scenario_store._table(),
                "Key": to_item({"pk": keys.scenario_pk(tenant, plan.scenario_id), "sk": keys.ACTIVE_SK}),
                "UpdateExpression": "SET active_version = :to, plan_id = :plan, updated_at = :at",
                "ConditionExpression": "active_version = :from",
                "ExpressionAttributeValues": to_item(values),
            }
        },
        {
            "Put": {
                "TableName": _plans(),
                "Item": to_item({"pk": keys.plan_pk(tenant, plan.id), "sk": COUNTERS_SK, **counters}),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
    ]
    try:
        client().transact_write_items(TransactItems=items)
    except ClientError as exc:
        reasons = cancellation_reasons(exc)
        if reasons and reasons[0] == "ConditionalCheckFailed":
            current = plan_store.get_plan(tenant, plan.id)
            raise Conflict(
                f"the plan is {current.status.value}: it cannot be deployed", {"status": current.status.value}
            ) from None
        if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
            raise Conflict("the scenario's active version is no longer the plan's source version") from None
        raise


def counters(tenant: str, plan_id: str) -> dict[str, Any]:
    item = (
        client()
        .get_item(TableName=_plans(), Key=_key(tenant, plan_id, COUNTERS_SK), ConsistentRead=True)
        .get("Item")
    )
    return from_item(item) if item else {}


def add_units(tenant: str, plan_id: str, units: int) -> None:
    client().update_item(
        TableName=_plans(),
        Key=_key(tenant, plan_id, COUNTERS_SK),
        UpdateExpression="ADD units_total :n",
        ExpressionAttributeValues=to_item({":n": units}),
    )


# -- page ledgers --------------------------------------------------------------------------------


def claim_page(tenant: str, plan_id: str, page_id: str, session_ids: list[str], next_cursor: Any) -> dict:
    """Fix the page's membership on first claim; later attempts get the first claim back."""
    item = {
        "pk": keys.plan_pk(tenant, plan_id),
        "sk": ledger_sk(page_id),
        "state": "claimed",
        "session_ids": session_ids,
        "next_cursor": next_cursor,
        "last_page": next_cursor is None,
    }
    try:
        client().put_item(
            TableName=_plans(), Item=to_item(item), ConditionExpression="attribute_not_exists(pk)"
        )
        return {k: v for k, v in item.items() if v is not None}
    except ClientError as exc:
        if not is_condition_failure(exc):
            raise
    return get_ledger(tenant, plan_id, page_id) or {}


def get_ledger(tenant: str, plan_id: str, page_id: str) -> dict | None:
    item = (
        client()
        .get_item(TableName=_plans(), Key=_key(tenant, plan_id, ledger_sk(page_id)), ConsistentRead=True)
        .get("Item")
    )
    return from_item(item) if item else None


def commit_page(tenant: str, plan_id: str, page_id: str, marked: int, last_page: bool) -> bool:
    """Add the page's count once (False if an earlier attempt already did)."""
    adds = "ADD sessions_marked :n" + (", units_done :one" if last_page else "")
    try:
        client().transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": _plans(),
                        "Key": _key(tenant, plan_id, ledger_sk(page_id)),
                        "UpdateExpression": "SET #st = :counted, marked = :n",
                        "ConditionExpression": "#st = :claimed",
                        "ExpressionAttributeNames": {"#st": "state"},
                        "ExpressionAttributeValues": to_item(
                            {":counted": "counted", ":claimed": "claimed", ":n": marked}
                        ),
                    }
                },
                {
                    "Update": {
                        "TableName": _plans(),
                        "Key": _key(tenant, plan_id, COUNTERS_SK),
                        "UpdateExpression": adds,
                        "ExpressionAttributeValues": to_item(
                            {":n": marked, **({":one": 1} if last_page else {})}
                        ),
                    }
                },
            ]
        )
    except ClientError as exc:
        if cancellation_reasons(exc)[:1] == ["ConditionalCheckFailed"]:
            return False
        raise
    return True


def list_ledgers(tenant: str, plan_id: str, start: Any, limit: int) -> tuple[list[dict], Any]:
    response = client().query(
        TableName=_plans(),
        KeyConditionExpression="pk = :pk AND begins_with(sk, :page)",
        ExpressionAttributeValues=to_item({":pk": keys.plan_pk(tenant, plan_id), ":page": "PAGE#"}),
        Limit=limit,
        **({"ExclusiveStartKey": start} if start else {}),
    )
    return [from_item(item) for item in response["Items"]], response.get("LastEvaluatedKey")


def settle_unmarked_page(tenant: str, plan_id: str, page_id: str, unmarked: int) -> bool:
    """Add a cancelled page's unmarked count once."""
    try:
        client().transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": _plans(),
                        "Key": _key(tenant, plan_id, ledger_sk(page_id)),
                        "UpdateExpression": "SET #st = :unmarked, unmarked = :n",
                        "ConditionExpression": "#st IN (:claimed, :counted)",
                        "ExpressionAttributeNames": {"#st": "state"},
                        "ExpressionAttributeValues": to_item(
                            {
                                ":unmarked": "unmarked",
                                ":claimed": "claimed",
                                ":counted": "counted",
                                ":n": unmarked,
                            }
                        ),
                    }
                },
                {
                    "Update": {
                        "TableName": _plans(),
                        "Key": _key(tenant, plan_id, COUNTERS_SK),
                        "UpdateExpression": "ADD sessions_unmarked :n",
                        "ExpressionAttributeValues": to_item({":n": unmarked}),
                    }
                },
            ]
        )
    except ClientError as exc:
        if cancellation_reasons(exc)[:1] == ["ConditionalCheckFailed"]:
            return False
        raise
    return True


# -- markers on sessions ---------------------------------------------------------------------------


TRANSACTION_ITEMS = 100  # TransactWriteItems' limit


def mark_sessions(
    tenant: str, session_ids: list[str], marker: dict[str, Any], from_version: int, step_id: str
) -> dict[str, str]:
    """Mark up to 100 sessions with one transaction of conditional updates: each session must be
    live, still at (from_version, step_id) and not yet marked for this plan.

    Returns each session's outcome: "marked", "ours" (an earlier attempt of the same page marked
    it) or "skipped". A transaction is all or nothing, so when some conditions fail (a session
    moved or closed since the page was read), those sessions are classified from the old item
    DynamoDB returns and the rest go again in a new transaction: at most one request per
    session, usually one per chunk. Any other cancellation (a conflict with the session's own
    JIT write, throttling) is raised: the SQS message is redelivered and marks from the same
    ledger, so nothing is counted twice."""
    outcomes: dict[str, str] = {}
    pending = list(dict.fromkeys(session_ids))  # one action per item per transaction
    if len(pending) > TRANSACTION_ITEMS:
        raise ValueError(f"at most {TRANSACTION_ITEMS} sessions per transaction, got {len(pending)}")
    while pending:
        try:
            client().transact_write_items(
                TransactItems=[_marker_update(tenant, sid, marker, from_version, step_id) for sid in pending]
            )
        except ClientError as exc:
            pending = _settle_failed_conditions(exc, pending, marker["page_id"], outcomes)
        else:
            outcomes |= dict.fromkeys(pending, "marked")
            pending = []
    return outcomes


def _marker_update(
    tenant: str, session_id: str, marker: dict[str, Any], from_version: int, step_id: str
) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": session_store._table(),
            "Key": to_item({"pk": keys.session_pk(tenant, session_id), "sk": keys.SESSION_SK}),
            "UpdateExpression": "SET marker = :m",
            "ConditionExpression": (
                "attribute_exists(position_pk) AND scenario_version = :v AND current_step_id = :step "
                "AND (attribute_not_exists(marker) OR marker.plan_id <> :plan)"
            ),
            "ExpressionAttributeValues": to_item(
                {":m": marker, ":v": from_version, ":step": step_id, ":plan": marker["plan_id"]}
            ),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def _settle_failed_conditions(
    exc: ClientError, pending: list[str], page_id: str, outcomes: dict[str, str]
) -> list[str]:
    """Classify the sessions whose condition failed; the ones to try again (raises `exc` when the
    transaction was cancelled for anything but failed conditions, so the loop always shrinks)."""
    codes = cancellation_reasons(exc)
    if len(codes) != len(pending) or set(codes) - {"None"} != {"ConditionalCheckFailed"}:
        raise exc
    retry = []
    for session_id, code, reason in zip(pending, codes, exc.response["CancellationReasons"], strict=True):
        if code != "ConditionalCheckFailed":
            retry.append(session_id)
            continue
        old = from_item(reason.get("Item") or {}).get("marker") or {}
        outcomes[session_id] = "ours" if old.get("page_id") == page_id else "skipped"
    return retry


def unmark_session(tenant: str, session_id: str, plan_id: str) -> bool:
    """Remove a pending marker of this plan; False if there is none (migrated or never marked)."""
    try:
        client().update_item(
            TableName=session_store._table(),
            Key=to_item({"pk": keys.session_pk(tenant, session_id), "sk": keys.SESSION_SK}),
            UpdateExpression="REMOVE marker",
            ConditionExpression="marker.plan_id = :plan AND marker.#st = :pending",
            ExpressionAttributeNames={"#st": "state"},
            ExpressionAttributeValues=to_item({":plan": plan_id, ":pending": "pending"}),
        )
    except ClientError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def sessions_at(
    tenant: str, partition: tuple[str, int, int], step: tuple[str, str], *, cursor: Any, page_size: int
) -> tuple[list[dict[str, Any]], Any]:
    """One page of the live sessions at (step hash, step id) in one shard of a version."""
    scenario_id, version, shard = partition
    step_hash, step_id = step
    response = client().query(
        TableName=session_store._table(),
        IndexName=session_store.POSITION_INDEX,
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


def counter_update(
    tenant: str, plan_id: str, adds: dict[str, int], sets: dict[str, Any]
) -> dict[str, Any] | None:
    """A transaction item moving a plan's counters (for the JIT's atomic write), or None when
    there is nothing to move: DynamoDB rejects an empty update expression and empty name or
    value maps. A set to None is left out (its placeholder would be undefined)."""
    sets = {k: v for k, v in sets.items() if v is not None}
    if not adds and not sets:
        return None
    names = {f"#a{i}": k for i, k in enumerate(adds)} | {f"#s{i}": k for i, k in enumerate(sets)}
    values = {f":a{i}": v for i, v in enumerate(adds.values())} | {
        f":s{i}": v for i, v in enumerate(sets.values())
    }
    clauses = []
    if sets:
        clauses.append("SET " + ", ".join(f"#s{i} = :s{i}" for i in range(len(sets))))
    if adds:
        clauses.append("ADD " + ", ".join(f"#a{i} :a{i}" for i in range(len(adds))))
    return {
        "Update": {
            "TableName": _plans(),
            "Key": _key(tenant, plan_id, COUNTERS_SK),
            "UpdateExpression": " ".join(clauses),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_item(values),
        }
    }
