"""Deploy fan-out (marking) against AWS's DynamoDB Local, beside a raw BatchWriteItem baseline.

Run: python bench/fanout.py [--sessions 5000 20000] [--anchors 5].
Needs Java and DynamoDB Local (`make dynamodb-local`).

For each N: seeds N live sessions spread over the anchors of a scenario (through the sessions
service, as the runtime's reports would), plans, approves and deploys a new version (every step
an anchor), then feeds the marking worker's *handler* SQS-shaped events (BatchSize from
template.yaml) from an in-memory queue that keeps the real message bodies the service sends,
until the queue is empty. Then writes N items of the same size and index keys as a marked
session to the same table with BatchWriteItem (25 per request, one thread): the raw baseline.
Prints sessions marked per second and its ratio to the baseline's items per second, DynamoDB
requests per marked session, write requests and write capacity units per marked session
(`ReturnConsumedCapacity=INDEXES` is added to every call by a botocore hook, so the index's
units show too), and the per-page constant.
Targets (SPEC 13): at most one write request per marked session plus a constant per page, and
marking throughput at least half the baseline's.

Then two more figures (issue 12): cancel's unmarking of the same N sessions (sessions unmarked
per second, requests per session), and fairness: tenant A deploys N sessions while tenant B, with
a small deployment of its own, cancels it at the same moment; the queue is first in, first out
(no fair-queue help), and the bench reports how many messages the worker handled before B's
cancel was complete, against A's total (target: bounded by A's work units, not by N).

Marker writes are conditional updates in transactions of up to 100 (the `by_position` index
projects only what marking reads, so a marker costs no index write; a transactional write costs
2 units where a plain one costs 1). A warm-up run (not shown) comes first: DynamoDB Local is a
JVM and its first thousands of requests are slower.
"""

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import time
import uuid
import warnings
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT / "shared"), str(ROOT)]

from stack import RequestCounter, local_aws, operation  # noqa: E402 - bench/stack.py, beside this script

