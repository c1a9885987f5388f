"""Migration plans (PlansTable): the plan item, its large documents as parts, and listing.

Every status change is a conditional update on the current status (compare-and-set): of two
concurrent approve/reject calls exactly one wins, the other gets a 409 naming the status.

The summary and the policies grow with the scenario (an entry per anchor, warnings, fields) and
an item stops at 400 KB: both are stored zlib-compressed, the summary in the plan item while it is
small and in parts of its own beyond that (it never changes), the policies always in the plan item
(they change by compare-and-set on the status, which needs them in the same item).
"""

import base64
import binascii
import json
import uuid
from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError

from scenario_migration.domain.lifecycle import AnchorPolicy, MigrationPlan, PlanHeader, PlanStatus
from scenario_migration.domain.plan import TransformationMap
from scenario_migration.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from scenario_migration.store import documents, keys
from scenario_migration.store.dynamodb import client, from_item, is_condition_failure, table_name, to_item

TABLE_ENV = "PLANS_TABLE"
INDEX = "by_tenant"
DOC_PREFIX = "DOC"  # the new scenario version, as submitted
MAP_PREFIX = "MAP"  # the transformation map
SUMMARY_PREFIX = "SUM"  # the summary, when it is too large to sit in the plan item
INLINE_SUMMARY_BYTES = 100_000  # compressed; beyond it the summary goes to parts of its own
POLICIES_BYTES = 200_000  # compressed: with the inline summary, the plan item stays below 400 KB
POLICIES_JSON_BYTES = 1_000_000  # as JSON: the policies go whole into every plan response
_LIST_FIELDS = (
    "id, scenario_id, from_version, to_version, #s, created_by, created_at, updated_at, "
    "approved_by, approved_at, acknowledged_warnings, rejected_by, rejected_at, rejection_reason, "
    "deployed_at, cancelled_at, superseded_by, pk, sk, gsi1pk, gsi1sk"
)


def _table() -> str:
    return table_name(TABLE_ENV)


def _key(tenant: str, plan_id: str) -> dict[str, Any]:
    return to_item({"pk": keys.plan_pk(tenant, plan_id), "sk": keys.PLAN_SK})


def create_plan(plan: MigrationPlan, new_scenario: dict[str, Any], tmap: TransformationMap) -> None:
    """Parts first, the plan item last (conditional): a reader never sees half a plan. The parts go
    under a writer of their own, which the plan item names: a create refused because the plan id
    exists leaves that plan's parts untouched (and drops its own)."""
    pk, writer = keys.plan_pk(plan.tenant_id, plan.id), documents.new_writer()
    summary = documents.encode(plan.summary.model_dump(mode="json"))
    inline = len(summary) == 1 and len(summary[0]) <= INLINE_SUMMARY_BYTES
    counts, written = {}, []
    large = [
        (DOC_PREFIX, documents.encode(new_scenario)),
        (MAP_PREFIX, documents.encode_json(tmap.model_dump_json())),
    ]
    for prefix, parts in [*large, *([] if inline else [(SUMMARY_PREFIX, summary)])]:
        counts[prefix] = len(parts)
        for i, part in enumerate(parts):
            key = {"pk": pk, "sk": keys.part_sk(keys.writer_prefix(prefix, writer), i)}
            client().put_item(TableName=_table(), Item=to_item({**key, "data": part}))
            written.append(key)
    item = {
        **_plain_fields(plan),
        "pk": pk,
        "sk": keys.PLAN_SK,
        "gsi1pk": keys.tenant_plans_pk(plan.tenant_id),
        "gsi1sk": f"{plan.created_at.isoformat()}#{plan.id}",
        "tenant_id": plan.tenant_id,
        "summary_z": summary[0] if inline else None,
        "summary_parts": None if inline else counts[SUMMARY_PREFIX],
        "policies_z": _encode_policies(plan.policies, exclude_none=False),
        "doc_parts": counts[DOC_PREFIX],
        "map_parts": counts[MAP_PREFIX],
        "parts_writer": writer,
    }
    try:
        client().put_item(
            TableName=_table(), Item=to_item(item), ConditionExpression="attribute_not_exists(pk)"
        )
    except ClientError as exc:
        if is_condition_failure(exc):
            for key in written:  # unreachable: no plan item names this writer
                client().delete_item(TableName=_table(), Key=to_item(key))
        raise


