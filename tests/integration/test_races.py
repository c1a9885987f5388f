"""Races, through the handlers and the services, with real threads on moto and DynamoDB Local.

A refused or lost race never corrupts data (issue 11, section 4; tests/store/test_refused_writes.py
has the store's side). Before: a refused second registration of a large scenario left the first
one unreadable (a 500), and of two plans of one scenario deployed at once, one got a 202, the other
a 409, and the active version was a mix of both plans' parts, 5 times out of 5.

Then the races of issue 11 section 5 (below): two deploys of one plan, deploys of two plans of one
scenario, approve/reject/deploy/cancel at once, cancel during marking, retention during
unmarking, 50 concurrent JIT invocations on one session."""

import json
import threading
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from local_run.functions import LambdaContext
from local_run.poller import sqs_event
from scenario_migration.domain.lifecycle import PlanStatus
from scenario_migration.errors import Conflict
from scenario_migration.services import deployments, scenarios
from scenario_migration.store import deployments as deployment_store
from scenario_migration.store import dynamodb, work_queue
from scenario_migration.store import plans as plan_store
from tests import faults
from tests.documents import V1, V2_GAP, large_scenario, report, step
from tests.integration import invariants
from tests.integration.harness import Api, approve, drain, invoke_jit, propose, register
from tests.store.helpers import new_tenant, race

ROUNDS = 5


def with_intro(document: dict, intro: str) -> dict:
    """`document` with a step of its own before the entry: every compressed part differs."""
    first = step(intro, f"Intro {intro}", document["entry_step_id"])
    return {**document, "entry_step_id": intro, "steps": [first, *document["steps"]]}


def test_a_refused_registration_of_a_large_scenario_leaves_the_first_readable(api: Api, tenant: str) -> None:
    first, second = large_scenario(1, seed=1), large_scenario(1, seed=2)
    assert api.post("/api/v1/scenarios", first).status == 201
    assert api.post("/api/v1/scenarios", second).status == 409
    response = api.get("/api/v1/scenarios/order-flow")
    assert response.status == 200, response.body  # was a 500 (zlib.error)
    stored = response.body["document"]["steps"]
    assert [s["description"] for s in stored] == [s["description"] for s in first["steps"]]
    assert api.put("/api/v1/sessions/s1", report("s00001")).status == 200


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_plans_deployed_at_once_one_wins_and_its_version_is_whole(
    api: Api, tenant: str, queue_url: str, round_: int
) -> None:
    v1 = large_scenario(1, seed=round_)
    assert api.post("/api/v1/scenarios", v1).status == 201
    v2 = {**v1, "version": 2}
    plans = [propose(api, with_intro(v2, intro)) for intro in ("intro_a", "intro_b")]
    for plan in plans:
        approve(api, plan)
    results = race(*(lambda p=p: deployments.deploy(tenant, p["id"]) for p in plans))
    assert sorted(isinstance(r, Conflict) for r in results) == [False, True], results
    winner = plans[next(i for i, r in enumerate(results) if not isinstance(r, Conflict))]
    stored = plan_store.get_plan_item(tenant, winner["id"])
    assert scenarios.active_version(tenant, "order-flow") == 2
    _, document = scenarios.read_version(tenant, "order-flow", 2)  # whole: it decompresses
    assert document == plan_store.get_new_scenario(tenant, winner["id"], stored["doc_parts"])
    assert plan_store.get_plan(tenant, winner["id"]).status in (PlanStatus.DEPLOYING, PlanStatus.DEPLOYED)
    assert (
        api.get("/api/v1/scenarios/order-flow").body["document"]["entry_step_id"] == document["entry_step_id"]
    )
    assert api.put("/api/v1/sessions/s1", report("s00001")).status == 200  # on version 1, no marker
    applied = invoke_jit({"tenant_id": tenant, "session_id": "s1", "message": "hi"})
    assert (applied["outcome"], applied["to_version"]) == ("migrated", 2), applied  # JIT reads it


# -- issue 11 section 5: races, forced deterministically ---------------------------------------------------
#
# Real threads on both backends. Where an interleaving matters, a Pause (tests/faults.py) holds one
# thread right after a chosen call while the other runs: the interleaving is forced, not hoped for.
# Where any interleaving must do, a barrier starts the threads together and every outcome the
# lifecycle allows is accepted, then checked exact (tests/integration/invariants.py).

SESSIONS = {"a": report("welcome"), "b": report("checkout"), "c": report("confirm")}