SCENARIO_ID = "fanout"
WRITES = {
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
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

    def send(self, tenant: str, bodies: list[dict[str, Any]], delay_seconds: int = 0) -> None:
        now = str(int(time.time() * 1000))
        for body in bodies:
            self.messages.append(
                {
                    "MessageId": str(uuid.uuid4()),
                    "ReceiptHandle": uuid.uuid4().hex,
                    "Body": json.dumps({**body, "tenant": tenant}, separators=(",", ":")),
                    "Attributes": {
                        "ApproximateReceiveCount": "1",
                        "SentTimestamp": now,
                        "SenderId": "bench",
                        "ApproximateFirstReceiveTimestamp": now,
                    },
                    "MD5OfBody": "",
                }
            )


def _marks(body: dict[str, Any]) -> bool:
    """A transaction of marker writes (its items update the sessions table)."""
    return any(
        action.get("Update", {}).get("TableName") == os.environ["SESSIONS_TABLE"]
        for action in body.get("TransactItems", [])
    )


class Meter(RequestCounter):
    """DynamoDB requests (HTTP attempts) and consumed capacity, by operation, of one client.

    DynamoDB Local under-reports transactions (one item's units for the whole request), so a
    transaction's items are priced by AWS's rule instead: 2 units per KB of each item written.
    `price_transactions` learns each item's size from a no-op write (REMOVE of an absent
    attribute, priced by item size) made with another client after the run."""

    def __init__(self, client: Any) -> None:
        super().__init__(client)  # requests by operation: self.by_operation
        self.units: Counter[str] = Counter()  # operation -> capacity units (table + indexes)
        self.index_units = 0.0
        self.marker_requests = 0  # TransactWriteItems of marker writes (on the sessions table)
        self.marker_units = 0.0
        self.transacted: list[tuple[str, str]] = []  # (table, key as JSON) of each transaction item
        events = client.meta.events
        events.register("provide-client-params.dynamodb", self._ask_capacity)
        events.register("provide-client-params.dynamodb.TransactWriteItems", self._keep_keys)
        events.register("after-call.dynamodb", self._capacity)

    @staticmethod
    def _ask_capacity(params: dict[str, Any], **_: Any) -> None:
        params.setdefault("ReturnConsumedCapacity", "INDEXES")

    def _count(self, request: Any, **_: Any) -> None:
        super()._count(request)
        if operation(request) == "TransactWriteItems" and _marks(json.loads(request.body)):
            self.marker_requests += 1

    @staticmethod
    def _keep_keys(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["bench_keys"] = [_item_key(action) for action in params["TransactItems"]]

    def _capacity(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if model.name == "TransactWriteItems":
            if "ConsumedCapacity" in parsed:  # it succeeded: its items were written
                self.transacted += context["bench_keys"]
            return
        consumed = parsed.get("ConsumedCapacity") or []
        for entry in consumed if isinstance(consumed, list) else [consumed]:
            self.units[model.name] += entry.get("CapacityUnits", 0)
            for index in (entry.get("GlobalSecondaryIndexes") or {}).values():
                self.index_units += index.get("CapacityUnits", 0)

    def price_transactions(self) -> None:
        """Add 2 x (each transacted item's units, table and indexes) to the totals."""
        import boto3

        probe, sizes = boto3.client("dynamodb"), {}
        for table, key in set(self.transacted):
            consumed = probe.update_item(
                TableName=table,
                Key=json.loads(key),
                UpdateExpression="REMOVE bench_absent",
                ReturnConsumedCapacity="INDEXES",
            )["ConsumedCapacity"]
            sizes[table, key] = consumed["CapacityUnits"]
        for table, key in self.transacted:
            self.units["TransactWriteItems"] += 2 * sizes[table, key]
            if table == os.environ["SESSIONS_TABLE"]:
                self.marker_units += 2 * sizes[table, key]

    def reset(self) -> None:
        super().reset()
        self.units.clear()
        self.transacted.clear()
        self.index_units = self.marker_units = 0.0
        self.marker_requests = 0

    def writes(self) -> int:
        return sum(n for op, n in self.by_operation.items() if op in WRITES)

    def write_units(self) -> float:
        return sum(n for op, n in self.units.items() if op in WRITES)


def _item_key(action: dict[str, Any]) -> tuple[str, str]:
    (body,) = action.values()
    key = body["Key"] if "Key" in body else {k: body["Item"][k] for k in ("pk", "sk")}
    return body["TableName"], json.dumps(key, sort_keys=True)


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
    cancel_seconds: float = 0.0
    cancel_requests: int = 0

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
    meter.price_transactions()
    status = deployments.status(tenant, plan_id)
    assert status.sessions_marked == sessions and status.status == "deployed", status
    run = Run(
        sessions=sessions,
        seeded=seeded,
        elapsed=elapsed,
        events=events,
        messages=messages,
        units=deployed.work_units,
        pages=messages,
        requests=Counter(meter.by_operation),
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
    meter.reset()
    started = time.perf_counter()
    deployments.cancel(tenant, plan_id)
    drain(queue)
    run.cancel_seconds, run.cancel_requests = time.perf_counter() - started, sum(meter.by_operation.values())
    unmarked = deployments.status(tenant, plan_id).sessions_unmarked
    assert unmarked == sessions, unmarked
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


def report(runs: list[Run]) -> None:
    """Every run's throughput, then the median run's figures in full (DynamoDB Local's speed
    varies by a third from run to run, for the baseline as for marking)."""
    ratios = [r.rate / r.raw_rate for r in runs]
    for i, (r, ratio) in enumerate(zip(runs, ratios, strict=True), 1):
        print(
            f"  run {i}: marking {r.rate:,.0f} sessions/s ({r.elapsed:.2f} s), "
            f"raw BatchWriteItem {r.raw_rate:,.0f} items/s ({r.raw_seconds:.2f} s): {ratio:.3f}"
        )
    r = runs[ratios.index(statistics.median_low(ratios))]
    n, ratio = r.sessions, statistics.median_low(ratios)
    print(
        f"  median run: {r.events} worker invocations, {r.pages} pages of {n / r.pages:.0f} on average, "
        f"{r.units} work units; raw: {r.raw_units / n:.2f} write units/item "
        f"(index {r.raw_index_units / n:.2f})"
    )
    print(
        f"  marking / raw (median of {len(runs)}): {ratio:.3f}  target >= {THROUGHPUT_TARGET}: "
        f"{'met' if ratio >= THROUGHPUT_TARGET else 'MISSED'}"
    )
    by_op = ", ".join(f"{op} {k}" for op, k in sorted(r.requests.items()))
    print(f"  DynamoDB requests per marked session: {sum(r.requests.values()) / n:.3f} ({by_op})")
    writes_ok = r.marker_requests <= n and r.per_page <= PAGE_CONSTANT_TARGET
    print(
        f"  write requests per marked session: {r.writes / n:.3f} = {r.marker_requests / n:.3f} marker "
        f"writes + {r.per_page:.2f} per page  target <= 1 + constant/page: {'met' if writes_ok else 'MISSED'}"
    )
    rest = (r.write_units - r.marker_units) / r.pages
    print(
        f"  write units per marked session: {r.write_units / n:.2f} (index {r.index_units / n:.2f}; "
        f"marker writes {r.marker_units / n:.2f}; the rest {rest:.1f} per page)"
    )
    print(
        f"  cancel: {n / r.cancel_seconds:,.0f} sessions unmarked/s ({r.cancel_seconds:.2f} s), "
        f"{r.cancel_requests / n:.3f} DynamoDB requests per session"
    )


def fairness(sessions: int, anchors: int) -> None:
    """Tenant A deploys `sessions`; at that moment tenant B cancels its own small deployment. How
    many messages the (first in, first out) worker handles before B's cancel is complete."""
    from scenario_migration.services import deployments

    big, small = f"bench-a-{uuid.uuid4().hex[:6]}", f"bench-b-{uuid.uuid4().hex[:6]}"
    big_plan, small_plan = seed(big, sessions, anchors), seed(small, 20, anchors)
    queue = Queue()
    deployments.work_queue.send = queue.send
    deployments.deploy(small, small_plan)
    drain(queue)
    units = deployments.deploy(big, big_plan).work_units
    deployments.cancel(small, small_plan)
    handled = until_done = 0
    from deploy_worker.app import handler

    from local_run.functions import LambdaContext
    from local_run.poller import sqs_event

    arn, started = "arn:aws:sqs:us-east-1:000000000000:MarkingQueue", time.perf_counter()
    while queue.messages:
        message = queue.messages.popleft()
        with contextlib.redirect_stdout(io.StringIO()):
            handler(sqs_event([message], arn, "us-east-1"), LambdaContext("DeployWorkerFunction"))
        handled += 1
        if not until_done and deployments.status(small, small_plan).sessions_unmarked == 20:
            until_done, seconds = handled, time.perf_counter() - started
    print(
        f"  tenant B's cancel complete after {until_done} of {handled} messages ({seconds:.1f} s) while "
        f"tenant A marks {sessions} sessions; target <= A's {units} units + B's few: "
        f"{'met' if until_done <= units + 5 else 'MISSED'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[5000, 20000], help="N (one run each)")
    parser.add_argument("--anchors", type=int, default=5)
    # Five: single runs' ratios spread by +-0.08 (the baseline's own speed varies by a fifth).
    parser.add_argument("--repeat", type=int, default=5, help="runs per N (the median is reported)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    with local_aws("bench/fanout.py"):
        from scenario_migration.services import deployments
        from scenario_migration.store import dynamodb
        from scenario_migration.store import sessions as store

        meter = Meter(dynamodb.client())
        marking(1000, args.anchors, meter)  # warm-up: the JVM's first requests are slow (not shown)
        print(
            f"marking: pages of {deployments.PAGE_SIZE} sessions, transactions of up to "
            f"{store.MARKS_PER_TRANSACTION} marker writes and the page's fence, "
            f"{deployments.MARK_CONCURRENCY} in flight"
        )
        for sessions in args.sessions:
            print(f"\nN = {sessions} sessions over {args.anchors} anchors")
            report([marking(sessions, args.anchors, meter) for _ in range(args.repeat)])
            fairness(sessions, args.anchors)


if __name__ == "__main__":
    main()
