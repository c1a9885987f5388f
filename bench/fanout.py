"""Deploy fan-out (marking) against AWS's DynamoDB Local, beside a raw BatchWriteItem baseline.

Run: python bench/fanout.py [--sessions 5000 20000] [--anchors 5] [--variants built partiql].
Needs Java and DynamoDB Local (`make dynamodb-local`).

For each N and variant: seeds N live sessions spread over the anchors of a scenario (through the
sessions service, as the runtime's reports would), plans, approves and deploys a new version
(every step an anchor), then feeds the marking worker's *handler* SQS-shaped events (BatchSize
from template.yaml) from an in-memory queue that keeps the real message bodies the service sends,
until the queue is empty. Then writes N items of the same size and index keys as a marked
session to the same table with BatchWriteItem (25 per request, one thread): the raw baseline.
Prints sessions marked per second and its ratio to the baseline's items per second, DynamoDB
requests per marked session, write requests and write capacity units per marked session
(`ReturnConsumedCapacity=INDEXES` is added to every call by a botocore hook, so the index's
units show too), and the per-page constant.
Targets (SPEC 13): at most one write request per marked session plus a constant per page, and
marking throughput at least half the baseline's.

Variants: `built` is the code as it is (one conditional UpdateItem per session; the `by_position`
index projects only what marking reads, so a marker write costs no index write). `partiql`
measures an alternative without touching the service: the page's marker writes made by a
prototype store operation (PartiQL BatchExecuteStatement, 25 conditional updates per request, see
`partiql_mark_sessions`). It is not adopted: moto, the local run's and the tests' fallback, does
not run such statements. A warm-up run (not shown) comes first: DynamoDB Local is a JVM and its
first thousands of requests are slower.
"""

import argparse
import contextlib
import io
import json
import os
import sys
import time
import uuid
import warnings
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT / "shared"), str(ROOT)]

from stack import local_aws  # noqa: E402 - bench/stack.py, beside this script

SCENARIO_ID = "fanout"
WRITES = {
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
    "BatchExecuteStatement",
}
THROUGHPUT_TARGET = 0.5
PAGE_CONSTANT_TARGET = 3  # write requests per page besides the marker writes (claim + commit today)


def flow(version: int, anchors: int) -> dict[str, Any]:
    ids = [f"step{i}" for i in range(anchors)] + (["done"] if version > 1 else [])
    return {
        "id": SCENARIO_ID,
        "name": "Fan-out",
        "version": version,
        "entry_step_id": ids[0],
        "steps": [
            {"id": step, "name": step.title(), "transitions": [{"to_step_id": nxt}] if nxt else []}
            for step, nxt in zip(ids, [*ids[1:], None], strict=True)
        ],
    }


class Queue:
    """The marking queue, in memory: `work_queue.send` is pointed here; bodies are the real ones."""

    def __init__(self) -> None:
        self.messages: deque[dict[str, Any]] = deque()

    def send(self, bodies: list[dict[str, Any]]) -> None:
        now = str(int(time.time() * 1000))
        for body in bodies:
            self.messages.append(
                {
                    "MessageId": str(uuid.uuid4()),
                    "ReceiptHandle": uuid.uuid4().hex,
                    "Body": json.dumps(body, separators=(",", ":")),
                    "Attributes": {
                        "ApproximateReceiveCount": "1",
                        "SentTimestamp": now,
                        "SenderId": "bench",
                        "ApproximateFirstReceiveTimestamp": now,
                    },
                    "MD5OfBody": "",
                }
            )