def small_plan(api: Api, document: dict = V2_GAP) -> dict:
    """Sessions a, b, c on V1; a plan to `document`, approved."""
    register(api, V1, SESSIONS)
    plan = propose(api, document)
    approve(api, plan)
    return plan


def exact(api: Api, plan: dict) -> dict:
    assert api.tenant is not None
    return invariants.assert_exact(api.tenant, plan["id"], list(SESSIONS)).comparable()


def clients() -> list:
    return [dynamodb.client(), work_queue._sqs()]


def in_thread(name: str) -> Callable[[faults.Call], bool]:
    """The write calls a thread of this name makes."""
    return lambda call: call.write and threading.current_thread().name == name


def start(name: str, target: Callable[[], Any]) -> tuple[threading.Thread, list]:
    result: list = []

    def run() -> None:
        try:
            result.append(target())
        except Exception as error:
            result.append(error)

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread, result


def deploy_route(api: Api, plan: dict) -> int:
    return api.post(f"/api/v1/migration-plans/{plan['id']}/deploy").status


def cancel_route(api: Api, plan: dict) -> int:
    return api.post(f"/api/v1/migration-plans/{plan['id']}/cancel").status


@pytest.mark.usefixtures("one_work_unit")
def test_two_deploys_of_one_plan_at_once(api: Api, queue_url: str) -> None:
    """Any interleaving: each answer is a 202 or a 409 (a 202 when the other had made the plan
    deploying but not yet sent its first pages: it carries them on), one deployment, exact."""
    plan = small_plan(api)
    statuses = race(lambda: deploy_route(api, plan), lambda: deploy_route(api, plan))
    assert 202 in statuses and set(statuses) <= {202, 409}, statuses
    drain(queue_url)
    found = exact(api, plan)
    assert found["status"] == "deployed" and found["counters"]["sessions_marked"] == 3
    assert found["counters"]["units_total"] == 1  # one deploy transaction, of one_work_unit's one unit


@pytest.mark.usefixtures("one_work_unit")
def test_a_deploy_that_meets_another_half_way_carries_it_on(api: Api, queue_url: str) -> None:
    """Forced: the second deploy runs while the first stands right after its transaction (the
    plan deploying, no page sent): both answer 202, the pages go twice, marking is exact."""
    plan = small_plan(api)
    begin = faults.Pause(clients(), lambda c: in_thread("first")(c) and c.operation == "TransactWriteItems")
    with begin:
        first, answer = start("first", lambda: deploy_route(api, plan))
        assert begin.wait()
        assert deploy_route(api, plan) == 202
        begin.release()
        first.join()
    assert answer == [202]
    assert deploy_route(api, plan) == 409  # the fan-out was sent: a third deploy is refused
    drain(queue_url)
    assert exact(api, plan)["status"] == "deployed"


def _deploy_writes(api: Api) -> int:
    """How many writes a deploy of a small plan makes (counted on a tenant of its own)."""
    plan = small_plan(api)
    with faults.Injector(clients(), scope=lambda _op, p: api.tenant in json.dumps(p, default=str)) as seen:
        assert deploy_route(api, plan) == 202
    return len(seen.writes)


@pytest.mark.usefixtures("one_work_unit")
def test_deploys_of_two_plans_of_one_scenario_at_every_write(queue_url: str) -> None:
    """For each write N of a deploy: the first plan's deploy stands right after write N while the
    second plan's deploy runs: the second is refused (409: the version is taken, or the plan was
    superseded), the first answers 202, its version is whole, marking exact; the loser left
    nothing (no counters, its plan as it was or superseded)."""
    for number in range(1, _deploy_writes(Api(new_tenant())) + 1):
        api = Api(new_tenant())
        first = small_plan(api)
        second = propose(api, {**V2_GAP, "steps": [*V2_GAP["steps"][:-1], step("confirm", "Confirmed")]})
        approve(api, second)
        with faults.Pause(clients(), in_thread("first"), number) as pause:
            thread, answer = start("first", lambda p=first, a=api: deploy_route(a, p))
            assert pause.wait(), number
            assert deploy_route(api, second) == 409, number
            pause.release()
            thread.join()
        assert answer == [202], (number, answer)
        drain(queue_url)
        assert exact(api, first)["status"] == "deployed"
        assert api.tenant is not None
        assert deployment_store.counters(api.tenant, second["id"]) is None
        assert plan_store.get_plan(api.tenant, second["id"]).status in (
            PlanStatus.APPROVED,
            PlanStatus.SUPERSEDED,
        )
        stored = api.get("/api/v1/scenarios/order-flow").body["document"]
        assert stored["steps"][-1]["name"] == "Confirm"  # the first plan's document, whole


