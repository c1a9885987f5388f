"""`make run` for real: start `python -m local_run` and drive it over HTTP and Lambda Invoke, as
the README's walk-through and the seed's quickstart do."""

import json
import time

import pytest

from local_run.aws import local_client
from scenario_migration.services import deployments
from scenario_migration.store import keys
from tests.documents import V1_PAYMENT, V2_FORK_PAYMENT, step
from tests.e2e.conftest import Local

pytestmark = pytest.mark.e2e


V1, V2 = V1_PAYMENT, V2_FORK_PAYMENT  # the seed's age fork before Checkout, a checkpoint after it


def test_the_quickstart_end_to_end(local: Local) -> None:
    assert local.http("POST", "/api/v1/scenarios", V1)[0] == 201
    sessions = {"a": "checkout", "b": "checkout", "c": "welcome", "d": "confirm", "e": "checkout"}
    for session_id, where in sessions.items():
        visited = ["welcome", "checkout", "payment"] if where == "confirm" else []
        body = {
            "scenario_id": "order-flow",
            "scenario_version": 1,
            "current_step_id": where,
            "channel": "sms" if session_id == "e" else "whatsapp",
            "visited_step_ids": visited,
            "status": "idle",
        }
        assert local.http("PUT", f"/api/v1/sessions/{session_id}", body)[0] == 200
    # the quickstart's Step 1 document: no id (the path's), no entry_step_id (V1's is kept)
    step1 = {k: v for k, v in V2.items() if k not in ("id", "entry_step_id")}
    status, plan = local.http(
        "POST",
        "/api/v1/scenarios/order-flow/migration-plan",
        {"new_scenario": step1, "created_by": "operator@example.com"},
    )
    assert (
        status == 201 and plan["status"] == "pending" and plan["summary"]["estimated_sessions_affected"] == 5
    )
    url = f"/api/v1/migration-plans/{plan['id']}"
    assert local.http("GET", f"{url}/new-scenario")[1]["document"]["entry_step_id"] == "welcome"
    _, summary = local.http("GET", f"{url}/summary")
    assert summary["anchors_with_re_route"] == 3 and summary["anchors_with_clean_graft"] == 1
    checkout = next(a for a in plan["transformation_map"]["anchors"] if a["anchor_name"] == "Checkout")
    policies = {checkout["anchor_content_hash"]: {"scope_filter": {"include_channels": ["whatsapp"]}}}
    # policies and approve answer the plan as GET shows it (its map too)
    status, with_policies = local.http("PUT", f"{url}/policies", {"policies": policies})
    assert status == 200 and with_policies["transformation_map"] == plan["transformation_map"]
    status, approved = local.http("POST", f"{url}/approve", {"approved_by": "op"})
    assert status == 200 and approved == local.http("GET", url)[1]
    assert approved["transformation_map"] == plan["transformation_map"]
    # deploy: asynchronous, what will be marked under the policies (the sms customer at Checkout
    # is out of scope: 2 there, not 3), and where to poll
    status, deployed = local.http("POST", f"{url}/deploy")
    assert status == 202 and deployed["status"] == "deploying"
    assert deployed["sessions_by_anchor"][checkout["anchor_content_hash"]] == 2
    assert deployed["sessions_to_mark"] == sum(deployed["sessions_by_anchor"].values()) == 4
    assert deployed["status_url"] == local.last_headers["Location"] == f"{url}/deployment-status"
    assert local.wait_deployed(plan["id"], seconds=60)["sessions_marked"] == deployed["sessions_to_mark"]

    jit = "JitApplyFunction"
    assert (
        local.invoke(jit, {"tenant_id": "acme", "session_id": "a", "profile": {"age": 30}})["to_step_id"]
        == "checkout"
    )
    asked = local.invoke(jit, {"tenant_id": "acme", "session_id": "b", "message": "hello"})
    assert asked["outcome"] == "needs_input" and asked["message"] == "Before we continue, what is your age?"
    assert (
        local.invoke(jit, {"tenant_id": "acme", "session_id": "b", "message": "17"})["to_step_id"]
        == "rejection"
    )
    assert local.invoke(jit, {"tenant_id": "acme", "session_id": "c"})["migration_scenario"] == "clean_graft"
    assert (
        local.invoke(jit, {"tenant_id": "acme", "session_id": "d", "profile": {"age": 16}})["outcome"]
        == "blocked"
    )
    _, final = local.http("GET", f"/api/v1/migration-plans/{plan['id']}/deployment-status")
    assert (final["migrations_applied"], final["checkpoint_blocks"], final["migrations_pending"]) == (3, 1, 0)
    # per customer: "a" reached Checkout through the new Age Verification (its age from the profile)
    assert final["migrations_by_scenario"] == {"clean_graft": 1, "gap_fill": 1, "re_route": 1}
    assert final["last_migration_at"]


