"""Scenario versions and the pointer to each scenario's active version (ScenariosTable).

A version item (the head) holds the first part of its compressed document, so a small version is
one read. Versions are immutable once written; the `ACTIVE` item moves with compare-and-set.

A write that loses its condition leaves stored data untouched: its other parts go under keys of
its own writer (`V#<version>#W#<writer>#PART#<n>`), the head is written last and conditionally and
names its writer, readers follow only the head. The loser deletes its parts at once (best
effort); parts left by a writer that died are swept by the next write of that version, by the
deletion of the version, and by retention (docs/data-model.md).
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from scenario_migration.clock import isoformat, utcnow
from scenario_migration.errors import Conflict
from scenario_migration.store import documents, keys
from scenario_migration.store.dynamodb import (
    cancellation_reasons,
    client,
    from_item,
    is_condition_failure,
    table_name,
    to_item,
)

log = logging.getLogger(__name__)

TABLE_ENV = "SCENARIOS_TABLE"


@dataclass(frozen=True)
class VersionInfo:
    scenario_id: str
    version: int
    name: str
    created_at: str
    step_count: int


def _table() -> str:
    return table_name(TABLE_ENV)


def _version_items(tenant: str, info: VersionInfo, document: dict[str, Any]) -> tuple[dict, list[dict]]:
    """The head item and the other parts, under a writer of their own."""
    pk = keys.scenario_pk(tenant, info.scenario_id)
    sk = keys.version_sk(info.version)
    parts, writer = documents.encode(document), documents.new_writer()
    head = {
        "pk": pk,
        "sk": sk,
        "tenant_id": tenant,
        "scenario_id": info.scenario_id,
        "version": info.version,
        "name": info.name,
        "created_at": info.created_at,
        "step_count": info.step_count,
        "parts": len(parts),
        "data": parts[0],
        "writer": writer,
        "digest": documents.digest(parts),
    }
    prefix, now = keys.writer_prefix(sk, writer), isoformat(utcnow())
    rest = [
        {"pk": pk, "sk": keys.part_sk(prefix, i), "data": part, "writer": writer, "written_at": now}
        for i, part in enumerate(parts[1:], start=1)
    ]
    return head, rest


def _put_parts(items: list[dict]) -> None:
    for item in items:  # written before the head item, which is what makes a version visible
        client().put_item(TableName=_table(), Item=to_item(item))


def _discard(items: Iterable[dict]) -> None:
    """Best effort: a loser's parts are unreachable (no head names their writer); one that stays
    behind is swept later, so a failure here must not hide the loss being reported."""
    try:
        for item in items:
            client().delete_item(TableName=_table(), Key=to_item({"pk": item["pk"], "sk": item["sk"]}))
    except (ClientError, BotoCoreError) as exc:
        log.warning("orphan parts left for the sweep: %s", exc)


def create_scenario(tenant: str, info: VersionInfo, document: dict[str, Any]) -> None:
    """Register a scenario with its first version, active at once; 409 if it exists (and the
    existing version is left as it was)."""
    head, rest = _version_items(tenant, info, document)
    _put_parts(rest)
    active = {
        "pk": head["pk"],
        "sk": keys.ACTIVE_SK,
        "tenant_id": tenant,
        "scenario_id": info.scenario_id,
        "active_version": info.version,
        "updated_at": info.created_at,
    }
    try:
        client().transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": _table(),
                        "Item": to_item(item),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
                for item in (head, active)
            ]
        )
    except ClientError as exc:
        if "ConditionalCheckFailed" in cancellation_reasons(exc):
            _discard(rest)
            raise Conflict(f"scenario '{info.scenario_id}' already exists") from None
        raise  # outcome unknown (a timeout may have committed): the parts stay, the sweep decides
    sweep_parts(tenant, info.scenario_id, info.version, keep=head["writer"])


def put_version(tenant: str, info: VersionInfo, document: dict[str, Any]) -> bool:
    """Write an immutable version. False if that version exists with this same document (a retried
    deploy); 409 if it exists with another one (two plans to one version number deployed at once:
    the version is the winner's, the loser must not go on to make it active with its own plan)."""
    head, rest = _version_items(tenant, info, document)
    _put_parts(rest)
    try:
        client().put_item(
            TableName=_table(), Item=to_item(head), ConditionExpression="attribute_not_exists(pk)"
        )
    except ClientError as exc:
        if not is_condition_failure(exc):
            raise
        _discard(rest)
        _check_same_document(tenant, info, head["digest"])
        return False
    sweep_parts(tenant, info.scenario_id, info.version, keep=head["writer"])
    return True


# The scenario's latest deployed version: the one the open deployment migrates sessions to. It is
# `active_version` (the version new sessions start on) except during a canary that keeps new
# sessions on the old version, which records it as `target_version` (issue 14).
_LATEST_IS = "((attribute_not_exists(target_version) AND active_version = :from) OR target_version = :from)"


def deploy_active_item(
    tenant: str,
    scenario_id: str,
    versions: tuple[int, int],
    plan_id: str,
    *,
    at: str,
    canary: tuple[int, int],
) -> dict[str, Any]:
    """A transaction item pointing the scenario at a deployment of versions[0] -> versions[1]
    (compare-and-set: the latest version is versions[0] and no canary is open). `canary` is
    (percent, version new sessions start on): a canary below 100 % records its percent, and
    the new version as `target_version` when new sessions stay on the old one."""
    percent, new_sessions_version = canary
    sets = {"active_version": new_sessions_version, "plan_id": plan_id, "updated_at": at}
    if percent < 100:
        sets["canary_percent"] = percent
    if new_sessions_version != versions[1]:
        sets["target_version"] = versions[1]
    removes = [name for name in ("target_version", "canary_percent") if name not in sets]
    return _active_update(
        tenant,
        scenario_id,
        (sets, removes),
        f"{_LATEST_IS} AND attribute_not_exists(canary_percent)",
        {":from": versions[0]},
    )


def widen_active_item(
    tenant: str, scenario_id: str, plan_id: str, percents: tuple[int, int], *, to_version: int, at: str
) -> dict[str, Any]:
    """A transaction item moving the plan's canary from percents[0] to percents[1]
    (compare-and-set on both); at 100 the new version becomes the one new sessions start on."""
    old, new = percents
    if new < 100:
        change: tuple[dict[str, Any], list[str]] = ({"canary_percent": new, "updated_at": at}, [])
    else:
        change = ({"active_version": to_version, "updated_at": at}, ["target_version", "canary_percent"])
    condition = "plan_id = :plan AND canary_percent = :old"
    return _active_update(tenant, scenario_id, change, condition, {":plan": plan_id, ":old": old})


def end_canary_item(tenant: str, scenario_id: str, plan_id: str, at: str) -> dict[str, Any]:
    """A transaction item closing the plan's canary (a cancel or rollback): the scenario may be
    deployed again. The versions stay: new sessions keep starting where they did."""
    condition = "plan_id = :plan AND attribute_exists(canary_percent)"
    return _active_update(
        tenant, scenario_id, ({"updated_at": at}, ["canary_percent"]), condition, {":plan": plan_id}
    )


def _active_update(
    tenant: str,
    scenario_id: str,
    change: tuple[dict[str, Any], list[str]],
    condition: str,
    condition_values: dict[str, Any],
) -> dict[str, Any]:
    sets, removes = change
    names = {f"#s{i}": name for i, name in enumerate(sets)} | {f"#r{i}": n for i, n in enumerate(removes)}
    expression = "SET " + ", ".join(f"#s{i} = :s{i}" for i in range(len(sets)))
    if removes:
        expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(removes)))
    values = {f":s{i}": value for i, value in enumerate(sets.values())} | condition_values
    return {
        "Update": {
            "TableName": _table(),
            "Key": to_item({"pk": keys.scenario_pk(tenant, scenario_id), "sk": keys.ACTIVE_SK}),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_item(values),
        }
    }