@pytest.mark.parametrize("starting", ["pending", "approved", "deploying"])
def test_approve_reject_deploy_and_cancel_at_once(api: Api, queue_url: str, starting: str) -> None:
    """Every status change raced against the others from each status: only what the lifecycle
    allows from there wins (approve and reject exclude each other; cancel needs the deploy first),
    and whatever wins leaves the deployment exact."""
    register(api, V1, SESSIONS)
    plan = propose(api, V2_GAP)
    if starting != "pending":
        approve(api, plan)
    if starting == "deploying":
        assert deploy_route(api, plan) == 202
    base = f"/api/v1/migration-plans/{plan['id']}"
    calls = {
        "approve": lambda: api.post(f"{base}/approve", {"approved_by": "op"}).status,
        "reject": lambda: api.post(f"{base}/reject", {"rejected_by": "op", "reason": "no"}).status,
        "deploy": lambda: deploy_route(api, plan),
        "cancel": lambda: cancel_route(api, plan),
    }
    answers = dict(zip(calls, race(*calls.values()), strict=True))
    assert all(status in (200, 202, 409) for status in answers.values()), answers
    won = {name for name, status in answers.items() if status in (200, 202)}
    # what some sequential order of the winners explains, and nothing else
    assert len(won & {"approve", "reject"}) == (1 if starting == "pending" else 0), answers
    assert "deploy" not in won or starting == "approved" or "approve" in won, answers
    assert "cancel" not in won or starting == "deploying" or "deploy" in won, answers
    assert "deploy" not in won or starting != "deploying", answers  # its fan-out was sent
    status = api.get(base).body["status"]
    expected = next(
        (after for name, after in LAST_WORD if name in won),
        ("deploying", "deployed") if starting == "deploying" else (starting,),
    )
    assert status in expected, (answers, status)
    drain(queue_url)
    if api.tenant and deployment_store.counters(api.tenant, plan["id"]) is not None:
        exact(api, plan)


# the status a winner leaves, the latest in the lifecycle first
LAST_WORD = [
    ("cancel", ("cancelled",)),
    ("deploy", ("deploying", "deployed")),
    ("reject", ("rejected",)),
    ("approve", ("approved",)),
]


def work_until_paused(queue_url: str, pause: faults.Pause) -> None:
    """A marking worker taking messages out of the queue one at a time (each one invocation, in
    flight until handled), stopping after the invocation during which `pause` was reached."""
    from deploy_worker.app import handler  # noqa: PLC0415 - the function's module, as Lambda loads it

    sqs = boto3.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    while not pause.reached.is_set():
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, AttributeNames=["All"])
        if not messages.get("Messages"):
            return
        message = messages["Messages"][0]
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        result = handler(
            sqs_event([message], arn, sqs.meta.region_name), LambdaContext("DeployWorkerFunction")
        )
        assert result["batchItemFailures"] == [], result


def marking_writes(queue_url: str) -> list[faults.Call]:
    """The writes of a small deployment's marking, in order (on a tenant of its own)."""
    api = Api(new_tenant())
    plan = small_plan(api)
    assert deploy_route(api, plan) == 202
    with faults.Injector(clients(), scope=lambda _op, p: api.tenant in json.dumps(p, default=str)) as seen:
        drain(queue_url)
    return seen.writes


def assert_cancelled_exactly(api: Api, plan: dict) -> None:
    found = exact(api, plan)
    assert found["status"] == "cancelled", found
    open_markers = {
        sid: row for sid, row in found["sessions"].items() if row[2] in ("pending", "awaiting_input")
    }
    assert not open_markers, f"markers left open by a cancelled plan: {open_markers}"


@pytest.mark.usefixtures("one_work_unit")
def test_cancel_during_marking_at_every_write(queue_url: str) -> None:
    """For each write N of marking: the worker stands right after write N while the plan is
    cancelled and the whole unmarking runs; then the worker goes on. No marker stays pending,
    every count is exact (a page the cancel settled before its worker's marks, or before its
    count, is counted once, and its late marks are refused)."""
    for number in range(1, len(marking_writes(queue_url)) + 1):
        api = Api(new_tenant())
        plan = small_plan(api)
        assert deploy_route(api, plan) == 202
        with faults.Pause(clients(), in_thread("worker"), number) as pause:
            worker, _ = start("worker", lambda p=pause: work_until_paused(queue_url, p))
            assert pause.wait(), number
            assert cancel_route(api, plan) == 200
            drain(queue_url)  # unmarking, settling, and any page the worker sent before
            pause.release()
            worker.join()
        drain(queue_url)
        assert_cancelled_exactly(api, plan)


