"""`make run` for real: start `python -m local_run` and drive it over HTTP and Lambda Invoke, as
the README's walk-through and the seed's quickstart do."""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_run.aws import local_client
from local_run.dynamodb_local import free_port
from scenario_migration.services import deployments
from scenario_migration.store import keys
from tests.documents import V1_PAYMENT, V2_FORK_PAYMENT, step

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


class Local:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.lam = local_client("lambda", self.base)

    def http(self, method: str, path: str, body: Any = None, tenant: str | None = "acme") -> tuple[int, Any]:
        request = urllib.request.Request(
            f"{self.base}{path}", method=method, data=json.dumps(body).encode() if body is not None else None
        )
        request.add_header("Content-Type", "application/json")
        if tenant:
            request.add_header("X-Tenant-ID", tenant)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def invoke(self, function: str, payload: dict) -> dict:
        return json.loads(
            self.lam.invoke(FunctionName=function, Payload=json.dumps(payload))["Payload"].read()
        )

    def wait_deployed(self, plan_id: str, tenant: str = "acme", seconds: float = 300) -> dict:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            _, status = self.http(
                "GET", f"/api/v1/migration-plans/{plan_id}/deployment-status", tenant=tenant
            )
            if status["status"] == "deployed":
                return status
            time.sleep(0.5)
        raise AssertionError(f"not deployed in {seconds}s: {status}")


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    """`python -m local_run` on a free port. Its output goes to a file, not a pipe: an unread pipe
    fills up and blocks the server's logging."""
    port = free_port()
    env = {**os.environ, "LOCAL_PORT": str(port), "LOCAL_SCHEDULE_SECONDS": "3600", "PYTHONUNBUFFERED": "1"}
    log = tmp_path_factory.mktemp("local_run") / "output.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "local_run"], cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 120
    while "Local run ready on" not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError("the local run did not start:\n" + log.read_text())
        time.sleep(0.2)
    yield Local(port)
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


V1, V2 = V1_PAYMENT, V2_FORK_PAYMENT  # the seed's age fork before Checkout, a checkpoint after it


def test_the_quickstart_end_to_end(local: Local) -> None:
    assert local.http("POST", "/api/v1/scenarios", V1)[0] == 201
    sessions = {"a": "checkout", "b": "checkout", "c": "welcome", "d": "confirm"}
    for session_id, where in sessions.items():
        visited = ["welcome", "checkout", "payment"] if where == "confirm" else []
        body = {
            "scenario_id": "order-flow",
            "scenario_version": 1,
            "current_step_id": where,
            "channel": "whatsapp",
            "visited_step_ids": visited,
            "status": "idle",
        }
        assert local.http("PUT", f"/api/v1/sessions/{session_id}", body)[0] == 200
    status, plan = local.http(
        "POST",
        "/api/v1/scenarios/order-flow/migration-plan",
        {"new_scenario": V2, "created_by": "operator@example.com"},
    )
    assert (
        status == 201 and plan["status"] == "pending" and plan["summary"]["estimated_sessions_affected"] == 4
    )
    _, summary = local.http("GET", f"/api/v1/migration-plans/{plan['id']}/summary")
    assert summary["anchors_with_re_route"] == 3 and summary["anchors_with_clean_graft"] == 1
    checkout = next(a for a in plan["transformation_map"]["anchors"] if a["anchor_name"] == "Checkout")
    policies = {checkout["anchor_content_hash"]: {"scope_filter": {"include_channels": ["whatsapp"]}}}
    assert (
        local.http("PUT", f"/api/v1/migration-plans/{plan['id']}/policies", {"policies": policies})[0] == 200
    )
    assert (
        local.http("POST", f"/api/v1/migration-plans/{plan['id']}/approve", {"approved_by": "op"})[0] == 200
    )
    status, deployed = local.http("POST", f"/api/v1/migration-plans/{plan['id']}/deploy")
    assert status == 202 and set(deployed) >= {
        "plan_id",
        "sessions_marked",
        "sessions_by_anchor",
        "deployed_at",
        "status",
    }
    assert local.wait_deployed(plan["id"], seconds=60)["sessions_marked"] == 4

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
    tenant, count = "bulk", 20_000
    steps = ["welcome", "checkout", "payment", "confirm"]
    v1 = {**V1, "steps": [*V1["steps"][:3], step("confirm", "Confirm", "done"), step("done", "Done")]}
    assert local.http("POST", "/api/v1/scenarios", v1, tenant=tenant)[0] == 201
    _, scenario = local.http("GET", "/api/v1/scenarios/order-flow", tenant=tenant)
    hashes = {s["id"]: _hash(s) for s in scenario["document"]["steps"]}
    _, stats = local.http("GET", "/local/stats")
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
    assert max(len(p) for p in pages) == deployments.PAGE_SIZE == 300
    assert sum(len(p) for p in pages) == count
    # one page per invocation: every page with sessions has its ledger; a unit's last page may be
    # empty (no ledger), at most one per work unit
    assert len(pages) <= invocations <= len(pages) + deployments.unit_count()


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
