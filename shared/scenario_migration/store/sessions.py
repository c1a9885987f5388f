"""Live sessions (SessionsTable): positions reported by the runtime, the position index, audit.

A session is findable by position only while it is live: closing it removes `position_pk`,
which drops it from the sparse `by_position` index (so neither census nor marking sees it).
"""

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

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


def _table() -> str:
    return table_name(TABLE_ENV)


def put_position(tenant: str, session_id: str, position: dict[str, Any], live: bool) -> dict[str, Any]:
    """Record where the runtime says the session is; keeps any marker and bumps `revision`.

    `position` holds plain attributes (scenario_id, scenario_version, current_step_id,
    step_hash, ...). The index keys are derived here, so they can never disagree with it.
    """
    values = {name: value for name, value in position.items() if value is not None}
    if live:
        shard = keys.position_shard(session_id)
        values["position_pk"] = keys.position_pk(
            tenant, position["scenario_id"], position["scenario_version"], shard
        )
        values["position_sk"] = keys.position_sk(
            position["step_hash"], position["current_step_id"], session_id
        )
    names = {f"#f{i}": name for i, name in enumerate(values)}
    sets = [f"#f{i} = :v{i}" for i in range(len(values))]
    sets.append("revision = if_not_exists(revision, :zero) + :one")
    if "created_at" not in values:  # first report without a start time: the session starts now
        sets.append("created_at = if_not_exists(created_at, :created)")
    update = "SET " + ", ".join(sets) + ("" if live else " REMOVE position_pk, position_sk")
    try:
        response = client().update_item(
            TableName=_table(),
            Key=to_item({"pk": keys.session_pk(tenant, session_id), "sk": keys.SESSION_SK}),
            UpdateExpression=update,
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
    return from_item(response["Attributes"])


def get_session(tenant: str, session_id: str) -> dict[str, Any] | None:
    item = (
        client()
        .get_item(
            TableName=_table(),
            Key=to_item({"pk": keys.session_pk(tenant, session_id), "sk": keys.SESSION_SK}),
            ConsistentRead=True,
        )
        .get("Item")
    )
    return from_item(item) if item else None


def census(tenant: str, scenario_id: str, version: int) -> Counter[str]:
    """Live sessions per step id of one scenario version (all shards read in parallel)."""
    shards = range(keys.POSITION_SHARDS)
    with ThreadPoolExecutor(max_workers=keys.POSITION_SHARDS) as pool:
        counts = pool.map(
            lambda shard: _count_shard(keys.position_pk(tenant, scenario_id, version, shard)), shards
        )
    return sum(counts, Counter())


def _count_shard(pk: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    pages = (
        client()
        .get_paginator("query")
        .paginate(
            TableName=_table(),
            IndexName=POSITION_INDEX,
            KeyConditionExpression="position_pk = :pk",
            ExpressionAttributeValues=to_item({":pk": pk}),
            ProjectionExpression="position_sk",
        )
    )
    for page in pages:
        for item in page["Items"]:
            _, step_id, _ = item["position_sk"]["S"].split("#", 2)
            counts[step_id] += 1
    return counts


def list_migrations(tenant: str, session_id: str) -> list[dict[str, Any]]:
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
    return [from_item(item) for page in pages for item in page["Items"]]


class StaleSession(Exception):
    """The session changed since it was read (another invocation applied first)."""


def write_outcome(
    tenant: str,
    session: dict[str, Any],
    changes: dict[str, Any],
    counters: tuple[str, dict[str, int], dict[str, Any]] | None,
    audit: dict[str, Any] | None,
) -> None:
    """One atomic write: the session's new state (conditional on the revision read), the plan's
    counters and the audit record. Raises StaleSession if the session moved on meanwhile."""
    from scenario_migration.store import deployments  # noqa: PLC0415 - avoids an import cycle

    session_id = session["session_id"]
    values = {k: v for k, v in changes.items() if v is not None}
    if changes.get("live", True) and "scenario_version" in values:
        shard = keys.position_shard(session_id)
        values["position_pk"] = keys.position_pk(
            tenant, session["scenario_id"], values["scenario_version"], shard
        )
        values["position_sk"] = keys.position_sk(values["step_hash"], values["current_step_id"], session_id)
    values.pop("live", None)
    names = {f"#f{i}": name for i, name in enumerate(values)}
    sets = [f"#f{i} = :v{i}" for i in range(len(values))] + ["revision = revision + :one"]
    update: dict[str, Any] = {
        "TableName": _table(),
        "Key": to_item({"pk": keys.session_pk(tenant, session_id), "sk": keys.SESSION_SK}),
        "UpdateExpression": "SET " + ", ".join(sets),
        "ConditionExpression": "revision = :rev",
        "ExpressionAttributeValues": to_item(
            {**{f":v{i}": v for i, v in enumerate(values.values())}, ":one": 1, ":rev": session["revision"]}
        ),
    }
    if names:  # DynamoDB rejects an empty ExpressionAttributeNames (moto accepts it)
        update["ExpressionAttributeNames"] = names
    items: list[dict[str, Any]] = [{"Update": update}]
    counter_item = deployments.counter_update(tenant, *counters) if counters else None
    if counter_item:
        items.append(counter_item)
    if audit:
        item = {
            "pk": keys.session_pk(tenant, session_id),
            "sk": keys.migration_sk(audit["at"], audit["plan_id"]),
            **audit,
        }
        items.append({"Put": {"TableName": _table(), "Item": to_item(item)}})
    try:
        client().transact_write_items(TransactItems=items)
    except client().exceptions.TransactionCanceledException as exc:
        reasons = cancellation_reasons(exc)
        if reasons[:1] == ["ConditionalCheckFailed"] or "TransactionConflict" in reasons:
            raise StaleSession(session_id) from None
        raise


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
