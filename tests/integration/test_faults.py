"""Faults at every DynamoDB and SQS call site of deploy, marking, JIT, cancel and retention, through
the real handlers (issue 11, section 5), on moto and on DynamoDB Local.

Each *flow* is one phase of a deployment's life driven as AWS would drive it: the deploy and cancel
routes through API Gateway events (an operator retries a 5xx), the marking worker through SQS
events (a failed message comes back), JIT through Lambda Invoke (the runtime retries with the same
request_id), retention through its schedule (the next run goes on). A fault-free run of the flow
records every call and its call site (tests/faults.py), then the flow runs again, from the same
starting point in a new tenant, under:
- a crash right after each write in turn (every N, enumerated from the recording, not hand-picked),
  then the recovery above;
- at the first call of every call site: a refusal botocore retries (throttling, 5xx, a refused
  connection), a response lost after the write was applied, a transaction conflict.
After recovery, the outcome must equal the fault-free one and be exact in itself (tests/integration
/invariants.py): every marker once, no migration twice, one audit record per migration, counters
equal to the sessions' real states.

The world is small on purpose (one index shard, one hash range, pages of two sessions: three
sessions make two pages, a continuation and a unit end), so that every write is a crash point and
the suite stays within its time budget.
"""

import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import botocore.endpoint
import pytest

from local_run.functions import LambdaContext
from scenario_migration.services import deployments
from scenario_migration.store import dynamodb, work_queue
from tests import faults
from tests.documents import V1, V2_GAP, report
from tests.integration import harness, invariants
from tests.integration.harness import Api, approve, propose, register
from tests.store.helpers import new_tenant

SESSIONS = {"a": report("welcome"), "b": report("checkout"), "c": report("confirm")}
ATTEMPTS = 6  # an operator's, the runtime's or the schedule's retries after a failure


@pytest.fixture(autouse=True)
def _small(one_work_unit: None, fresh_clients: None) -> None:
    """Every test here: one work unit, pages of two; new clients after it."""


@dataclass
class World:
    api: Api
    queue_url: str
    plan: dict[str, Any] = field(default_factory=dict)
    answers: list[Any] = field(default_factory=list)  # what the phase's callers were answered, in order

    @property
    def tenant(self) -> str:
        assert self.api.tenant is not None
        return self.api.tenant

    @property
    def plan_id(self) -> str:
        return self.plan["id"]


# -- what AWS and the callers do, with their retries --------------------------------------------------------


def call_route(world: World, method: str, path: str, body: Any = None) -> harness.Response:
    """An operator's call, retried while it answers a 5xx (a crash answers a 500)."""
    for _ in range(ATTEMPTS):
        response = world.api.call(method, path, body)
        if response.status < 500:
            world.answers.append(response.status)
            return response
    raise AssertionError(f"{method} {path} kept failing: {response.body}")


def invoke(world: World, session_id: str, request_id: str, **payload: Any) -> dict[str, Any]:
    """The runtime's invocation, retried with the same request_id when the function fails."""
    event = {"tenant_id": world.tenant, "session_id": session_id, "request_id": request_id, **payload}
    for _ in range(ATTEMPTS):
        try:
            answer = harness.invoke_jit(event)
        except Exception:
            continue
        world.answers.append(answer["outcome"])
        return answer
    raise AssertionError(f"JIT kept failing on {session_id}")


class LongContext(LambdaContext):
    """The retention function with time for a whole pass."""

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 900_000


def run_retention(_: World) -> None:
    """The scheduled run, run again after a failure (as the next schedule would)."""
    from retention.app import handler  # noqa: PLC0415 - the function's module, as Lambda loads it

    for _attempt in range(ATTEMPTS):
        try:
            handler(
                {"source": "aws.events", "detail-type": "Scheduled Event"}, LongContext("RetentionFunction")
            )
            return
        except Exception:
            continue
    raise AssertionError("retention kept failing")


# -- the flows: a starting point, then the phase under faults ------------------------------------------------


def proposed(world: World) -> None:
    """Sessions on V1, a plan to V2_GAP."""
    register(world.api, V1, SESSIONS)
    world.plan = propose(world.api, V2_GAP)


def planned(world: World) -> None:
    """... approved."""
    proposed(world)
    approve(world.api, world.plan)


def deployed(world: World) -> None:
    planned(world)
    harness.deploy(world.api, world.plan)


def marked(world: World) -> None:
    deployed(world)
    harness.drain(world.queue_url)


def half_migrated(world: World) -> None:
    """`a` migrated, `b` waiting on the customer (its age), `c` pending."""
    marked(world)
    assert invoke(world, "a", "a-1")["outcome"] == "migrated"
    assert invoke(world, "b", "b-1")["outcome"] == "needs_input"


