"""Issue "deploy": marking is exact under redelivery, crashes, throttling, concurrency and JIT."""

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from local_run.functions import LambdaContext
from local_run.poller import sqs_event
from scenario_migration.services import deployments
from scenario_migration.store import dynamodb, keys, work_queue
from scenario_migration.store import plans as plan_store
from scenario_migration.store import sessions as session_store
from tests import faults
from tests.documents import V1, V2_DOWNSTREAM, order_flow, report, step
from tests.integration import harness
from tests.integration.harness import Api, approve, deploy, drain, propose, register

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem", "SendMessageBatch"}


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deployments, "PAGE_SIZE", 2)  # many pages and continuations from few sessions


def setup_plan(api: Api, sessions: dict[str, dict[str, Any]], policies: dict | None = None) -> dict:
    register(api, V1, sessions)
    plan = propose(api, V2_DOWNSTREAM)
    if policies:
        keyed = {
            a["anchor_content_hash"]: policies[a["anchor_name"]]
            for a in plan["transformation_map"]["anchors"]
            if a["anchor_name"] in policies
        }
        assert api.put(f"/api/v1/migration-plans/{plan['id']}/policies", {"policies": keyed}).status == 200
    approve(api, plan)
    return plan


def spread(
    count: int, steps: tuple[str, ...] = ("welcome", "checkout", "confirm")
) -> dict[str, dict[str, Any]]:
    return {f"s{i:03d}": report(steps[i % len(steps)]) for i in range(count)}


def markers(api: Api, session_ids: list[str], plan_id: str) -> dict[str, dict]:
    found = {}
    for session_id in session_ids:
        marker = api.get(f"/api/v1/sessions/{session_id}").body["marker"]
        if marker and marker["plan_id"] == plan_id:
            found[session_id] = marker
    return found


def assert_exact(api: Api, plan: dict, expected: set[str], all_ids: list[str]) -> dict:
    status = api.get(f"/api/v1/migration-plans/{plan['id']}/deployment-status").body
    marked = markers(api, all_ids, plan["id"])
    assert set(marked) == expected
    assert status["sessions_marked"] == len(expected)
    assert status["status"] == "deployed"
    assert status["fanout"]["units_done"] == status["fanout"]["units_total"]
    return status


def test_marking_marks_every_live_session_once(api: Api, queue_url: str) -> None:
    sessions = spread(9) | {"closed": report("checkout", status="closed"), "idle": report("welcome")}
    plan = setup_plan(api, sessions)
    assert deploy(api, plan)["status"] == "deploying"
    drain(queue_url)
    status = assert_exact(api, plan, set(sessions) - {"closed"}, list(sessions))
    assert status["migrations_pending"] == 10


