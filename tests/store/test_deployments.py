"""Deployments: the deploy transaction, cancellation reasons, exact counters, markers, ledgers."""

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from scenario_migration.domain.lifecycle import PlanStatus
from scenario_migration.errors import Conflict
from scenario_migration.store import deployments, dynamodb, keys, plans, scenarios, sessions
from tests import faults
from tests.store.helpers import new_plan, new_scenario, race, report

DEPLOYABLE = frozenset({PlanStatus.APPROVED})
AT = "2026-01-02T00:00:00Z"


def approved_plan(tenant: str) -> Any:
    new_scenario(tenant)
    plan = new_plan(tenant)
    return plans.change_status(
        tenant, plan.id, {PlanStatus.PENDING}, PlanStatus.APPROVED, {"approved_by": "a"}
    )


def test_the_deploy_transaction_moves_plan_pointer_and_counters_together(tenant: str) -> None:
    plan = approved_plan(tenant)
    deployments.begin_deploy(tenant, plan, DEPLOYABLE, 24, AT)
    assert plans.get_plan(tenant, plan.id).status is PlanStatus.DEPLOYING
    assert scenarios.get_active(tenant, "order-flow")["active_version"] == 2
    assert scenarios.get_active(tenant, "order-flow")["plan_id"] == plan.id
    counts = deployments.counters(tenant, plan.id)
    assert counts["units_total"] == 24 and counts["sessions_marked"] == 0
    with pytest.raises(Conflict, match="deploying"):  # the plan's condition fails first
        deployments.begin_deploy(tenant, plan, DEPLOYABLE, 24, AT)


def test_a_deploy_whose_source_version_moved_on_changes_nothing(tenant: str) -> None:
    first, second = approved_plan(tenant), new_plan(tenant)
    second = plans.change_status(tenant, second.id, {PlanStatus.PENDING}, PlanStatus.APPROVED, {})
    deployments.begin_deploy(tenant, first, DEPLOYABLE, 8, AT)
    with pytest.raises(Conflict, match="active version"):
        deployments.begin_deploy(tenant, second, DEPLOYABLE, 8, AT)
    assert plans.get_plan(tenant, second.id).status is PlanStatus.APPROVED  # all or nothing
    assert deployments.counters(tenant, second.id) == {}
    assert scenarios.get_active(tenant, "order-flow")["plan_id"] == first.id


