"""Plans: compare-and-set status changes, listing pages, tokens, large plans, tenant isolation."""

import base64
import json
import secrets
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from scenario_migration.domain.lifecycle import AnchorPolicy, PlanStatus
from scenario_migration.domain.plan import PlanSummary, Severity, Warning
from scenario_migration.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from scenario_migration.store import plans
from scenario_migration.store.dynamodb import client
from tests.store.helpers import PLAN_MAP, new_plan, new_tenant, plans_in_order, race

APPROVE = (
    {PlanStatus.PENDING},
    PlanStatus.APPROVED,
    {"approved_by": "a", "approved_at": "2026-01-02T00:00:00Z"},
)
REJECT = (
    {PlanStatus.PENDING},
    PlanStatus.REJECTED,
    {"rejected_by": "b", "rejected_at": "2026-01-02T00:00:00Z"},
)


def listing(
    tenant: str, limit: int, token: str | None = None, **filters: Any
) -> tuple[list[str], str | None]:
    headers, token = plans.list_plans(
        tenant,
        scenario_id=filters.get("scenario_id"),
        status=filters.get("status"),
        limit=limit,
        next_token=token,
    )
    return [h.id for h in headers], token


def every_page(tenant: str, limit: int, **filters: Any) -> list[list[str]]:
    """The non-empty pages. A token may lead to an empty last page (DynamoDB returns a last key
    whenever a read stops at its limit), never to an empty page before a full one."""
    pages, token = [], None
    while True:
        ids, token = listing(tenant, limit, token, **filters)
        assert len(ids) <= limit
        assert not (pages and not pages[-1]), "an empty page before the last one"
        pages.append(ids)
        if not token:
            return [page for page in pages if page]


def test_a_plan_reads_back_as_written(tenant: str) -> None:
    plan = new_plan(tenant)
    read = plans.get_plan(tenant, plan.id, with_map=True)
    assert read.model_dump(exclude={"transformation_map"}) == plan.model_dump(exclude={"transformation_map"})
    assert read.transformation_map is not None and read.transformation_map.anchors
    assert (
        plans.get_new_scenario(tenant, plan.id, plans.get_plan_item(tenant, plan.id)["doc_parts"])["version"]
        == 2
    )
    with pytest.raises(NotFound):
        plans.get_plan(tenant, "no-such-plan")


def test_creating_a_plan_never_overwrites_one(tenant: str) -> None:
    """Not even its parts: a refused create writes its documents under a writer of its own (the
    plan item names the winner's) and drops them (issue 11: before, the documents were replaced)."""
    plan = new_plan(tenant)
    plans.change_status(tenant, plan.id, *APPROVE)
    original = plans.get_new_scenario(tenant, plan.id, plans.get_plan_item(tenant, plan.id)["doc_parts"])
    impostor = {**original, "name": "Impostor", "notes": secrets.token_hex(300_000)}  # two parts
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        plans.create_plan(plan.model_copy(update={"status": PlanStatus.PENDING}), impostor, PLAN_MAP)
    assert plans.get_plan(tenant, plan.id).status is PlanStatus.APPROVED
    assert plans.get_new_scenario(tenant, plan.id, 1) == original
    assert plans.get_plan(tenant, plan.id, with_map=True).transformation_map == PLAN_MAP
    items = client().query(
        TableName=plans._table(),
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"T#{tenant}#P#{plan.id}"}},
        ProjectionExpression="sk",
    )["Items"]
    assert len(items) == 3  # the plan item, its document and its map: none of the impostor's parts