def all_migrated(world: World) -> None:
    half_migrated(world)
    assert invoke(world, "b", "b-2", message="34")["outcome"] == "migrated"
    assert invoke(world, "c", "c-1", profile={"age": 40})["outcome"] == "migrated"


def approve_phase(world: World) -> None:
    path = f"/api/v1/migration-plans/{world.plan_id}/approve"
    assert call_route(world, "POST", path, {"approved_by": "op"}).status in (200, 409)


def deploy_phase(world: World) -> None:
    assert call_route(world, "POST", f"/api/v1/migration-plans/{world.plan_id}/deploy").status in (202, 409)


def drain(world: World) -> None:
    harness.drain(world.queue_url)


def jit_phase(world: World) -> None:
    invoke(world, "a", "a-1")
    invoke(world, "b", "b-1")
    invoke(world, "b", "b-2", message="34")
    invoke(world, "c", "c-1", profile={"age": 40})


def cancel_phase(world: World) -> None:
    assert call_route(world, "POST", f"/api/v1/migration-plans/{world.plan_id}/cancel").status in (200, 409)
    harness.drain(world.queue_url)


def nothing(_: World) -> None:
    return None


@dataclass(frozen=True)
class Flow:
    """A starting point, the phase that runs under faults, and what runs after it (unfaulted)."""

    name: str
    start: Callable[[World], None]
    phase: Callable[[World], None]
    then: Callable[[World], None] = nothing

    def __str__(self) -> str:
        return self.name


FLOWS = [
    Flow("approve", proposed, approve_phase),
    Flow("deploy", planned, deploy_phase, then=drain),  # the deploy route; marking is the next flow
    Flow("marking", deployed, drain),
    Flow("jit", marked, jit_phase),
    Flow("cancel", half_migrated, cancel_phase),  # the route, then unmarking and settling
    Flow("retention", all_migrated, run_retention),
]


def injector(world: World) -> faults.Injector:
    """Faults on the store's own clients. Only calls about this world's tenant count, and
    retention's scans and cursor (its pass also reads and writes other tests' items)."""

    def ours(operation: str, params: dict[str, Any]) -> bool:
        text = json.dumps(params, default=str)
        return world.tenant in text or operation == "Scan" or "RETENTION" in text

    return faults.Injector([dynamodb.client(), work_queue._sqs()], scope=ours)


def run(flow: Flow, queue_url: str, arm: Callable[[faults.Injector], None]) -> tuple[World, faults.Injector]:
    """The flow's starting point in a new tenant, then its phase with the faults `arm` sets."""
    world = World(Api(new_tenant()), queue_url)
    flow.start(world)
    with injector(world) as inject:
        arm(inject)
        flow.phase(world)
    flow.then(world)
    return world, inject


_references: dict[tuple[str, str], tuple[World, dict[str, Any], faults.Injector]] = {}


def reference(flow: Flow, backend: str, queue_url: str) -> tuple[World, dict[str, Any], faults.Injector]:
    """A fault-free run of a flow, its outcome and its recorded calls (once per backend)."""
    if (flow.name, backend) not in _references:
        world, recorded = run(flow, queue_url, lambda _: None)
        assert recorded.writes, f"the {flow} phase wrote nothing"
        _references[flow.name, backend] = world, outcome(world), recorded
    return _references[flow.name, backend]


def outcome(world: World) -> dict[str, Any]:
    return invariants.assert_exact(world.tenant, world.plan_id, list(SESSIONS)).comparable()


@pytest.mark.parametrize("flow", FLOWS, ids=str)
def test_a_crash_after_any_write_then_recovery(flow: Flow, dynamodb_backend: str, queue_url: str) -> None:
    """For every N: the N-th write of the phase is applied, then the process dies; the retry (or
    redelivery, or the next run) ends exactly where a run without the crash ends."""
    _, expected, recorded = reference(flow, dynamodb_backend, queue_url)
    for number in range(1, len(recorded.writes) + 1):
        world, inject = run(flow, queue_url, lambda i, n=number: setattr(i, "crash_after", n))
        assert inject.crashed is not None, f"no write {number}"
        assert outcome(world) == expected, f"after a crash after write {number}: {inject.crashed}"


def refused(request: Any, call: faults.Call) -> Any:
    """A refusal botocore retries, each kind in turn: throttling, 5xx, a refused connection."""
    kinds = [
        faults.throttled,
        faults.throttling_exception,
        faults.server_error,
        faults.unavailable,
        faults.connection_refused,
    ]
    return kinds[zlib.crc32(call.site.encode()) % len(kinds)](request, call)


FAULTS = {
    "refused_then_retried": refused,
    "response_lost": faults.response_lost,
    "transaction_conflict": faults.transaction_conflict,
}


