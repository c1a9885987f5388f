"""Deployments: the deploy transaction, cancellation reasons, exact sharded counters, ledgers,
and the list of sessions waiting on the customer."""

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from scenario_migration.domain.deployment import CounterMove
from scenario_migration.domain.lifecycle import PlanStatus
from scenario_migration.errors import Conflict
from scenario_migration.store import deployments, dynamodb, keys, plans, scenarios
from tests.store.helpers import new_plan, new_scenario, race

DEPLOYABLE = frozenset({PlanStatus.APPROVED})
AT = "2026-01-02T00:00:00Z"
SHARDS = 4
FIRST = deployments.PageRef(0, 0, 0)  # its id: "000000#000000", as before canaries


def approved_plan(tenant: str) -> Any:
    new_scenario(tenant)
    plan = new_plan(tenant)
    return plans.change_status(
        tenant, plan.id, {PlanStatus.PENDING}, PlanStatus.APPROVED, {"approved_by": "a"}
    )


def test_the_deploy_transaction_moves_plan_pointer_and_counters_together(tenant: str) -> None:
    plan = approved_plan(tenant)
    deployments.begin_deploy(tenant, plan, DEPLOYABLE, deployments.Rollout(24, AT))
    assert plans.get_plan(tenant, plan.id).status is PlanStatus.DEPLOYING
    assert scenarios.get_active(tenant, "order-flow")["active_version"] == 2
    assert scenarios.get_active(tenant, "order-flow")["plan_id"] == plan.id
    counts = deployments.counters(tenant, plan.id)
    assert counts is not None and (counts.units_total, counts.sessions_marked) == (24, 0)
    with pytest.raises(Conflict, match="deploying"):  # the plan's condition fails first
        deployments.begin_deploy(tenant, plan, DEPLOYABLE, deployments.Rollout(24, AT))


def test_a_deploy_whose_source_version_moved_on_changes_nothing(tenant: str) -> None:
    first, second = approved_plan(tenant), new_plan(tenant)
    second = plans.change_status(tenant, second.id, {PlanStatus.PENDING}, PlanStatus.APPROVED, {})
    deployments.begin_deploy(tenant, first, DEPLOYABLE, deployments.Rollout(8, AT))
    with pytest.raises(Conflict, match="active version"):
        deployments.begin_deploy(tenant, second, DEPLOYABLE, deployments.Rollout(8, AT))
    assert plans.get_plan(tenant, second.id).status is PlanStatus.APPROVED  # all or nothing
    assert deployments.counters(tenant, second.id) is None
    assert scenarios.get_active(tenant, "order-flow")["plan_id"] == first.id


def test_cancellation_reasons_name_the_failing_item(tenant: str, local_aws: dict[str, str]) -> None:
    table = local_aws["PlansTable"]
    existing = {"pk": {"S": keys.plan_pk(tenant, "x")}, "sk": {"S": "A"}}
    dynamodb.client().put_item(TableName=table, Item=existing)
    fresh = {"pk": {"S": keys.plan_pk(tenant, "x")}, "sk": {"S": "B"}}
    with pytest.raises(ClientError) as cancelled:
        dynamodb.client().transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}
                for item in (fresh, existing)
            ]
        )
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert dynamodb.cancellation_reasons(cancelled.value) == ["None", "ConditionalCheckFailed"]
    assert "Item" not in dynamodb.client().get_item(TableName=table, Key=fresh)  # nothing written


def test_sharded_counters_add_up_exactly_under_concurrent_writers(tenant: str) -> None:
    """8 writers x 10 moves each, spread over the shards their keys hash to: every move counts."""
    plan = approved_plan(tenant)
    deployments.begin_deploy(tenant, plan, DEPLOYABLE, deployments.Rollout(0, AT))

    def writer(n: int) -> None:
        for i in range(10):
            shard = deployments.counter_shard(f"s{n}-{i}", SHARDS)
            move = CounterMove({"migrations_applied": 1, "sessions_awaiting_input": -1}, AT)
            deployments.add_counters(tenant, plan.id, shard, move)

    race(*(lambda n=n: writer(n) for n in range(8)))
    counts = deployments.counters(tenant, plan.id)
    assert counts is not None
    assert (counts.migrations_applied, counts.sessions_awaiting_input) == (80, -80)
    assert counts.last_migration_at == AT
    later = CounterMove({}, "2026-01-02T00:01:00Z")
    deployments.add_counters(tenant, plan.id, deployments.counter_shard("one", SHARDS), later)
    assert deployments.counters(tenant, plan.id).last_migration_at == later.last_migration_at  # the latest


def test_nothing_to_move_is_no_item(tenant: str) -> None:
    """DynamoDB rejects an empty update expression and empty name or value maps (moto does not)."""
    assert deployments.counter_item(tenant, "plan", "COUNTERS#000", CounterMove()) is None