def test_cancellation_reasons_name_the_failing_item(tenant: str, local_aws: dict[str, str]) -> None:
    table = local_aws["PlansTable"]
    existing = {"pk": {"S": keys.plan_pk(tenant, "x")}, "sk": {"S": "A"}}
    dynamodb.client().put_item(TableName=table, Item=existing)
    fresh = {"pk": {"S": keys.plan_pk(tenant, "x")}, "sk": {"S": "B"}}
    with pytest.raises(ClientError) as cancelled:
        dynamodb.client().transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": table,
                        "Item": fresh,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "Put": {
                        "TableName": table,
                        "Item": existing,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert dynamodb.cancellation_reasons(cancelled.value) == ["None", "ConditionalCheckFailed"]
    assert "Item" not in dynamodb.client().get_item(TableName=table, Key=fresh)  # nothing written


def test_add_counters_are_exact_under_concurrent_increments(tenant: str) -> None:
    plan = approved_plan(tenant)
    deployments.begin_deploy(tenant, plan, DEPLOYABLE, 0, AT)
    race(*(lambda: [deployments.add_units(tenant, plan.id, 1) for _ in range(10)] for _ in range(8)))
    moves = (plan.id, {"migrations_applied": 1, "sessions_awaiting_input": -1}, {"last_migration_at": AT})
    race(
        *(
            lambda: [sessions.write_outcome(tenant, s, {}, moves, None) for s in fresh(tenant, 5)]
            for _ in range(6)
        )
    )
    counts = deployments.counters(tenant, plan.id)
    assert counts["units_total"] == 80
    assert (counts["migrations_applied"], counts["sessions_awaiting_input"]) == (30, -30)


def fresh(tenant: str, count: int) -> list[dict[str, Any]]:
    """Fresh sessions (each write_outcome needs a revision of its own)."""
    return [report(tenant, f"s-{uuid.uuid4().hex[:10]}") for _ in range(count)]


def test_each_page_is_counted_once_whoever_commits_it(tenant: str) -> None:
    plan = approved_plan(tenant)
    deployments.begin_deploy(tenant, plan, DEPLOYABLE, 4, AT)
    pages = [f"{unit:06d}#000000" for unit in range(4)]
    for page_id in pages:
        deployments.claim_page(tenant, plan.id, page_id, ["a", "b", "c"], None)
    results = race(
        *(
            lambda page_id=page_id: deployments.commit_page(tenant, plan.id, page_id, 3, True)
            for page_id in pages
            for _ in range(3)
        )
    )
    assert sorted(results) == [False] * 8 + [True] * 4
    counts = deployments.counters(tenant, plan.id)
    assert (counts["sessions_marked"], counts["units_done"]) == (12, 4)
    assert [deployments.settle_unmarked_page(tenant, plan.id, pages[0], 2) for _ in range(2)] == [True, False]
    assert deployments.counters(tenant, plan.id)["sessions_unmarked"] == 2
    ledgers, _ = deployments.list_ledgers(tenant, plan.id, None, 10)
    assert [ledger["state"] for ledger in ledgers] == ["unmarked", "counted", "counted", "counted"]


def test_the_first_claim_fixes_a_page(tenant: str) -> None:
    plan = new_plan(tenant)
    claims = race(
        *(
            lambda n=n: deployments.claim_page(
                tenant, plan.id, "000001#000000", [f"s{n}"], {"k": {"S": str(n)}}
            )
            for n in range(4)
        )
    )
    assert len({tuple(claim["session_ids"]) for claim in claims}) == 1
    assert deployments.get_ledger(tenant, plan.id, "000001#000000")["session_ids"] == claims[0]["session_ids"]
    last = deployments.claim_page(tenant, plan.id, "000002#000000", [], None)
    assert last["last_page"] is True and last["session_ids"] == []


def test_marking_is_conditional_on_position_and_plan(tenant: str) -> None:
    """One transaction per call: the failed conditions are classified, the rest written."""
    for session_id in ("here", "moved", "closed", "other-version"):
        report(tenant, session_id)
    report(tenant, "moved", "confirm", step_hash="d" * 16)
    report(tenant, "closed", live=False)
    report(tenant, "other-version", version=2)
    marker = {"plan_id": "p1", "page_id": "000000#000000", "state": "pending"}
    outcomes = deployments.mark_sessions(
        tenant, ["here", "moved", "closed", "other-version", "never-reported"], marker, 1, "checkout"
    )
    assert outcomes == {
        "here": "marked",
        "moved": "skipped",
        "closed": "skipped",
        "other-version": "skipped",
        "never-reported": "skipped",
    }
    report(tenant, "late")
    # a redelivery; an id twice is one action (DynamoDB refuses two on one item in a transaction)
    again = deployments.mark_sessions(tenant, ["late", "here", "late"], marker, 1, "checkout")
    assert again == {"late": "marked", "here": "ours"}
    other_page = {**marker, "page_id": "000001#000000"}
    assert deployments.mark_sessions(tenant, ["here"], other_page, 1, "checkout") == {"here": "skipped"}
    assert sessions.get_session(tenant, "never-reported") is None  # a failed condition creates nothing
    next_plan = {**marker, "plan_id": "p2"}
    assert not deployments.unmark_session(tenant, "here", "p2")
    assert deployments.unmark_session(tenant, "here", "p1")
    assert not deployments.unmark_session(tenant, "here", "p1")
    assert "marker" not in sessions.get_session(tenant, "here")
    assert deployments.mark_sessions(tenant, ["here"], next_plan, 1, "checkout") == {"here": "marked"}
    applied = {**next_plan, "state": "applied"}
    session = sessions.get_session(tenant, "here")
    sessions.write_outcome(tenant, session, {"marker": applied}, None, None)
    assert not deployments.unmark_session(tenant, "here", "p2")  # only a pending marker goes


def test_a_marking_transaction_holds_at_most_a_hundred_sessions(tenant: str) -> None:
    marker = {"plan_id": "p1", "page_id": "000000#000000", "state": "pending"}
    with pytest.raises(ValueError, match="at most 100"):
        deployments.mark_sessions(tenant, [f"s{i}" for i in range(101)], marker, 1, "checkout")


@pytest.mark.parametrize(
    "codes", [["None", "TransactionConflict"], ["None", "ThrottlingError"], ["None", "None"]]
)
def test_a_marking_transaction_cancelled_for_another_reason_is_raised(tenant: str, codes: list[str]) -> None:
    """Only failed conditions are settled here; anything else fails the page (SQS redelivers)."""
    report(tenant, "a")
    report(tenant, "b")
    marker = {"plan_id": "p1", "page_id": "000000#000000", "state": "pending"}

    def cancel(request: Any) -> Any:
        if faults.operation(request) != "TransactWriteItems":
            return None
        reasons = [{"Code": code} for code in codes]
        return faults.dynamodb_error(
            request, "TransactionCanceledException", "x", CancellationReasons=reasons
        )

    with faults.answering(dynamodb.client(), cancel), pytest.raises(ClientError) as raised:
        deployments.mark_sessions(tenant, ["a", "b"], marker, 1, "checkout")
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