def _check_same_document(tenant: str, info: VersionInfo, digest: str) -> None:
    key = {"pk": keys.scenario_pk(tenant, info.scenario_id), "sk": keys.version_sk(info.version)}
    item = (
        client()
        .get_item(TableName=_table(), Key=to_item(key), ConsistentRead=True, ProjectionExpression="digest")
        .get("Item")
    )
    stored = from_item(item).get("digest") if item else None
    if stored != digest:  # None: deleted meanwhile, or written before digests (cannot tell: refuse)
        raise Conflict(
            f"version {info.version} of scenario '{info.scenario_id}' was already written with another "
            "document (another plan to this version was deployed first): plan a new version",
            {"version": info.version},
        )


def sweep_parts(tenant: str, scenario_id: str, version: int, *, keep: str | None = None) -> int:
    """Delete the parts of a version that no head names and whose writer must be finished (older
    than ORPHAN_GRACE); the head's own writer is kept (`keep`, else read). Best effort; how many."""
    pk, sk = keys.scenario_pk(tenant, scenario_id), keys.version_sk(version)
    cutoff = isoformat(utcnow() - documents.ORPHAN_GRACE)
    try:
        keep = keep or _head_writer(pk, sk)
        stale = [
            item
            for item in _parts_of(pk, sk)
            if item.get("writer") != keep and item.get("written_at", "") < cutoff
        ]
        _discard(stale)
    except (ClientError, BotoCoreError) as exc:
        log.warning("sweep of %s %s skipped: %s", pk, sk, exc)
        return 0
    return len(stale)