def test_each_page_is_counted_once_whoever_commits_it(tenant: str) -> None:
    plan = approved_plan(tenant)
    deployments.begin_deploy(tenant, plan, DEPLOYABLE, deployments.Rollout(4, AT))
    refs = [deployments.PageRef(0, unit, 0) for unit in range(4)]
    pages = [ref.page_id for ref in refs]
    for page_id in pages:
        deployments.claim_page(tenant, plan.id, page_id, [["a", "x"], ["b", "x"], ["c", "x"]], None)
    results = race(
        *(
            lambda ref=ref: deployments.commit_page(tenant, plan.id, ref, 3, last_page=True, shards=SHARDS)
            for ref in refs
            for _ in range(3)
        )
    )
    assert sorted(results) == [False] * 8 + [True] * 4
    counts = deployments.counters(tenant, plan.id)
    assert counts is not None and (counts.sessions_marked, counts.units_done) == (12, 4)
    settle = [
        deployments.settle_unmarked_page(tenant, plan.id, pages[0], (3, 2), counted=True, shards=SHARDS)
        for _ in range(2)
    ]
    assert settle == [True, False]
    assert deployments.counters(tenant, plan.id).sessions_unmarked == 2
    ledgers, _ = deployments.list_pages(tenant, plan.id, None, 10)
    assert [ledger["state"] for ledger in ledgers] == ["unmarked", "counted", "counted", "counted"]


def test_a_page_a_cancel_closed_before_its_commit_is_counted_once_by_the_cancel(tenant: str) -> None:
    """A marking attempt in flight when the plan is cancelled: the cancel closes the page (its
    fence), so the worker's commit comes too late, and the cancel counts the page's markers once:
    as marked, and those it unmarked as unmarked (one the customer's JIT had settled stays marked)."""
    plan = approved_plan(tenant)
    deployments.begin_deploy(tenant, plan, DEPLOYABLE, deployments.Rollout(1, AT))
    page = "000000#000000"
    deployments.claim_page(tenant, plan.id, page, [["a", "x"], ["b", "x"]], None)
    assert deployments.close_page(tenant, plan.id, page) == deployments.PageState.CLOSING
    assert deployments.close_page(tenant, plan.id, page) == deployments.PageState.CLOSING  # a redelivery
    assert not deployments.commit_page(tenant, plan.id, FIRST, 2, last_page=True, shards=SHARDS)
    settle = [deployments.settle_unmarked_page(tenant, plan.id, page, (2, 1), counted=False, shards=SHARDS)]
    settle.append(
        deployments.settle_unmarked_page(tenant, plan.id, page, (2, 1), counted=False, shards=SHARDS)
    )
    assert settle == [True, False]
    counts = deployments.counters(tenant, plan.id)
    assert counts is not None and (counts.sessions_marked, counts.sessions_unmarked) == (2, 1)
    assert deployments.close_page(tenant, plan.id, page) == deployments.PageState.UNMARKED


def test_a_commit_writes_a_small_item_not_the_ledger_again(tenant: str) -> None:
    """The membership (up to 300 ids, ~12 KB) is written once; counting touches a few bytes."""
    plan = approved_plan(tenant)
    deployments.begin_deploy(tenant, plan, DEPLOYABLE, deployments.Rollout(1, AT))
    ids = [[f"session-{uuid.uuid4()}", "checkout"] for _ in range(300)]
    deployments.claim_page(tenant, plan.id, "000000#000000", ids, None)
    calls: list[dict] = []
    client = dynamodb.client()

    def record(params: dict, **_: Any) -> None:
        calls.append(params)

    client.meta.events.register("provide-client-params.dynamodb.TransactWriteItems", record)
    try:
        deployments.commit_page(tenant, plan.id, FIRST, 300, last_page=True, shards=SHARDS)
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.TransactWriteItems", record)
    written = [item for call in calls for item in call["TransactItems"]]
    assert len(str(written)) < 1000 and not any("entries" in str(item) for item in written)


def test_the_first_claim_fixes_a_page(tenant: str) -> None:
    plan = new_plan(tenant)
    claims = race(
        *(
            lambda n=n: deployments.claim_page(
                tenant, plan.id, "000001#000000", [[f"s{n}", "x"]], {"k": {"S": str(n)}}
            )
            for n in range(4)
        )
    )
    assert len({str(ledger["entries"]) for ledger, _ in claims}) == 1
    assert sorted(fresh for _, fresh in claims) == [False, False, False, True]
    last, fresh = deployments.claim_page(tenant, plan.id, "000002#000000", [], None)
    assert fresh and last["last_page"] is True and last["entries"] == []


def test_the_waiting_list(tenant: str) -> None:
    plan = new_plan(tenant)
    client = dynamodb.client()
    for n in range(5):
        put = deployments.waiting_put_item(tenant, plan.id, f"s{n}", by_fanout=n % 2 == 0)
        client.put_item(**put["Put"])
    first, cursor = deployments.list_waiting(tenant, plan.id, None, 3)
    rest, end = deployments.list_waiting(tenant, plan.id, cursor, 3)
    assert [(w["session_id"], w["by_fanout"]) for w in first + rest] == [
        ("s0", True),
        ("s1", False),
        ("s2", True),
        ("s3", False),
        ("s4", True),
    ]
    assert end is None
    client.delete_item(**deployments.waiting_delete_item(tenant, plan.id, "s0")["Delete"])
    with pytest.raises(ClientError):  # must_exist: a second delete is a failed condition
        client.delete_item(
            **deployments.waiting_delete_item(tenant, plan.id, "s0", must_exist=True)["Delete"]
        )
