"""Retention through the service: a whole pass per run within its time budget, and the page
ledgers of a finished deployment gone as soon as nothing can need them."""

from datetime import timedelta

from scenario_migration.clock import utcnow
from scenario_migration.services import retention
from scenario_migration.store import dynamodb, keys
from tests.documents import V1, V2_DOWNSTREAM, V2_GAP, report
from tests.integration.harness import Api, drain, invoke_jit, world


def items(table: str, tenant: str, plan_id: str, prefix: str) -> int:
    response = dynamodb.client().query(
        TableName=table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
        ExpressionAttributeValues={":pk": {"S": keys.plan_pk(tenant, plan_id)}, ":p": {"S": prefix}},
        Select="COUNT",
    )
    return response["Count"]


def test_a_finished_deployment_s_ledgers_go_once_nothing_is_open(
    api: Api, queue_url: str, tenant: str, local_aws: dict[str, str]
) -> None:
    table = local_aws["PlansTable"]
    plan = world(api, queue_url, V1, V2_DOWNSTREAM, {"a": report("checkout"), "b": report("welcome")})
    assert items(table, tenant, plan["id"], "PAGE#") > 0
    retention.run(page_items=100_000, budget_seconds=60)
    assert items(table, tenant, plan["id"], "PAGE#") > 0  # two sessions still pending: a cancel needs them
    for session_id in ("a", "b"):
        assert invoke_jit({"tenant_id": tenant, "session_id": session_id})["outcome"] == "migrated"
    report_ = retention.run(page_items=100_000, budget_seconds=60)
    assert report_.ledgers_deleted > 0
    assert items(table, tenant, plan["id"], "PAGE#") == 0  # the ledgers
    assert items(table, tenant, plan["id"], "PAGESTATE#") > 0  # the pages' fences stay with the plan
    assert items(table, tenant, plan["id"], "COUNTERS#") > 0  # the status stays readable
    status = api.get(f"/api/v1/migration-plans/{plan['id']}/deployment-status").body
    assert (status["sessions_marked"], status["migrations_applied"]) == (2, 2)


def test_a_waiting_session_keeps_the_ledgers(api: Api, queue_url: str, tenant: str, local_aws: dict) -> None:
    plan = world(api, queue_url, V1, V2_GAP, {"a": report("checkout")})
    assert invoke_jit({"tenant_id": tenant, "session_id": "a"})["outcome"] == "needs_input"
    retention.run(page_items=100_000, budget_seconds=60)
    assert items(local_aws["PlansTable"], tenant, plan["id"], "PAGE#") > 0


def test_a_run_covers_the_tables_page_after_page_within_its_budget(api: Api, queue_url: str) -> None:
    world(api, queue_url, V1, V2_DOWNSTREAM, {})
    later = utcnow() + timedelta(days=1)
    whole = retention.run(now=later, page_items=3, budget_seconds=600)
    assert whole.complete == {"plans": True, "versions": True}  # many small pages, one run
    cut = retention.run(now=later, page_items=3, budget_seconds=0)  # one page each, then the budget
    assert cut.complete == {"plans": False, "versions": False}
    drain(queue_url)