def _head_writer(pk: str, sk: str) -> str | None:
    head = _read_head(pk, sk, "writer")
    return head.get("writer") if head else None


def _read_head(pk: str, sk: str, attributes: str) -> dict[str, Any] | None:
    """A version's head item (only `attributes`), or None when there is none."""
    item = (
        client()
        .get_item(
            TableName=_table(),
            Key=to_item({"pk": pk, "sk": sk}),
            ConsistentRead=True,
            ProjectionExpression=attributes,
        )
        .get("Item")
    )
    return from_item(item) if item else None


def _parts_of(pk: str, sk: str) -> list[dict[str, Any]]:
    """Every writer's parts of one version (keys, writer and age only)."""
    pages = (
        client()
        .get_paginator("query")
        .paginate(
            TableName=_table(),
            KeyConditionExpression="pk = :pk AND begins_with(sk, :parts)",
            ExpressionAttributeValues=to_item({":pk": pk, ":parts": sk + keys.WRITER}),
            ProjectionExpression="pk, sk, writer, written_at",
            ConsistentRead=True,
        )
    )
    return [from_item(item) for page in pages for item in page["Items"]]


def get_active(tenant: str, scenario_id: str) -> dict[str, Any] | None:
    """The ACTIVE item: `active_version` (new sessions start on it), the `plan_id` that made it
    active (if any) and, during a canary, `canary_percent` and maybe `target_version`."""
    key = to_item({"pk": keys.scenario_pk(tenant, scenario_id), "sk": keys.ACTIVE_SK})
    item = client().get_item(TableName=_table(), Key=key, ConsistentRead=True).get("Item")
    return from_item(item) if item else None


def get_active_version(tenant: str, scenario_id: str) -> int | None:
    active = get_active(tenant, scenario_id)
    return active["active_version"] if active else None


def get_version(tenant: str, scenario_id: str, version: int) -> tuple[VersionInfo, dict[str, Any]] | None:
    pk = keys.scenario_pk(tenant, scenario_id)
    sk = keys.version_sk(version)
    item = client().get_item(TableName=_table(), Key=to_item({"pk": pk, "sk": sk})).get("Item")
    if not item:
        return None
    head = from_item(item)
    parts = [head["data"]]
    prefix = keys.writer_prefix(sk, head.get("writer"))  # only the head's writer: never a loser's
    for i in range(1, head["parts"]):
        key = to_item({"pk": pk, "sk": keys.part_sk(prefix, i)})
        parts.append(from_item(client().get_item(TableName=_table(), Key=key)["Item"])["data"])
    return _info(head), documents.decode(parts)