def _encode_policies(policies: dict[str, AnchorPolicy], *, exclude_none: bool) -> bytes:
    document = {k: p.model_dump(mode="json", exclude_none=exclude_none) for k, p in policies.items()}
    size = len(json.dumps(document))
    if size > POLICIES_JSON_BYTES:
        raise PayloadTooLarge(
            f"the policies take {size} bytes of JSON; a plan can hold at most {POLICIES_JSON_BYTES}",
            {"policies": len(policies), "limit_bytes": POLICIES_JSON_BYTES},
        )
    encoded = documents.encode(document)
    if len(encoded) > 1 or len(encoded[0]) > POLICIES_BYTES:
        raise PayloadTooLarge(
            f"the policies take {sum(map(len, encoded))} bytes compressed; "
            f"a plan can store at most {POLICIES_BYTES}",
            {"policies": len(policies), "limit_bytes": POLICIES_BYTES},
        )
    return encoded[0]


def _plain_fields(plan: MigrationPlan) -> dict[str, Any]:
    return plan.model_dump(
        mode="json", exclude={"summary", "policies", "transformation_map", "tenant_id", "actions"}
    )


def get_plan_item(tenant: str, plan_id: str) -> dict[str, Any]:
    """The stored plan item as is, or NotFound (also for another tenant's plan)."""
    item = client().get_item(TableName=_table(), Key=_key(tenant, plan_id), ConsistentRead=True).get("Item")
    if not item:
        raise NotFound(f"migration plan '{plan_id}' not found")
    return from_item(item)


def get_plan(tenant: str, plan_id: str, *, with_map: bool = False) -> MigrationPlan:
    """The plan, or NotFound (also for another tenant's plan: its key is not reachable)."""
    data = get_plan_item(tenant, plan_id)
    plan = _plan(data)
    if with_map:
        tmap = TransformationMap.model_validate(_read_parts(data, MAP_PREFIX, data["map_parts"]))
        plan = plan.model_copy(update={"transformation_map": tmap})
    return plan


def get_map_document(tenant: str, plan_id: str) -> dict[str, Any]:
    """The plan's map as stored (decoded JSON, not validated: a page validates only its own
    entries), or NotFound."""
    data = get_plan_item(tenant, plan_id)
    return _read_parts(data, MAP_PREFIX, data["map_parts"])


def get_new_scenario(tenant: str, plan_id: str, parts: int) -> dict[str, Any]:
    """The submitted document, from the parts of the writer the plan item names."""
    item = (
        client()
        .get_item(
            TableName=_table(),
            Key=_key(tenant, plan_id),
            ConsistentRead=True,
            ProjectionExpression="parts_writer",
        )
        .get("Item")
    )
    if not item:
        raise NotFound(f"migration plan '{plan_id}' not found")
    return _read_parts({"tenant_id": tenant, "id": plan_id, **from_item(item)}, DOC_PREFIX, parts)


def _read_parts(plan: dict[str, Any], prefix: str, count: int) -> Any:
    """Parts of one of the plan's documents; `plan` (its item) names the writer that won."""
    pk = keys.plan_pk(plan["tenant_id"], plan["id"])
    prefix = keys.writer_prefix(prefix, plan.get("parts_writer"))
    request = {_table(): {"Keys": [to_item({"pk": pk, "sk": keys.part_sk(prefix, i)}) for i in range(count)]}}
    found: dict[str, bytes] = {}
    while request:
        response = client().batch_get_item(RequestItems=request)
        for raw in response["Responses"].get(_table(), []):
            part = from_item(raw)
            found[part["sk"]] = part["data"]
        request = response.get("UnprocessedKeys") or {}
    return documents.decode([found[keys.part_sk(prefix, i)] for i in range(count)])


def _plan(data: dict[str, Any]) -> MigrationPlan:
    return MigrationPlan.model_validate({**data, "summary": _summary(data), "policies": _policies(data)})


def _summary(data: dict[str, Any]) -> Any:
    if "summary_z" in data:
        return documents.decode([data["summary_z"]])
    return _read_parts(data, SUMMARY_PREFIX, data["summary_parts"])


def _policies(data: dict[str, Any]) -> Any:
    return documents.decode([data["policies_z"]])