def test_concurrent_approve_and_reject_exactly_one_wins(tenant: str) -> None:
    for _ in range(6):
        plan = new_plan(tenant)
        results = race(
            lambda plan_id=plan.id: plans.change_status(tenant, plan_id, *APPROVE),
            lambda plan_id=plan.id: plans.change_status(tenant, plan_id, *REJECT),
        )
        winners = [result.status for result in results if not isinstance(result, Exception)]
        losers = [result for result in results if isinstance(result, Exception)]
        assert len(winners) == 1 and len(losers) == 1, results
        assert isinstance(losers[0], Conflict), losers[0]
        assert losers[0].details["status"] == winners[0].value  # the 409 names the winner's status
        stored = plans.get_plan(tenant, plan.id)
        assert stored.status is winners[0]
        assert (stored.approved_by is None) == (winners[0] is PlanStatus.REJECTED)
        assert (stored.rejected_by is None) == (winners[0] is PlanStatus.APPROVED)


def test_every_status_change_is_conditional(tenant: str) -> None:
    plan = new_plan(tenant)
    with pytest.raises(Conflict) as illegal:
        plans.change_status(tenant, plan.id, {PlanStatus.DEPLOYING}, PlanStatus.DEPLOYED, {})
    assert illegal.value.details == {"status": "pending", "requested": "deployed"}
    with pytest.raises(NotFound):  # never created by an update: the condition holds the key
        plans.change_status(tenant, "missing", *APPROVE)
    with pytest.raises(NotFound):
        plans.put_policies(tenant, "missing", {}, "2026-01-02T00:00:00Z")
    approved = plans.change_status(tenant, plan.id, *APPROVE)
    assert (approved.status, approved.approved_by) == (PlanStatus.APPROVED, "a")
    with pytest.raises(Conflict) as late:
        plans.put_policies(tenant, plan.id, {}, "2026-01-02T00:00:00Z")
    assert late.value.details == {"status": "approved"}
    with pytest.raises(Conflict):
        plans.change_status(tenant, plan.id, *REJECT)
    assert plans.get_plan(tenant, plan.id).rejected_by is None
    cleared = plans.change_status(
        tenant,
        plan.id,
        {PlanStatus.APPROVED},
        PlanStatus.SUPERSEDED,
        {"approved_by": None, "superseded_by": "p2"},
    )
    assert (cleared.status, cleared.approved_by, cleared.superseded_by) == (PlanStatus.SUPERSEDED, None, "p2")


def test_policies_replace_while_pending(tenant: str) -> None:
    plan = new_plan(tenant)
    anchor = next(iter(plan.anchor_keys))
    policy = AnchorPolicy(anchor_content_hash=anchor, update_downstream=False)
    updated = plans.put_policies(tenant, plan.id, {anchor: policy}, "2026-01-02T00:00:00Z")
    assert updated.policies == {anchor: policy} == plans.get_plan(tenant, plan.id).policies
    assert updated.updated_at.isoformat().startswith("2026-01-02")


def test_large_summaries_and_policies_fit_in_dynamodb(tenant: str) -> None:
    """An item stops at 400 KB: a 20,000-anchor summary (about 1 MB of JSON) and policies for
    2,000 anchors are stored compressed, the summary in parts of its own."""
    hashes = [secrets.token_hex(8) for _ in range(20_000)]
    summary = PlanSummary(
        total_anchors=len(hashes),
        anchors_with_clean_graft=len(hashes),
        anchors_with_gap_fill=0,
        anchors_with_re_route=0,
        nodes_deleted=0,
        estimated_sessions_affected=len(hashes),
        sessions_by_anchor={h: i for i, h in enumerate(hashes)},
        sessions_on_deleted_steps={},
        fields_to_collect=[],
        warnings=[
            Warning(
                severity=Severity.INFO,
                code=f"w:{h}",
                anchor_name=f"Step {h}",
                message=f"Customers at {h} may be asked",
            )
            for h in hashes[:5000]
        ],
    )
    assert len(summary.model_dump_json()) > 1_000_000
    plan = new_plan(tenant, summary=summary)
    assert plans.get_plan_item(tenant, plan.id)["summary_parts"] >= 1
    assert plans.get_plan(tenant, plan.id).summary == summary
    policies = {
        h: AnchorPolicy(anchor_content_hash=h, anchor_name=f"Step {h}", update_downstream=False)
        for h in hashes[:2000]
    }
    assert plans.put_policies(tenant, plan.id, policies, "2026-01-02T00:00:00Z").policies == policies
    assert plans.get_plan(tenant, plan.id).policies == policies
    too_many = {h: AnchorPolicy(anchor_content_hash=h, anchor_name=f"Step {h}") for h in hashes}
    with pytest.raises(PayloadTooLarge):  # a 413, not a ValidationException (500)
        plans.put_policies(tenant, plan.id, too_many, "2026-01-02T00:00:00Z")
    small = new_plan(tenant)
    assert "summary_z" in plans.get_plan_item(tenant, small.id)  # a usual summary: one read