def list_versions(tenant: str, scenario_id: str) -> list[VersionInfo]:
    paginator = client().get_paginator("query")
    pages = paginator.paginate(
        TableName=_table(),
        KeyConditionExpression="pk = :pk AND begins_with(sk, :v)",
        ExpressionAttributeValues=to_item({":pk": keys.scenario_pk(tenant, scenario_id), ":v": "V#"}),
        ProjectionExpression="scenario_id, version, #n, created_at, step_count, sk",
        ExpressionAttributeNames={"#n": "name"},
    )
    items = (from_item(item) for page in pages for item in page["Items"])
    return [_info(item) for item in items if "#PART#" not in item["sk"]]


def _info(item: dict[str, Any]) -> VersionInfo:
    return VersionInfo(
        scenario_id=item["scenario_id"],
        version=item["version"],
        name=item["name"],
        created_at=item["created_at"],
        step_count=item["step_count"],
    )


def scan_versions(
    start: dict[str, Any] | None, limit: int
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One bounded page of version items across tenants (for retention), with the next start: the
    heads (with `version`) and the writers' parts (with `written_at`, for `delete_orphan_parts`)."""
    response = client().scan(
        TableName=_table(),
        FilterExpression=(
            "begins_with(sk, :v) AND (attribute_exists(version) OR attribute_exists(written_at))"
        ),
        ExpressionAttributeValues=to_item({":v": "V#"}),
        ProjectionExpression="pk, sk, tenant_id, scenario_id, version, created_at, parts, writer, written_at",
        Limit=limit,
        **({"ExclusiveStartKey": start} if start else {}),
    )
    return [from_item(item) for item in response["Items"]], response.get("LastEvaluatedKey")


def delete_orphan_parts(parts: Iterable[dict[str, Any]], now: datetime) -> int:
    """Of these part items (from `scan_versions`), delete those no head names, once past
    ORPHAN_GRACE: what a writer that died between its parts and its head left, when nobody writes
    that version again. One head read per version seen; how many were deleted."""
    cutoff = isoformat(now - documents.ORPHAN_GRACE)
    writers: dict[tuple[str, str], str | None] = {}
    stale = []
    for part in parts:
        if part.get("written_at", cutoff) >= cutoff:
            continue
        head = (part["pk"], part["sk"].split(keys.WRITER, 1)[0])
        if head not in writers:
            writers[head] = _head_writer(*head)
        if part.get("writer") != writers[head]:
            stale.append(part)
    _discard(stale)
    return len(stale)


def delete_version(tenant: str, scenario_id: str, version: int) -> bool:
    """Delete a version unless it is (or became, meanwhile) the active one, or a canary's
    target; False if it is.

    The head item goes first, in a transaction with a check of the active pointer, then the
    parts: a reader finds the head before the parts, so it sees the whole version or none of it
    (a crash in between leaves unreachable parts, never a head without its parts). Parts other
    writers left (orphans) go too, once past ORPHAN_GRACE."""
    pk, sk = keys.scenario_pk(tenant, scenario_id), keys.version_sk(version)
    head = _read_head(pk, sk, "writer, parts")
    if head is None:
        return True  # already gone: nothing to do
    try:
        client().transact_write_items(
            TransactItems=[
                {
                    "ConditionCheck": {
                        "TableName": _table(),
                        "Key": to_item({"pk": pk, "sk": keys.ACTIVE_SK}),
                        "ConditionExpression": (
                            "(attribute_not_exists(active_version) OR active_version <> :v) "
                            "AND (attribute_not_exists(target_version) OR target_version <> :v)"
                        ),
                        "ExpressionAttributeValues": to_item({":v": version}),
                    }
                },
                {"Delete": {"TableName": _table(), "Key": to_item({"pk": pk, "sk": sk})}},
            ]
        )
    except ClientError as exc:
        if cancellation_reasons(exc)[:1] == ["ConditionalCheckFailed"]:
            return False
        raise
    prefix = keys.writer_prefix(sk, head.get("writer"))
    for i in range(1, head.get("parts", 1)):
        client().delete_item(TableName=_table(), Key=to_item({"pk": pk, "sk": keys.part_sk(prefix, i)}))
    sweep_parts(tenant, scenario_id, version)
    return True