def list_plans(
    tenant: str, *, scenario_id: str | None, status: PlanStatus | None, limit: int, next_token: str | None
) -> tuple[list[PlanHeader], str | None]:
    """Newest first. Filters apply after the index read, so a page is filled across reads."""
    filters, values = ["#t = :t"], {":pk": keys.tenant_plans_pk(tenant), ":t": tenant}
    if scenario_id:
        filters.append("scenario_id = :sid")
        values[":sid"] = scenario_id
    if status:
        filters.append("#s = :status")
        values[":status"] = status.value
    query = {
        "TableName": _table(),
        "IndexName": INDEX,
        "KeyConditionExpression": "gsi1pk = :pk",
        "FilterExpression": " AND ".join(filters),
        "ExpressionAttributeValues": to_item(values),
        "ExpressionAttributeNames": {"#s": "status", "#t": "tenant_id"},
        "ProjectionExpression": _LIST_FIELDS + ", #t",
        "ScanIndexForward": False,
    }
    start = _decode_token(tenant, next_token)
    found: list[dict[str, Any]] = []
    while True:
        page = client().query(**query, **({"ExclusiveStartKey": start} if start else {}), Limit=limit)
        found.extend(from_item(item) for item in page["Items"])
        start = page.get("LastEvaluatedKey")
        if len(found) >= limit or not start:
            break
    if len(found) > limit:
        found = found[:limit]
        start = to_item({k: found[-1][k] for k in ("pk", "sk", "gsi1pk", "gsi1sk")})
    return [PlanHeader.model_validate(item) for item in found], _encode_token(start)


def _encode_token(key: dict[str, Any] | None) -> str | None:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode() if key else None


def _decode_token(tenant: str, token: str | None) -> dict[str, Any] | None:
    """The start key a token carries, checked: DynamoDB rejects a start key that is not a key of
    this query (another tenant's, or a forged one) with a ValidationException, which would be a
    500; it is the caller's bad input."""
    if not token:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        key = None
    if not _is_listing_key(tenant, key):
        raise InvalidInput(
            "next_token is not a token this API returned",
            [{"location": "next_token", "message": "not a token of this listing"}],
        )
    return key


def _is_listing_key(tenant: str, key: Any) -> bool:
    if not isinstance(key, dict) or set(key) != {"pk", "sk", "gsi1pk", "gsi1sk"}:
        return False
    values = {
        name: value.get("S") if isinstance(value, dict) and len(value) == 1 else None
        for name, value in key.items()
    }
    if not all(isinstance(value, str) and value for value in values.values()):
        return False
    return (
        values["gsi1pk"] == keys.tenant_plans_pk(tenant)
        and values["pk"].startswith(keys.plan_pk(tenant, ""))
        and values["sk"] == keys.PLAN_SK
    )


def status_change_item(
    tenant: str, plan_id: str, sources: Iterable[PlanStatus], target: PlanStatus, updates: dict[str, Any]
) -> dict[str, Any]:
    """A transaction item: compare-and-set the status (plus `updates`, e.g. who and when; None
    removes an attribute)."""
    allowed = sorted(s.value for s in sources)
    names = {"#s": "status", **{f"#f{i}": k for i, k in enumerate(updates)}}
    values = {":target": target.value, **{f":a{i}": s for i, s in enumerate(allowed)}}
    values |= {f":v{i}": v for i, v in enumerate(updates.values()) if v is not None}
    sets = ["#s = :target", *(f"#f{i} = :v{i}" for i, v in enumerate(updates.values()) if v is not None)]
    removes = [f"#f{i}" for i, v in enumerate(updates.values()) if v is None]
    placeholders = ", ".join(f":a{i}" for i in range(len(allowed)))
    return {
        "Update": {
            "TableName": _table(),
            "Key": _key(tenant, plan_id),
            "UpdateExpression": "SET "
            + ", ".join(sets)
            + (" REMOVE " + ", ".join(removes) if removes else ""),
            "ConditionExpression": f"attribute_exists(pk) AND #s IN ({placeholders})",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_item(values),
        }
    }


def change_status(
    tenant: str,
    plan_id: str,
    sources: Iterable[PlanStatus],
    target: PlanStatus,
    updates: dict[str, Any],
) -> MigrationPlan:
    """Compare-and-set the status (plus `updates`); 409 if it moved on. Each change writes a key
    of its own (`status_change`): when botocore retries a change whose first attempt was applied
    but its answer lost, the retry's refusal finds that key and returns the change as done,
    instead of a 409 for a change that happened (and a caller that then skips what follows it)."""
    key = uuid.uuid4().hex
    change = status_change_item(tenant, plan_id, sources, target, {**updates, "status_change": key})
    try:
        response = client().update_item(**change["Update"], ReturnValues="ALL_NEW")
    except ClientError as exc:
        if is_condition_failure(exc):
            item = get_plan_item(tenant, plan_id)  # NotFound if it does not exist
            if item.get("status_change") == key:
                return _plan(item)
            current = _plan(item)
            raise Conflict(
                f"the plan is {current.status.value}: it cannot become {target.value}",
                {"status": current.status.value, "requested": target.value},
            ) from None
        raise
    return _plan(from_item(response["Attributes"]))