def test_errors_and_documents_over_http(local: Local) -> None:
    assert local.http("GET", "/api/v1/migration-plans", tenant=None)[0] == 400
    assert local.http("GET", "/api/v1/migration-plans/nope", tenant="other")[0] == 404
    status, document = local.http("GET", "/api/v1/openapi.json")
    assert status == 200 and "/api/v1/migration-plans/{plan_id}/deploy" in document["paths"]
    assert local.http("GET", "/api/v1/docs?format=json") == (200, document)  # where the page reads it
    assert local.http("GET", "/api/v1/unknown")[0] == 404
    bad = local.invoke("JitApplyFunction", {"tenant_id": "acme"})
    assert bad["outcome"] == "error"
    with pytest.raises(local.lam.exceptions.ResourceNotFoundException):
        local.lam.invoke(FunctionName="NoSuchFunction", Payload=b"{}")
    status, report = local.http("POST", "/local/schedules/RetentionFunction")
    assert status == 200 and set(report) >= {"plans_expired", "plans_deleted", "versions_deleted"}


def test_a_poison_message_ends_in_the_dead_letter_queue(local: Local) -> None:
    """The worker fails it, the poller leaves it on the queue, and after maxReceiveCount
    receives the queue's redrive policy (template.yaml) moves it to the DLQ."""
    _, stats = local.http("GET", "/local/stats")
    sqs = local_client("sqs", stats["aws_endpoint"])
    queue = sqs.get_queue_url(QueueName="MarkingQueue")["QueueUrl"]
    dlq = sqs.get_queue_url(QueueName="MarkingDeadLetterQueue")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"kind": "explode", "tenant": "acme"}))
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        dead = sqs.receive_message(QueueUrl=dlq, AttributeNames=["All"]).get("Messages", [])
        if dead:
            assert json.loads(dead[0]["Body"])["kind"] == "explode"
            assert int(dead[0]["Attributes"]["ApproximateReceiveCount"]) >= 5
            return
        time.sleep(1)
    raise AssertionError("the poison message never reached the dead-letter queue")