class Meter:
    """DynamoDB requests (HTTP attempts) and consumed capacity, by operation, of one client."""

    def __init__(self, client: Any) -> None:
        self.requests: Counter[str] = Counter()
        self.units: Counter[str] = Counter()  # operation -> capacity units (table + indexes)
        self.index_units = 0.0
        self.marker_requests = 0  # UpdateItem or BatchExecuteStatement on the sessions table
        self.marker_units = 0.0
        events = client.meta.events
        events.register("provide-client-params.dynamodb", self._ask_capacity)
        events.register("before-send.dynamodb", self._count)
        events.register("after-call.dynamodb", self._capacity)

    @staticmethod
    def _ask_capacity(params: dict[str, Any], **_: Any) -> None:
        params.setdefault("ReturnConsumedCapacity", "INDEXES")

    def _count(self, request: Any, **_: Any) -> None:
        operation = request.headers.get("X-Amz-Target", b"?").decode().rsplit(".", 1)[-1]
        self.requests[operation] += 1
        if operation == "BatchExecuteStatement" or (
            operation == "UpdateItem"
            and json.loads(request.body)["TableName"] == os.environ["SESSIONS_TABLE"]
        ):
            self.marker_requests += 1

    def _capacity(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        consumed = parsed.get("ConsumedCapacity") or []
        for entry in consumed if isinstance(consumed, list) else [consumed]:
            self.units[model.name] += entry.get("CapacityUnits", 0)
            for index in (entry.get("GlobalSecondaryIndexes") or {}).values():
                self.index_units += index.get("CapacityUnits", 0)
            if model.name == "UpdateItem" and entry.get("TableName") == os.environ["SESSIONS_TABLE"]:
                self.marker_units += entry.get("CapacityUnits", 0)

    def reset(self) -> None:
        self.requests.clear()
        self.units.clear()
        self.index_units = self.marker_units = 0.0
        self.marker_requests = 0

    def writes(self) -> int:
        return sum(n for op, n in self.requests.items() if op in WRITES)

    def write_units(self) -> float:
        return sum(n for op, n in self.units.items() if op in WRITES)


def seed(tenant: str, sessions: int, anchors: int) -> str:
    """N sessions spread over the anchors, and an approved plan: the plan id."""
    from scenario_migration.domain.scenario import Scenario
    from scenario_migration.domain.session import SessionReport
    from scenario_migration.services import plans, scenarios
    from scenario_migration.services import sessions as session_service

    scenarios.register(tenant, Scenario.model_validate(flow(1, anchors)))

    def report(i: int) -> None:
        body = SessionReport(
            scenario_id=SCENARIO_ID,
            scenario_version=1,
            current_step_id=f"step{i % anchors}",
            channel="whatsapp",
            customer_id=f"customer-{i}",
            variables={"age": 30 + i % 40},
            visited_step_ids=[f"step{k}" for k in range(i % anchors)],
        )
        session_service.report(tenant, str(uuid.UUID(int=i)), body)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(report, range(sessions)))
    plan = plans.create_plan(tenant, SCENARIO_ID, Scenario.model_validate(flow(2, anchors)), "bench")
    plans.approve(tenant, plan.id, "bench")
    return plan.id


def drain(queue: Queue) -> tuple[int, int]:
    """Feed the worker's handler until the queue is empty: (events, messages) handled."""
    from deploy_worker.app import handler

    from local_run.functions import LambdaContext
    from local_run.poller import sqs_event
    from local_run.template import load_template

    sources = load_template().queue_sources
    batch_size = next(s.batch_size for s in sources if s.function == "DeployWorkerFunction")
    arn = "arn:aws:sqs:us-east-1:000000000000:MarkingQueue"
    events = handled = 0
    while queue.messages:
        batch = [queue.messages.popleft() for _ in range(min(batch_size, len(queue.messages)))]
        with contextlib.redirect_stdout(io.StringIO()):  # EMF metrics
            result = handler(sqs_event(batch, arn, "us-east-1"), LambdaContext("DeployWorkerFunction"))
        if result["batchItemFailures"]:
            raise RuntimeError(
                f"{len(result['batchItemFailures'])} message(s) failed: the bench expects none"
            )
        events += 1
        handled += len(batch)
    return events, handled


@dataclass
class Run:
    sessions: int
    seeded: float
    elapsed: float
    events: int
    messages: int
    units: int
    pages: int
    requests: Counter[str]
    writes: int
    write_units: float
    index_units: float
    marker_requests: int
    marker_units: float
    raw_seconds: float = 0.0
    raw_units: float = 0.0
    raw_index_units: float = 0.0

    @property
    def rate(self) -> float:
        return self.sessions / self.elapsed

    @property
    def raw_rate(self) -> float:
        return self.sessions / self.raw_seconds

    @property
    def per_page(self) -> float:
        return (self.writes - self.marker_requests) / self.pages