def put_policies(
    tenant: str, plan_id: str, policies: dict[str, AnchorPolicy], updated_at: str
) -> MigrationPlan:
    """Replace the policies while the plan is still pending (409 otherwise; 413 beyond what a plan
    item can hold)."""
    encoded = _encode_policies(policies, exclude_none=True)
    try:
        response = client().update_item(
            TableName=_table(),
            Key=_key(tenant, plan_id),
            UpdateExpression="SET policies_z = :p, updated_at = :u",
            ConditionExpression="attribute_exists(pk) AND #s = :pending",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=to_item(
                {":p": encoded, ":u": updated_at, ":pending": PlanStatus.PENDING.value}
            ),
            ReturnValues="ALL_NEW",
        )
    except ClientError as exc:
        if is_condition_failure(exc):
            current = get_plan(tenant, plan_id)
            raise Conflict(
                f"the plan is {current.status.value}: policies can change only while it is pending",
                {"status": current.status.value},
            ) from None
        raise
    return _plan(from_item(response["Attributes"]))


def scan_plans(
    start: dict[str, Any] | None, limit: int
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One bounded page of plan items across tenants (for retention), with the next start."""
    response = client().scan(
        TableName=_table(),
        FilterExpression="sk = :plan",
        ExpressionAttributeValues=to_item({":plan": keys.PLAN_SK}),
        ProjectionExpression=(
            "pk, sk, tenant_id, id, scenario_id, #s, created_at, updated_at, ledgers_deleted, canary_percent"
        ),
        ExpressionAttributeNames={"#s": "status"},
        Limit=limit,
        **({"ExclusiveStartKey": start} if start else {}),
    )
    return [from_item(item) for item in response["Items"]], response.get("LastEvaluatedKey")


def delete_plan(tenant: str, plan_id: str) -> int:
    """Delete every item of a plan (parts, ledgers, counters, then the plan item); returns how many."""
    pk = keys.plan_pk(tenant, plan_id)
    pages = (
        client()
        .get_paginator("query")
        .paginate(
            TableName=_table(),
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=to_item({":pk": pk}),
            ProjectionExpression="pk, sk",
        )
    )
    item_keys = [item for page in pages for item in page["Items"]]
    item_keys.sort(key=lambda k: k["sk"]["S"] == keys.PLAN_SK)  # the plan item goes last
    for key in item_keys:
        client().delete_item(TableName=_table(), Key=key)
    return len(item_keys)


def delete_deployment_ledgers(tenant: str, plan_id: str) -> int:
    """Delete a finished deployment's page ledgers (its bulk: the pages' lists of sessions), then
    note it on the plan item; returns how many items went. The pages' small state items stay
    until the plan goes: each is its page's fence (store/deployments.py), which refuses the marks
    and the count of a page's message delivered late (a duplicate, a worker still running)."""
    pk = keys.plan_pk(tenant, plan_id)
    deleted = 0
    pages = (
        client()
        .get_paginator("query")
        .paginate(
            TableName=_table(),
            KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
            ExpressionAttributeValues=to_item({":pk": pk, ":p": "PAGE#"}),
            ProjectionExpression="pk, sk",
        )
    )
    for item in (item for page in pages for item in page["Items"]):
        client().delete_item(TableName=_table(), Key=item)
        deleted += 1
    client().update_item(
        TableName=_table(),
        Key=_key(tenant, plan_id),
        UpdateExpression="SET ledgers_deleted = :yes",
        ConditionExpression="attribute_exists(pk)",
        ExpressionAttributeValues=to_item({":yes": True}),
    )
    return deleted


RETENTION_CURSOR_KEY = {"pk": "RETENTION", "sk": "CURSOR"}


def get_retention_cursor() -> dict[str, Any]:
    item = client().get_item(TableName=_table(), Key=to_item(RETENTION_CURSOR_KEY)).get("Item")
    return json.loads(from_item(item)["cursor"]) if item else {}


def put_retention_cursor(cursor: dict[str, Any]) -> None:
    client().put_item(
        TableName=_table(), Item=to_item({**RETENTION_CURSOR_KEY, "cursor": json.dumps(cursor)})
    )