def test_every_message_delivered_twice(api: Api, queue_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sessions = spread(7)
    plan = setup_plan(api, sessions)
    original = work_queue.send
    monkeypatch.setattr(
        work_queue,
        "send",
        lambda tenant, messages, **kw: original(tenant, [m for m in messages for _ in range(2)], **kw),
    )
    deploy(api, plan)
    drain(queue_url)
    assert_exact(api, plan, set(sessions), list(sessions))


@contextmanager
def crash_after_write(number: int) -> Iterator[list[str]]:
    """Raise once, right after the `number`-th successful write (DynamoDB or SQS) of anyone."""
    seen: list[str] = []

    def hook(model: Any, **_: Any) -> None:
        if model.name in WRITES:
            seen.append(model.name)
            if len(seen) == number:
                raise RuntimeError(f"injected crash after write {number} ({model.name})")

    clients = [dynamodb.client(), work_queue._sqs()]
    for c in clients:
        c.meta.events.register("after-call", hook)
    try:
        yield seen
    finally:
        for c in clients:
            c.meta.events.unregister("after-call", hook)


def test_a_crash_after_each_write_in_turn_never_double_counts(
    api: Api, queue_url: str, monkeypatch: pytest.MonkeyPatch, configure: Callable[..., None]
) -> None:
    """One index shard keeps the number of writes (and so of runs) small; sharding is orthogonal.
    A unit per step hash range with anybody in it (`unit_sessions` 1), a page per session: two
    units, one of them continued."""
    monkeypatch.setattr(keys, "POSITION_SHARDS", 1)
    monkeypatch.setattr(deployments, "PAGE_SIZE", 1)
    configure(deployment__unit_sessions="1")
    sessions = {"a": report("welcome"), "b": report("welcome"), "c": report("checkout")}
    plan = setup_plan(api, sessions)
    deploy(api, plan)
    with crash_after_write(10**9) as writes:
        drain(queue_url)
    total = len(writes)
    assert total >= 10  # claims, marks, commits and sends of two units, a page per session
    assert_exact(api, plan, set(sessions), list(sessions))
    for number in range(1, total + 1):
        tenant_api = Api(f"crash-{number}-{plan['id'][:8]}")
        plan_n = setup_plan(tenant_api, sessions)
        deploy(tenant_api, plan_n)
        with crash_after_write(number):
            drain(queue_url)
        assert_exact(tenant_api, plan_n, set(sessions), list(sessions))


def test_units_sized_by_the_census_still_cover_sessions_that_move_after_it(
    api: Api, queue_url: str, tenant: str, monkeypatch: pytest.MonkeyPatch, configure: Callable[..., None]
) -> None:
    """The plan-time census cuts the one shard at the digits it saw (welcome's and checkout's
    hashes); a session that starts after it (d) or moves between the deploy and its page (a, to
    confirm, whose digit nobody was on) is still in a unit, and marked there, once."""
    monkeypatch.setattr(keys, "POSITION_SHARDS", 1)
    configure(deployment__unit_sessions="1")
    sessions = {"a": report("welcome"), "b": report("welcome"), "c": report("checkout")}
    plan = setup_plan(api, sessions)
    assert api.put("/api/v1/sessions/d", report("checkout")).status == 200
    assert deploy(api, plan)["work_units"] == 2
    assert api.put("/api/v1/sessions/a", report("confirm")).status == 200
    drain(queue_url)
    status = assert_exact(api, plan, {*sessions, "d"}, [*sessions, "d"])
    moved = session_store.get(tenant, "a")
    assert moved and moved.marker and moved.marker.page_id == "000001#000000"  # unit 1: confirm's "e"
    assert status["fanout"]["units_total"] == len(
        deployments.layout_of(tenant, plan_store.get_plan(tenant, plan["id"]))
    )


def test_an_older_releases_messages_walk_its_uniform_layout(
    api: Api,
    queue_url: str,
    tenant: str,
    monkeypatch: pytest.MonkeyPatch,
    configure: Callable[..., None],
) -> None:
    """A plan deployed by the release before sized layouts: no `marking_layout` on its item, its
    64 units in the counters, its `mark` messages in flight (a unit index, no range). The worker
    walks that release's uniform layout (8 ranges a shard: from the counters, whatever
    `marking_ranges` says now), its continuations keep that format, everybody is marked once."""
    monkeypatch.setattr(deployments, "PAGE_SIZE", 2)
    configure(deployment__marking_ranges="2")  # changed since that deploy: the counters decide
    sessions = spread(30)
    plan = setup_plan(api, sessions)
    deploy(api, plan)
    _all_messages(queue_url)  # this release's first pages, gone: the older release's instead
    plan_key = {"pk": {"S": keys.plan_pk(tenant, plan["id"])}}
    table, client = dynamodb.table_name(plan_store.TABLE_ENV), dynamodb.client()
    client.update_item(
        TableName=table, Key={**plan_key, "sk": {"S": keys.PLAN_SK}}, UpdateExpression="REMOVE marking_layout"
    )
    client.update_item(
        TableName=table,
        Key={**plan_key, "sk": {"S": "COUNTERS#000"}},
        UpdateExpression="SET units_total = :units, units_total_slice_00 = :units",
        ExpressionAttributeValues={":units": {"N": "64"}},
    )
    sent: list[dict] = []
    original = work_queue.send

    def recording(to: str, bodies: list[dict], **kw: Any) -> None:
        sent.extend(bodies)
        original(to, bodies, **kw)

    monkeypatch.setattr(work_queue, "send", recording)
    work_queue.send(
        tenant, [{"kind": "mark", "plan_id": plan["id"], "unit": u, "page": 0} for u in range(64)]
    )
    drain(queue_url)
    assert_exact(api, plan, set(sessions), list(sessions))
    continued = [body for body in sent if body["page"] > 0]
    assert continued and all("unit" in body and "range" not in body for body in continued)


def test_a_mark_message_whose_range_is_not_its_plans_is_refused(
    api: Api, queue_url: str, tenant: str
) -> None:
    """A forged or corrupt range (not the plan's unit at its index, or no such unit) is refused
    before any read of the index or write: the worker reports that message failed."""
    plan = setup_plan(api, spread(3))
    deploy(api, plan)
    drain(queue_url)
    base = {"kind": "mark", "plan_id": plan["id"], "tenant": tenant, "slice": 0, "page": 0}
    for bad in (
        {"unit_index": 0, "range": "0:01"},
        {"unit_index": 99, "range": "0:0f"},
        {"unit_index": 0, "range": "x"},
    ):
        with pytest.raises((ValueError, IndexError)):
            deployments.handle({**base, **bad})
    assert_exact(api, plan, set(spread(3)), list(spread(3)))


def test_throttling_mid_page_is_retried_by_botocore(api: Api, queue_url: str) -> None:
    sessions = spread(8, ("checkout",))
    plan = setup_plan(api, sessions)
    deploy(api, plan)
    writes = {"requests": 0, "throttled": 0}

    def maybe_throttle(request: Any) -> AWSResponse | None:
        if faults.operation(request) in ("PutItem", "TransactWriteItems"):
            writes["requests"] += 1
            if writes["requests"] in (2, 4, 6):  # a claim, marker and commit writes, mid-page
                writes["throttled"] += 1
                return faults.dynamodb_error(request, "ProvisionedThroughputExceededException", "injected")
        return None

    with faults.answering(dynamodb.client(), maybe_throttle):
        drain(queue_url)
    assert writes["throttled"] == 3
    assert_exact(api, plan, set(sessions), list(sessions))


def _marker_transaction(request: Any) -> list[dict]:
    """The items of a TransactWriteItems request of marker writes (else none)."""
    items = json.loads(request.body or b"{}").get("TransactItems", [])
    marks = items and items[0].get("Update", {}).get("UpdateExpression", "").startswith("SET marker = :m")
    return items if marks else []


def test_a_conflict_with_a_jit_write_fails_the_page_and_its_redelivery_marks_it(
    api: Api, queue_url: str
) -> None:
    """A marker transaction cancelled by a conflict (the session's own JIT write at that moment)
    is raised, the message is redelivered, and the page is marked and counted once."""
    sessions = spread(8, ("checkout",))
    plan = setup_plan(api, sessions)
    deploy(api, plan)
    conflicts = {"left": 3}

    def conflict(request: Any) -> AWSResponse | None:
        items = _marker_transaction(request)
        if conflicts["left"] and items:
            conflicts["left"] -= 1
            reasons = [{"Code": "None"}] * (len(items) - 1) + [{"Code": "TransactionConflict"}]
            return faults.dynamodb_error(
                request, "TransactionCanceledException", "conflict", CancellationReasons=reasons
            )
        return None

    with faults.answering(dynamodb.client(), conflict):
        drain(queue_url)
    assert conflicts["left"] == 0
    assert_exact(api, plan, set(sessions), list(sessions))


def test_two_workers_on_the_same_unit_at_once(api: Api, queue_url: str, tenant: str) -> None:
    sessions = spread(12, ("checkout",))
    plan = setup_plan(api, sessions)
    deploy(api, plan)
    units = [json.loads(m["Body"]) for m in _all_messages(queue_url)]
    assert len(units) == len(deployments.layout_of(tenant, plan_store.get_plan(tenant, plan["id"])))
    for unit in units:  # every unit's first page, processed twice concurrently
        threads = [threading.Thread(target=deployments.handle, args=(unit,)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    drain(queue_url)
    assert_exact(api, plan, set(sessions), list(sessions))


def _all_messages(queue_url: str) -> list[dict]:
    sqs, found = boto3.client("sqs"), []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        found += messages
        for m in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    return found


def test_jit_applications_while_marking(api: Api, queue_url: str, tenant: str) -> None:
    sessions = spread(10, ("checkout", "confirm"))
    plan = setup_plan(api, sessions)
    deploy(api, plan)
    migrated: list[str] = []
    order = list(sessions)

    def customer_writes(_: dict) -> None:
        if order:
            session_id = order.pop(0)
            result = harness.invoke_jit({"tenant_id": tenant, "session_id": session_id, "message": "hi"})
            assert result["outcome"] == "migrated"
            migrated.append(session_id)

    drain(queue_url, on_event=customer_writes)
    status = api.get(f"/api/v1/migration-plans/{plan['id']}/deployment-status").body
    fanout_marked = {s for s, m in markers(api, list(sessions), plan["id"]).items() if m.get("marked_at")}
    assert migrated and status["sessions_marked"] == len(fanout_marked)
    for session_id in set(sessions) - set(migrated):
        assert session_id in fanout_marked  # still on V1: marked exactly once
    assert status["migrations_applied"] == len(migrated)


def test_scope_filters(api: Api, queue_url: str, tenant: str) -> None:
    now = datetime.now(UTC)
    born = {d: (now - timedelta(days=d, hours=1)).isoformat() for d in (0, 1, 30, 31)}
    sessions = {
        "wa": report("checkout", channel="whatsapp", created_at=born[1]),
        "web": report("checkout", channel="web", created_at=born[1]),
        "sms": report("checkout", channel="sms", created_at=born[1]),
        "fresh": report("welcome", channel="web", created_at=born[0]),
        "day1": report("welcome", channel="web", created_at=born[1]),
        "day30": report("confirm", channel="web", created_at=born[30]),
        "day31": report("confirm", channel="web", created_at=born[31]),
        "closed": report("confirm", channel="web", created_at=born[1], status="closed"),
    }
    policies = {
        "Checkout": {"scope_filter": {"include_channels": ["whatsapp", "sms"], "exclude_channels": ["sms"]}},
        "Welcome": {"scope_filter": {"max_session_age_days": 0}},
        "Confirm": {"scope_filter": {"min_session_age_days": 1, "max_session_age_days": 30}},
    }
    plan = setup_plan(api, sessions, policies)
    api.put("/api/v1/sessions/other-version", report("checkout", version=1, scenario_id="order-flow"))
    deploy(api, plan)
    drain(queue_url)
    everyone = [*sessions, "other-version"]
    assert set(markers(api, everyone, plan["id"])) == {"wa", "fresh", "day30", "other-version"}


def test_cancel_unmarks_sessions_not_yet_migrated(api: Api, queue_url: str, tenant: str) -> None:
    """Cancel settles every open marker: pending ones and those waiting on the customer (marked
    by the fan-out or by JIT); the counters end exact, nothing stays pending or waiting."""
    sessions = spread(6, ("checkout",))
    plan = setup_plan(api, sessions)
    deploy(api, plan)
    drain(queue_url)
    jit = {"tenant_id": tenant, "message": "hi"}
    assert harness.invoke_jit({**jit, "session_id": "s000"})["outcome"] == "migrated"
    cancelled = api.post(f"/api/v1/migration-plans/{plan['id']}/cancel")
    assert cancelled.status == 200 and cancelled.body["status"] == "cancelled"
    drain(queue_url)
    status = api.get(f"/api/v1/migration-plans/{plan['id']}/deployment-status").body
    assert (status["status"], status["sessions_unmarked"], status["migrations_pending"]) == (
        "cancelled",
        5,
        0,
    )
    states = {sid: m["state"] for sid, m in markers(api, list(sessions), plan["id"]).items()}
    assert states == {"s000": "applied"} | dict.fromkeys(["s001", "s002", "s003", "s004", "s005"], "unmarked")
    assert harness.invoke_jit({**jit, "session_id": "s001"})["outcome"] == "none"
    assert api.post(f"/api/v1/migration-plans/{plan['id']}/cancel").status == 409


def test_deploy_rules(api: Api, queue_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    plan = setup_plan(api, spread(3))
    url = f"/api/v1/migration-plans/{plan['id']}/deploy"
    assert deploy(api, plan)["work_units"] == keys.POSITION_SHARDS  # few sessions: one unit a shard
    again = api.post(url)
    assert again.status == 409 and again.body["error"]["details"]["status"] in ("deploying", "deployed")
    assert api.get("/api/v1/scenarios/order-flow").body["version"] == 2


def test_a_poison_message_fails_alone_in_its_batch(api: Api, queue_url: str) -> None:
    """Partial batch failure: the worker reports only the message it cannot handle; the good ones
    in the same batch are done (SQS deletes them) and the plan still completes."""
    from deploy_worker.app import handler  # noqa: PLC0415

    sessions = spread(4)
    plan = setup_plan(api, sessions)
    deploy(api, plan)
    sqs = boto3.client("sqs")
    first = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1)["Messages"]
    poison = {"MessageId": "poison", "ReceiptHandle": "r", "Body": json.dumps({"kind": "explode"})}
    event = sqs_event([poison, *first], "arn:aws:sqs:us-east-1:000000000000:MarkingQueue", "us-east-1")
    result = handler(event, LambdaContext("DeployWorkerFunction"))
    assert result == {"batchItemFailures": [{"itemIdentifier": "poison"}]}
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=first[0]["ReceiptHandle"])
    drain(queue_url)
    assert_exact(api, plan, set(sessions), list(sessions))


def test_a_large_page_is_marked_in_transactions_of_99_and_the_fence(
    api: Api, queue_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """230 sessions on one step in one index shard: one page, three marker transactions (each also
    checks the page's fence: a transaction holds at most 100 items)."""
    monkeypatch.setattr(deployments, "PAGE_SIZE", 500)
    monkeypatch.setattr(keys, "POSITION_SHARDS", 1)
    sessions = spread(230, ("checkout",))
    plan = setup_plan(api, sessions)
    deploy(api, plan)
    chunks: list[int] = []
    mark = deployments.session_store.mark

    def counted(tenant: str, targets: list[Any], fence: dict[str, Any]) -> dict[str, Any]:
        chunks.append(len(targets))
        assert fence["ConditionCheck"]["Key"]["sk"]["S"].startswith("PAGESTATE#")
        return mark(tenant, targets, fence)

    monkeypatch.setattr(deployments.session_store, "mark", counted)
    drain(queue_url)
    assert sorted(chunks) == [32, 99, 99]  # a botocore retry would not show here: it is one call
    assert_exact(api, plan, set(sessions), list(sessions))


@pytest.mark.parametrize("steps", [3, 600])
def test_marking_cost_follows_the_sessions_not_the_scenario(
    api: Api, queue_url: str, steps: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One live session: the same messages and ledger writes for 3 steps as for 600 (before, every
    (step x shard) was a work unit: 600 steps were 4,800 messages)."""
    monkeypatch.setattr(deployments, "PAGE_SIZE", 300)
    chain = [step(f"s{i}", f"Step {i}", f"s{i + 1}") for i in range(steps - 1)] + [
        step(f"s{steps - 1}", "Last")
    ]
    old = order_flow(1, chain)
    new = order_flow(2, [*chain[:-1], step(f"s{steps - 1}", "Last", "extra"), step("extra", "Extra")])
    register(api, old, {"one": report("s1")})
    plan = propose(api, new)
    approve(api, plan)
    deploy(api, plan)
    handled = drain(queue_url)
    messages = sum(len(event["Records"]) for event in handled)
    assert messages == keys.POSITION_SHARDS  # each unit's one page, empty or not: one unit a shard
    status = api.get(f"/api/v1/migration-plans/{plan['id']}/deployment-status").body
    assert (status["sessions_marked"], status["status"]) == (1, "deployed")
