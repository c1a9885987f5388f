"""Issue 14, dry run: POST /migration-plans/{id}/simulate writes nothing (every item of the three
tables unchanged, and no write request sent), agrees with the real JIT decision on the same
sessions for every outcome, and draws bounded random samples."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest

from scenario_migration.services import simulate
from scenario_migration.store import dynamodb, work_queue
from tests.documents import V1, V1_PAYMENT, V2_DOWNSTREAM, V2_FORK_PAYMENT, report
from tests.integration.harness import Api, approve, deploy, drain, invoke_jit, propose, register

WRITES = {
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "TransactWriteItems",
    "BatchWriteItem",
    "ExecuteStatement",
    "BatchExecuteStatement",
    "ExecuteTransaction",
    "SendMessage",
    "SendMessageBatch",
}
# One session per outcome of V1_PAYMENT -> V2_FORK_PAYMENT (an age fork before Checkout).
PAID = ["welcome", "checkout", "payment"]
SESSIONS = {
    "graft": report("welcome"),  # nothing new on its way
    "gap": report("checkout", variables={"age": 30}),  # age_check is a gap, filled from the session
    "minor": report("checkout", variables={"age": 16}),  # redirected to Rejection
    "ask": report("checkout"),  # age unknown: asked
    "paid": report("confirm", visited_step_ids=PAID, variables={"age": 16}),  # Rejection undoes payment
    "sms": report("checkout", channel="sms", variables={"age": 30}),  # out of scope: kept
    "closed": report("checkout", status="closed"),
}
COMPARED = ("outcome", "migration_scenario", "to_step_id", "questions", "message", "from_step_id")


def snapshot(local_aws: dict[str, str], tenant: str) -> dict[str, list[dict]]:
    """Every item of the tenant in the three tables (a scan, the test's own client)."""
    client = boto3.client("dynamodb")
    found = {}
    for table in ("ScenariosTable", "PlansTable", "SessionsTable"):
        pages = client.get_paginator("scan").paginate(
            TableName=local_aws[table],
            FilterExpression="begins_with(pk, :t)",
            ExpressionAttributeValues={":t": {"S": f"T#{tenant}#"}},
        )
        found[table] = sorted((item for page in pages for item in page["Items"]), key=str)
    return found


@contextmanager
def requests_sent() -> Iterator[list[str]]:
    """The operations the service's DynamoDB and SQS clients send meanwhile."""
    sent: list[str] = []

    def record(model: Any, params: dict, **_: Any) -> None:
        tables = params.get("RequestItems") or [params.get("TableName") or params.get("QueueUrl")]
        sent.extend(f"{model.name} {table}" for table in tables)

    clients = [dynamodb.client(), work_queue._sqs()]
    for c in clients:
        c.meta.events.register("provide-client-params", record)
    try:
        yield sent
    finally:
        for c in clients:
            c.meta.events.unregister("provide-client-params", record)


def scoped_plan(api: Api) -> dict:
    """The plan with Checkout's policy excluding the sms channel (one session is kept)."""
    register(api, V1_PAYMENT, SESSIONS)
    plan = propose(api, V2_FORK_PAYMENT)
    checkout = next(a for a in plan["transformation_map"]["anchors"] if a["anchor_name"] == "Checkout")
    policies = {checkout["anchor_content_hash"]: {"scope_filter": {"exclude_channels": ["sms"]}}}
    assert api.put(f"/api/v1/migration-plans/{plan['id']}/policies", {"policies": policies}).status == 200
    return plan


def run(api: Api, plan: dict, body: dict) -> dict:
    response = api.post(f"/api/v1/migration-plans/{plan['id']}/simulate", body)
    assert response.status == 200, response.body
    return response.body


def by_session(result: dict) -> dict[str, dict]:
    return {r["session_id"]: r for r in result["results"]}


def test_simulate_writes_nothing(api: Api, queue_url: str, tenant: str, local_aws: dict[str, str]) -> None:
    plan = scoped_plan(api)
    invoke_jit({"tenant_id": tenant, "session_id": "ask"})  # no plan deployed: nothing happens
    for stage in ("pending", "deployed"):
        if stage == "deployed":
            approve(api, plan)
            deploy(api, plan)
            drain(queue_url)
            assert invoke_jit({"tenant_id": tenant, "session_id": "ask"})["outcome"] == "needs_input"
        before = snapshot(local_aws, tenant)
        with requests_sent() as sent:
            run(api, plan, {"session_ids": [*SESSIONS, "unknown"]})
            run(api, plan, {"sample": 1000, "seed": 7})
        assert snapshot(local_aws, tenant) == before, stage  # item for item
        operations = {request.split()[0] for request in sent}
        assert operations and not operations & WRITES, sent
        assert operations <= {"GetItem", "BatchGetItem", "Query"}


@pytest.mark.parametrize("stage", ["pending", "deployed"])
def test_simulate_agrees_with_jit_for_every_outcome(
    api: Api, queue_url: str, tenant: str, stage: str
) -> None:
    """Simulate, then let every customer write (no message text, no profile: what simulate
    knows), and compare: outcome, scenario, landing step, questions, filled fields."""
    plan = scoped_plan(api)
    approve(api, plan)
    if stage == "deployed":
        deploy(api, plan)
        drain(queue_url)
    simulated = by_session(run(api, plan, {"session_ids": [*SESSIONS, "unknown"]}))
    if stage == "pending":
        deploy(api, plan)
        drain(queue_url)
    outcomes = set()
    for session_id in SESSIONS:
        real = invoke_jit({"tenant_id": tenant, "session_id": session_id})
        mine = simulated[session_id]
        outcomes.add((real["outcome"], real.get("migration_scenario")))
        assert mine["outcome"] == real["outcome"], (session_id, mine, real)
        if real["outcome"] == "none":
            continue
        assert {k: mine[k] for k in COMPARED} == {k: real[k] for k in COMPARED}, session_id
        assert mine["filled_fields"] == real["filled_fields"], session_id
        assert mine["inputs_missing"] == ["conversation", "profile"]
    assert outcomes == {
        ("migrated", "clean_graft"),
        ("migrated", "gap_fill"),
        ("migrated", "re_route"),
        ("needs_input", None),
        ("blocked", None),
        ("kept", None),
        ("none", None),
    }
    assert simulated["unknown"]["outcome"] == "error"
    assert simulated["minor"]["re_route"] == {
        "to_step_id": "rejection",
        "reason": simulated["minor"]["reason"],
    }
    assert simulated["paid"]["checkpoint_block"]["to_step_id"] == "rejection"
    assert simulated["gap"]["filled_fields"]["age"]["source"] == "session"


def test_the_aggregate(api: Api, queue_url: str) -> None:
    plan = scoped_plan(api)
    result = run(api, plan, {"session_ids": list(SESSIONS)})
    aggregate = result["aggregate"]
    assert aggregate["sessions"] == len(SESSIONS)
    assert aggregate["by_outcome"] == {"migrated": 3, "needs_input": 1, "blocked": 1, "kept": 1, "none": 1}
    assert aggregate["by_migration_scenario"] == {"clean_graft": 1, "gap_fill": 1, "re_route": 1}
    assert aggregate["questions"] == [
        {"field": "age", "text": "Before we continue, what is your age?", "count": 1}
    ]
    anchors = {entry["anchor_name"]: entry for entry in aggregate["by_anchor"].values()}
    assert anchors["Checkout"]["sessions"] == 4 and anchors["Checkout"]["by_outcome"]["kept"] == 1
    assert anchors["Welcome"] == {"anchor_name": "Welcome", "sessions": 1, "by_outcome": {"migrated": 1}}


def test_a_session_waiting_on_its_answer(api: Api, queue_url: str, tenant: str) -> None:
    """The unknown next message is not an unusable reply: the simulation shows the question it
    waits on, and the real answer afterwards still counts as the first."""
    plan = scoped_plan(api)
    approve(api, plan)
    deploy(api, plan)
    drain(queue_url)
    assert invoke_jit({"tenant_id": tenant, "session_id": "ask", "message": "hi"})["outcome"] == "needs_input"
    for _ in range(4):  # more than max_reasks: a simulation never spends an attempt
        waiting = by_session(run(api, plan, {"session_ids": ["ask"]}))["ask"]
        assert (waiting["outcome"], waiting["awaiting_answer"]) == ("needs_input", "age")
        assert waiting["inputs_missing"] == ["conversation", "profile", "message"]
        assert waiting["questions"][0]["text"] == "Before we continue, what is your age?"
    answered = invoke_jit({"tenant_id": tenant, "session_id": "ask", "message": "34"})
    assert (answered["outcome"], answered["to_step_id"]) == ("migrated", "checkout")


def test_a_sample(api: Api, queue_url: str, local_aws: dict[str, str]) -> None:
    """Sampling draws live sessions at the plan's anchors only, distinct, reproducible by seed,
    all of them when asked for more than there are; reads are bounded."""
    sessions = {f"s{i:03d}": report(("welcome", "checkout", "confirm")[i % 3]) for i in range(45)}
    register(api, V1, {**sessions, "closed": report("checkout", status="closed")})
    plan = propose(api, V2_DOWNSTREAM)
    with requests_sent() as sent:
        everyone = run(api, plan, {"sample": 1000})
    assert sorted(r["session_id"] for r in everyone["results"]) == sorted(sessions)
    sessions_table = local_aws["SessionsTable"]
    assert sent.count(f"BatchGetItem {sessions_table}") == 1  # 45 sessions: one request
    queries = sent.count(f"Query {sessions_table}")
    assert 0 < queries <= (simulate.SAMPLE_ROUNDS * simulate.SAMPLE_WINDOWS + simulate.SWEEP_WINDOWS) * 3
    ten = run(api, plan, {"sample": 10, "seed": 3})
    ids = [r["session_id"] for r in ten["results"]]
    assert len(ids) == len(set(ids)) == 10 and set(ids) <= set(sessions)
    assert [r["session_id"] for r in run(api, plan, {"sample": 10, "seed": 3})["results"]] == ids
    assert ten["aggregate"]["sessions"] == 10 and ten["mode"] == "sample"


def test_a_sample_of_few_sessions_is_never_short(api: Api, queue_url: str) -> None:
    """Six sessions over eight index shards, most of them empty: a sample of n gets min(n, 6) of
    them whatever the seed (random windows on empty shards used to stop the sampling: a sample of
    1 often came back empty)."""
    sessions = {f"s{i:02d}": report(("welcome", "checkout", "confirm")[i % 3]) for i in range(6)}
    register(api, V1, sessions)
    plan = propose(api, V2_DOWNSTREAM)
    for n in (1, 2, 3, 6, 10):
        for seed in range(4):
            ids = [r["session_id"] for r in run(api, plan, {"sample": n, "seed": seed})["results"]]
            assert len(ids) == len(set(ids)) == min(n, 6) and set(ids) <= set(sessions), (n, seed, ids)


def test_a_sample_of_a_crowded_step_is_not_its_first_ids(
    api: Api, queue_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows start at random points of a step's ids: 120 sessions on one step (about 15 a
    shard, more than a window's first read of 3 here), samples of 10 reach ids all over the
    range, not the first ones of each shard every time."""
    monkeypatch.setattr(simulate, "HEAD", 3)
    sessions = {f"c{i:04d}": report("checkout") for i in range(120)}
    register(api, V1, sessions)
    plan = propose(api, V2_DOWNSTREAM)
    seen: set[str] = set()
    for seed in range(8):
        seen |= {r["session_id"] for r in run(api, plan, {"sample": 10, "seed": seed})["results"]}
    assert len(seen) > 40
    assert max(seen) > "c0080" and min(seen) < "c0040"


def test_simulate_rules(api: Api, queue_url: str, tenant: str) -> None:
    plan = scoped_plan(api)
    url = f"/api/v1/migration-plans/{plan['id']}/simulate"
    for body in (
        {},
        {"session_ids": ["a"], "sample": 3},
        {"session_ids": [f"s{i}" for i in range(101)]},
        {"sample": 1001},
        {"sample": 0},
        {"session_ids": ["not an id"]},
    ):
        assert api.post(url, body).status == 400, body
    assert api.post("/api/v1/migration-plans/nope/simulate", {"sample": 1}).status == 404
    assert api.post(f"/api/v1/migration-plans/{plan['id']}/reject", {"rejected_by": "op"}).status == 200
    refused = api.post(url, {"sample": 1})
    assert refused.status == 409 and refused.body["error"]["details"]["status"] == "rejected"