def test_twenty_thousand_sessions_marked_page_by_page(local: Local) -> None:
    """20,000 sessions on DynamoDB Local; on the moto fallback (no Java), 3,000: moto is correct
    at any size but its index queries read the whole table (docs/operations.md says so)."""
    _, stats = local.http("GET", "/local/stats")
    tenant, count = "bulk", 20_000 if stats["dynamodb"] == "dynamodb-local" else 3_000
    steps = ["welcome", "checkout", "payment", "confirm"]
    v1 = {**V1, "steps": [*V1["steps"][:3], step("confirm", "Confirm", "done"), step("done", "Done")]}
    assert local.http("POST", "/api/v1/scenarios", v1, tenant=tenant)[0] == 201
    _, scenario = local.http("GET", "/api/v1/scenarios/order-flow", tenant=tenant)
    hashes = {s["id"]: _hash(s) for s in scenario["document"]["steps"]}
    _seed(stats["dynamodb_endpoint"], tenant, count, [*steps, "done"], hashes)
    status, plan = local.http(
        "POST",
        "/api/v1/scenarios/order-flow/migration-plan",
        {
            "new_scenario": {
                **V2,
                "steps": [*V2["steps"][:5], step("confirm", "Confirm", "done"), step("done", "Done")],
            },
            "created_by": "op",
        },
        tenant=tenant,
    )
    assert status == 201 and plan["summary"]["estimated_sessions_affected"] == count
    assert (
        local.http(
            "POST", f"/api/v1/migration-plans/{plan['id']}/approve", {"approved_by": "op"}, tenant=tenant
        )[0]
        == 200
    )
    before = local.http("GET", "/local/stats")[1]["invocations"]["DeployWorkerFunction"]
    assert local.http("POST", f"/api/v1/migration-plans/{plan['id']}/deploy", tenant=tenant)[0] == 202
    done = local.wait_deployed(plan["id"], tenant=tenant, seconds=600)
    assert done["sessions_marked"] == count
    invocations = local.http("GET", "/local/stats")[1]["invocations"]["DeployWorkerFunction"] - before
    pages = _ledgers(stats["dynamodb_endpoint"], tenant, plan["id"])
    assert max(len(p) for p in pages) == deployments.PAGE_SIZE == 297  # 3 transactions of 99 and the fence
    assert sum(len(p) for p in pages) == count
    # One page per invocation: each page with sessions has its ledger; a unit (a hash range of a
    # position shard) may end on an empty read, which leaves none.
    assert len(pages) <= invocations <= len(pages) + done["fanout"]["units_total"]


def _hash(step_document: dict) -> str:
    from scenario_migration.domain.scenario import Step  # noqa: PLC0415

    return Step.model_validate(step_document).content_hash


def _seed(endpoint: str, tenant: str, count: int, steps: list[str], hashes: dict[str, str]) -> None:
    """Live sessions written straight into the local run's table, with the store's own keys (the
    API path is covered above; 20,000 PUTs one by one would only time the HTTP front)."""
    dynamodb = local_client("dynamodb", endpoint)
    items = []
    for i in range(count):
        session_id, where = f"bulk-{i:05d}", steps[i % len(steps)]
        items.append(
            {
                "pk": {"S": keys.session_pk(tenant, session_id)},
                "sk": {"S": keys.SESSION_SK},
                "tenant_id": {"S": tenant},
                "session_id": {"S": session_id},
                "scenario_id": {"S": "order-flow"},
                "scenario_version": {"N": "1"},
                "current_step_id": {"S": where},
                "step_hash": {"S": hashes[where]},
                "channel": {"S": "whatsapp"},
                "status": {"S": "idle"},
                "revision": {"N": "1"},
                "created_at": {"S": "2026-11-01T00:00:00Z"},
                "last_activity_at": {"S": "2026-11-20T00:00:00Z"},
                "position_pk": {
                    "S": keys.position_pk(tenant, "order-flow", 1, keys.position_shard(session_id))
                },
                "position_sk": {"S": keys.position_sk(hashes[where], where, session_id)},
            }
        )
    for start in range(0, count, 25):
        request = {"SessionsTable": [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]}
        while request:
            request = dynamodb.batch_write_item(RequestItems=request).get("UnprocessedItems")


def _ledgers(endpoint: str, tenant: str, plan_id: str) -> list[list[str]]:
    dynamodb = local_client("dynamodb", endpoint)
    pages = dynamodb.get_paginator("query").paginate(
        TableName="PlansTable",
        KeyConditionExpression="pk = :pk AND begins_with(sk, :page)",
        ExpressionAttributeValues={":pk": {"S": keys.plan_pk(tenant, plan_id)}, ":page": {"S": "PAGE#"}},
    )
    return [[e["L"][0]["S"] for e in item["entries"]["L"]] for page in pages for item in page["Items"]]