def test_listing_pages_newest_first(tenant: str) -> None:
    ids = [p.id for p in plans_in_order(tenant, 7)]
    assert every_page(tenant, 3) == [ids[6:3:-1], ids[3:0:-1], ids[:1]]
    assert every_page(tenant, 7) == [ids[::-1]]
    assert every_page(tenant, 100) == [ids[::-1]]


def test_listing_filters_fill_pages_across_reads(tenant: str) -> None:
    ids = {"a": [], "b": []}
    for i, plan in enumerate(plans_in_order(tenant, 4, scenario_id="a")):
        ids["a"].append(plan.id)
        ids["b"].append(new_plan(tenant, scenario_id="b", created_at=plan.created_at).id)
        if i % 2:
            plans.change_status(tenant, plan.id, *APPROVE)
    assert every_page(tenant, 3, scenario_id="a") == [ids["a"][:0:-1], ids["a"][:1]]
    assert every_page(tenant, 2, scenario_id="b") == [ids["b"][:1:-1], ids["b"][1::-1]]
    approved = every_page(tenant, 1, scenario_id="a", status=PlanStatus.APPROVED)
    assert approved == [[ids["a"][3]], [ids["a"][1]]]
    assert every_page(tenant, 5, status=PlanStatus.REJECTED) == []


def test_listing_tokens_are_checked(tenant: str) -> None:
    plans_in_order(tenant, 3)
    _, token = listing(tenant, 1)
    assert token
    other = new_tenant()
    plans_in_order(other, 2)
    with pytest.raises(InvalidInput):  # another tenant's start key: DynamoDB would refuse it (500)
        listing(other, 1, token)
    key = json.loads(base64.urlsafe_b64decode(token))
    forged = [
        "garbage!",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        plans._encode_token({**key, "pk": {"N": "1"}}),
        plans._encode_token({**key, "gsi1sk": {"S": ""}}),
        plans._encode_token({k: v for k, v in key.items() if k != "sk"}),
        plans._encode_token({**key, "sk": {"S": "COUNTERS"}}),
    ]
    for bad in forged:
        with pytest.raises(InvalidInput):
            listing(tenant, 1, bad)


def test_tenants_never_see_each_other(tenant: str) -> None:
    other = new_tenant()
    plan_id = str(uuid.uuid4())
    mine, theirs = new_plan(tenant, plan_id=plan_id), new_plan(other, plan_id=plan_id, scenario_id="x")
    plans.change_status(tenant, plan_id, *APPROVE)
    assert plans.get_plan(other, plan_id).status is PlanStatus.PENDING
    assert plans.get_plan(other, plan_id).scenario_id == "x" != mine.scenario_id
    assert every_page(tenant, 10) == [[plan_id]] == every_page(other, 10)
    headers, _ = plans.list_plans(other, scenario_id=None, status=None, limit=5, next_token=None)
    assert [(h.scenario_id, h.status) for h in headers] == [(theirs.scenario_id, PlanStatus.PENDING)]
    assert plans.delete_plan(tenant, plan_id) >= 3  # the plan item and its document parts
    with pytest.raises(NotFound):
        plans.get_plan(tenant, plan_id)
    assert plans.get_plan(other, plan_id, with_map=True).transformation_map is not None