def marking(sessions: int, anchors: int, meter: Meter) -> Run:
    """Seed, deploy and drain one plan, then the raw baseline on the same table."""
    from scenario_migration.services import deployments
    from scenario_migration.store import dynamodb, keys

    tenant = f"bench-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    plan_id = seed(tenant, sessions, anchors)
    seeded = time.perf_counter() - started
    queue = Queue()
    deployments.work_queue.send = queue.send  # the in-memory queue: the service calls work_queue.send
    deployed = deployments.deploy(tenant, plan_id)
    meter.reset()
    started = time.perf_counter()
    events, messages = drain(queue)
    elapsed = time.perf_counter() - started
    status = deployments.status(tenant, plan_id)
    assert status["sessions_marked"] == sessions and status["status"] == "deployed", status
    run = Run(
        sessions=sessions,
        seeded=seeded,
        elapsed=elapsed,
        events=events,
        messages=messages,
        units=deployed["work_units"],
        pages=messages - -(-deployed["work_units"] // deployments.EXPAND_BATCH),  # minus the expands
        requests=Counter(meter.requests),
        writes=meter.writes(),
        write_units=meter.write_units(),
        index_units=meter.index_units,
        marker_requests=meter.marker_requests,
        marker_units=meter.marker_units,
    )
    sample = dynamodb.client().get_item(
        TableName=os.environ["SESSIONS_TABLE"],
        Key={"pk": {"S": keys.session_pk(tenant, str(uuid.UUID(int=0)))}, "sk": {"S": keys.SESSION_SK}},
    )["Item"]
    meter.reset()
    run.raw_seconds = baseline(sessions, sample)
    run.raw_units, run.raw_index_units = meter.write_units(), meter.index_units
    return run


def baseline(sessions: int, item: dict[str, Any]) -> float:
    """Seconds to write N items like `item` (same size, same index keys) with BatchWriteItem."""
    from scenario_migration.store import dynamodb

    client, table = dynamodb.client(), os.environ["SESSIONS_TABLE"]
    tenant = f"raw-{uuid.uuid4().hex[:8]}"
    items = []
    for i in range(sessions):
        session_id = str(uuid.UUID(int=i))
        raw = dict(item)
        raw["pk"] = {"S": f"T#{tenant}#SES#{session_id}"}
        raw["position_pk"] = {"S": f"T#{tenant}#S#{SCENARIO_ID}#V#1#{i % 8:02d}"}
        raw["position_sk"] = {"S": f"h#step{i % 5}#{session_id}"}
        items.append(raw)
    started = time.perf_counter()
    for start in range(0, len(items), 25):
        request = {table: [{"PutRequest": {"Item": it}} for it in items[start : start + 25]]}
        while request:
            request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
    return time.perf_counter() - started


def report(label: str, r: Run) -> None:
    n = r.sessions
    ratio = r.rate / r.raw_rate
    print(f"  {label}")
    print(
        f"    marking: {r.rate:,.0f} sessions/s ({r.elapsed:.2f} s; {r.events} worker invocations, "
        f"{r.pages} pages of {n / r.pages:.0f} on average, {r.units} work units)"
    )
    print(
        f"    raw BatchWriteItem: {r.raw_rate:,.0f} items/s ({r.raw_seconds:.2f} s), "
        f"{r.raw_units / n:.2f} write units/item (index {r.raw_index_units / n:.2f})"
    )
    print(
        f"    marking / raw: {ratio:.2f}  target >= {THROUGHPUT_TARGET}: "
        f"{'met' if ratio >= THROUGHPUT_TARGET else 'MISSED'}"
    )
    by_op = ", ".join(f"{op} {k}" for op, k in sorted(r.requests.items()))
    print(f"    DynamoDB requests per marked session: {sum(r.requests.values()) / n:.3f} ({by_op})")
    writes_ok = r.marker_requests <= n and r.per_page <= PAGE_CONSTANT_TARGET
    print(
        f"    write requests per marked session: {r.writes / n:.3f} = {r.marker_requests / n:.3f} marker "
        f"writes + {r.per_page:.2f} per page  target <= 1 + constant/page: {'met' if writes_ok else 'MISSED'}"
    )
    if r.marker_units:
        rest = (r.write_units - r.marker_units) / r.pages
        print(
            f"    write units per marked session: {r.write_units / n:.2f} (index {r.index_units / n:.2f}; "
            f"marker writes {r.marker_units / n:.2f}; the rest {rest:.1f} per page)"
        )
    else:
        print(
            f"    write units: {r.write_units / n:.2f} per marked session besides marker writes (DynamoDB "
            "Local reports none for BatchExecuteStatement; AWS bills each statement as an UpdateItem)"
        )


PARTIQL_BATCH = 25  # BatchExecuteStatement's limit
_PROTOTYPE_POOL = ThreadPoolExecutor(max_workers=4)


def partiql_mark_sessions(
    tenant: str, session_ids: list[str], marker: dict[str, Any], from_version: int, step_id: str
) -> list[str]:
    """PROTOTYPE of the store operation this bench argues for (not the service's code): the same
    conditional marker write as store/deployments.mark_session, 25 sessions per request with
    PartiQL's BatchExecuteStatement. Each statement succeeds or fails on its own (not a
    transaction: normal write units); a failed condition returns the old item (ALL_OLD), which
    tells "ours" (this page marked it on an earlier attempt) from "skipped"."""
    from scenario_migration.store import dynamodb, keys
    from scenario_migration.store.dynamodb import from_item, to_item

    client = dynamodb.client()
    statement = (
        f'UPDATE "{os.environ["SESSIONS_TABLE"]}" SET marker = ? WHERE pk = ? AND sk = ? '
        "AND position_pk IS NOT MISSING AND scenario_version = ? AND current_step_id = ? "
        "AND (marker IS MISSING OR marker.plan_id <> ?)"
    )
    values = to_item({"m": marker, "v": from_version, "s": step_id, "p": marker["plan_id"]})

    def statement_for(session_id: str) -> dict[str, Any]:
        key = [{"S": keys.session_pk(tenant, session_id)}, {"S": keys.SESSION_SK}]
        return {
            "Statement": statement,
            "Parameters": [values["m"], *key, values["v"], values["s"], values["p"]],
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def batch(chunk: list[str]) -> list[str]:
        statements = [statement_for(sid) for sid in chunk]
        outcomes = [""] * len(chunk)
        pending = list(range(len(chunk)))
        for attempt in range(8):
            responses = client.batch_execute_statement(Statements=[statements[i] for i in pending])
            retry = []
            for i, response in zip(pending, responses["Responses"], strict=True):
                error = response.get("Error")
                if error is None:
                    outcomes[i] = "marked"
                elif error.get("Code") == "ConditionalCheckFailed":
                    old = from_item(error.get("Item") or {}).get("marker") or {}
                    outcomes[i] = "ours" if old.get("page_id") == marker["page_id"] else "skipped"
                else:  # throttled or in conflict: that statement again
                    retry.append(i)
            if not retry:
                return outcomes
            pending = retry
            time.sleep(0.02 * 2**attempt)
        raise RuntimeError(f"{len(pending)} statement(s) kept failing")

    chunks = [session_ids[i : i + PARTIQL_BATCH] for i in range(0, len(session_ids), PARTIQL_BATCH)]
    return [outcome for outcomes in _PROTOTYPE_POOL.map(batch, chunks) for outcome in outcomes]


VARIANTS: dict[str, tuple[bool, str]] = {  # name -> (PartiQL marking, label)
    "built": (False, "as built (one conditional UpdateItem per session)"),
    "partiql": (True, "prototype, not adopted: BatchExecuteStatement, 25 per request"),
}


def run_variant(name: str, sessions: int, anchors: int, meter: Meter) -> Run:
    from scenario_migration.services import deployments

    partiql, _ = VARIANTS[name]
    as_built: Callable[..., list[str]] = deployments.mark_sessions
    if partiql:
        deployments.mark_sessions = partiql_mark_sessions
    try:
        return marking(sessions, anchors, meter)
    finally:
        deployments.mark_sessions = as_built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[5000, 20000], help="N (one run each)")
    parser.add_argument("--anchors", type=int, default=5)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    with local_aws("bench/fanout.py"):
        from scenario_migration.services import deployments
        from scenario_migration.store import dynamodb

        meter = Meter(dynamodb.client())
        for name in args.variants:  # warm-up: the JVM's first requests are slow (not shown)
            run_variant(name, 1000, args.anchors, meter)
        concurrency, page = deployments.MARK_CONCURRENCY, deployments.PAGE_SIZE
        print(f"marking: {concurrency} marker writes in flight per page, page size {page}")
        for sessions in args.sessions:
            print(f"\nN = {sessions} sessions over {args.anchors} anchors")
            for name in args.variants:
                report(f"[{name}] {VARIANTS[name][1]}", run_variant(name, sessions, args.anchors, meter))


if __name__ == "__main__":
    main()