@pytest.mark.parametrize("fault", FAULTS, ids=str)
@pytest.mark.parametrize("flow", FLOWS, ids=str)
def test_a_fault_at_every_call_site(
    flow: Flow, fault: str, dynamodb_backend: str, queue_url: str, instant_retries: None
) -> None:
    """The first call of every call site meets the fault; the outcome is the fault-free one, and
    so is every answer the phase's callers got (a retried write is not reported as refused)."""
    fault_free, expected, recorded = reference(flow, dynamodb_backend, queue_url)
    applies = (
        (lambda c: c.service == "dynamodb" and c.operation in faults.WRITES)
        if fault == "transaction_conflict"
        else (lambda _c: True)
    )

    def arm(inject: faults.Injector) -> None:
        inject.rules.append(faults.Rule(FAULTS[fault], applies))

    world, inject = run(flow, queue_url, arm)
    hit = {f"{c.operation} {c.site}" for _, c in inject.fired}
    # every call site of the fault-free run that this run reached too (a fault may take another
    # path: a lost write's retry refused by its own first attempt skips what follows it)
    sites = {site for site in recorded.sites() if applies(_call_of(site))} & set(inject.sites())
    assert sites <= hit, f"call sites the fault never reached: {sorted(sites - hit)}"
    assert outcome(world) == expected
    if fault != "transaction_conflict" or flow.name == "jit":  # a conflicting transaction fails its
        assert world.answers == fault_free.answers  # request (a 500, then the operator's retry)


def _call_of(site: str) -> faults.Call:
    operation, path = site.split(" ", 1)
    service = "sqs" if operation.endswith(("Message", "MessageBatch")) else "dynamodb"
    return faults.Call(service, operation, path)


@pytest.fixture
def instant_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's backoff sleeps up to seconds per throttled attempt: the retries still happen, at
    once (the fault suite counts attempts, not time)."""

    class Clock:
        @staticmethod
        def sleep(_: float) -> None:
            return None

    monkeypatch.setattr(botocore.endpoint, "time", Clock)


def test_a_single_item_write_held_by_a_transaction_is_retried(
    api: Api, queue_url: str, instant_retries: None
) -> None:
    """DynamoDB refuses a PutItem, UpdateItem or DeleteItem on an item an ongoing transaction holds
    (TransactionConflictException, nothing written) and botocore's retry modes do not retry that
    code: the store's client does (store/dynamodb.py), so the runtime's report during marking and an
    operator's approve are answered at once, not with a 500."""
    register(api, V1, {"s": report("welcome")})
    plan = propose(api, V2_GAP)
    single = faults.Rule(faults.transaction_conflict, lambda c: c.operation in faults.SINGLE_ITEM_WRITES, 3)
    with faults.Injector([dynamodb.client()]) as inject:
        inject.rules.append(single)
        assert api.put("/api/v1/sessions/s", report("checkout")).status == 200
        approved = api.post(f"/api/v1/migration-plans/{plan['id']}/approve", {"approved_by": "op"})
        assert approved.status == 200, approved.body
    conflicted = {call.site.rsplit(" > ", 1)[-1] for _, call in inject.fired}
    assert {"store.sessions.put_position", "store.plans.change_status"} <= conflicted
    assert len(inject.fired) == 6  # three refusals each, then the write
    assert api.get("/api/v1/sessions/s").body["current_step_id"] == "checkout"


@pytest.mark.parametrize("after", [1, 2], ids=["first_transaction", "second_transaction"])
def test_a_worker_timeout_mid_page(
    api: Api, queue_url: str, monkeypatch: pytest.MonkeyPatch, after: int
) -> None:
    """A page of 120 sessions is marked in two transactions in flight at once; the invocation dies
    (its timeout) right after one of them returned, the other applied or not. SQS redelivers the
    message after its visibility timeout: the page is marked from its ledger, counted once."""
    monkeypatch.setattr(deployments, "PAGE_SIZE", 297)
    sessions = {f"s{i:03d}": report("checkout") for i in range(120)}
    register(api, V1, sessions)
    plan = propose(api, V2_GAP)
    approve(api, plan)
    harness.deploy(api, plan)
    with faults.Injector([dynamodb.client(), work_queue._sqs()]) as inject:
        marker_transactions = [0]

        def timeout_after(call: faults.Call) -> bool:
            if "store.sessions.mark" in call.site:
                marker_transactions[0] += 1
            return marker_transactions[0] == after

        inject.crash_when = timeout_after
        harness.drain(queue_url)
    assert inject.crashed is not None and "store.sessions.mark" in inject.crashed.site
    assert api.tenant is not None
    found = invariants.assert_exact(api.tenant, plan["id"], list(sessions))
    assert (found.status, found.counters["sessions_marked"]) == ("deployed", 120)