@pytest.mark.usefixtures("one_work_unit")
def test_retention_during_unmarking_at_every_write(queue_url: str) -> None:
    """A deployment cancelled while a page was marked but not yet counted (its worker stands
    right after its marker transaction); for each write M of the unmarking (0: before it starts),
    a whole retention run happens right there. Retention must not delete the page ledgers an
    unmarking still needs: no marker stays pending, the counts are exact."""
    mark_transaction = next(
        i
        for i, call in enumerate(marking_writes(queue_url), start=1)
        if call.operation == "TransactWriteItems"
    )
    unmarking = _unmarking_writes(queue_url, mark_transaction)
    for number in range(len(unmarking) + 1):
        api = Api(new_tenant())
        plan = small_plan(api)
        assert deploy_route(api, plan) == 202
        with faults.Pause(clients(), in_thread("worker"), mark_transaction) as marked:
            worker, _ = start("worker", lambda p=marked: work_until_paused(queue_url, p))
            assert marked.wait()
            assert cancel_route(api, plan) == 200
            if number == 0:
                run_retention()
                drain(queue_url)
            else:
                with faults.Pause(clients(), in_thread("unmarker"), number) as pause:
                    unmarker, _ = start("unmarker", lambda: drain(queue_url))
                    assert pause.wait(), number
                    run_retention()
                    pause.release()
                    unmarker.join()
            marked.release()
            worker.join()
        drain(queue_url)
        assert_cancelled_exactly(api, plan)


def _unmarking_writes(queue_url: str, mark_transaction: int) -> list[faults.Call]:
    api = Api(new_tenant())
    plan = small_plan(api)
    assert deploy_route(api, plan) == 202
    with faults.Pause(clients(), in_thread("worker"), mark_transaction) as marked:
        worker, _ = start("worker", lambda: work_until_paused(queue_url, marked))
        assert marked.wait()
        assert cancel_route(api, plan) == 200
        with faults.Injector(
            clients(), scope=lambda _op, p: api.tenant in json.dumps(p, default=str)
        ) as seen:
            drain(queue_url)
        marked.release()
        worker.join()
    drain(queue_url)
    return seen.writes


def run_retention() -> None:
    """A whole retention pass, through the function's handler."""
    from retention.app import handler  # noqa: PLC0415 - the function's module, as Lambda loads it

    class Context(LambdaContext):
        @staticmethod
        def get_remaining_time_in_millis() -> int:
            return 900_000

    handler({"source": "aws.events"}, Context("RetentionFunction"))


@pytest.mark.usefixtures("one_work_unit")
@pytest.mark.parametrize("request_id", [None, "msg-1"])
def test_fifty_concurrent_invocations_on_one_session(
    api: Api, queue_url: str, request_id: str | None
) -> None:
    """50 invocations started together on one session: one migration, one audit record, exact
    counters. With one request_id they are retries of one message and all get its answer;
    without, each is a new message and the others find the session migrated (`none`)."""
    assert api.tenant is not None
    register(api, V1, {"hot": report("checkout")})
    plan = propose(api, V2_GAP)
    approve(api, plan)
    assert deploy_route(api, plan) == 202
    drain(queue_url)
    payload = {
        "tenant_id": api.tenant,
        "session_id": "hot",
        "message": "hi",
        "profile": {"age": 40},  # the field V2 asks for is known: it migrates at once (gap_fill)
        **({"request_id": request_id} if request_id else {}),
    }
    results = race(*(lambda: invoke_jit(payload) for _ in range(50)))
    assert not [r for r in results if isinstance(r, Exception)], results
    migrated = [r for r in results if r["outcome"] == "migrated"]
    assert len(migrated) == (50 if request_id else 1), [r["outcome"] for r in results]
    assert all(r == migrated[0] for r in migrated)
    assert all(r == {"outcome": "none"} for r in results if r["outcome"] != "migrated")
    found = invariants.assert_exact(api.tenant, plan["id"], ["hot"])
    assert found.sessions["hot"][4] == ("migrated",)  # one audit record
    assert found.counters["migrations_applied"] == 1
