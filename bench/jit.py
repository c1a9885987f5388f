"""JIT apply against AWS's DynamoDB Local: fast-path latency, DynamoDB requests and capacity units.

Run: python bench/jit.py [--sessions 300] [--calls 3000]. Needs Java and DynamoDB Local
(`make dynamodb-local`); SQS (only for the deploy's fan-out) is the embedded moto server.

Seeds through the real services (a scenario, `--sessions` sessions at its anchor, a plan
approved and deployed, the fan-out drained through the marking worker's handler with SQS-shaped
events), then calls the JIT *handler* as Lambda would and prints:
- requests per migration: DynamoDB HTTP requests (every attempt, counted on 'before-send') of
  each call that migrates a marked session (SPEC 13 target: <= 4); the first call of the
  container also reads the versions and the transformation map, which are then cached;
- the fast path: a migrated session's next messages (outcome `none`): requests per call
  (target: 1) and handler latency, median and p95, beside one raw `GetItem` of the same item
  with the same client configuration, interleaved call by call (target: ratio <= 1.2);
- migrations from WORKERS concurrent threads (each its own marked session): migrations per
  second, transactions cancelled by a conflict (the counters are sharded so that concurrent
  migrations rarely touch one item; target 0 here), botocore retries and re-decisions (JIT reads
  the session again after a lost race);
- DynamoDB capacity units per migration and per fast-path call, as AWS bills them (the reads as
  DynamoDB Local reports them, each transaction item at 2 write units per KB): what
  docs/scaling.md prices. The handler's import time is bench/cold_start.py's.
"""

import argparse
import contextlib
import io
import os
import statistics
import sys
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT / "shared"), str(ROOT)]

from stack import RequestCounter, local_aws  # noqa: E402 - bench/stack.py, beside this script

FAST_PATH_TARGET = 1.2
MIGRATION_TARGET = 4
SCENARIO_ID = "order-flow"


def flow(version: int, steps: list[tuple[str, str, list[str]]]) -> dict[str, Any]:
    return {
        "id": SCENARIO_ID,
        "name": "Order Flow",
        "version": version,
        "entry_step_id": steps[0][0],
        "fields": [{"name": "age", "type": "integer", "minimum": 0, "maximum": 130}],
        "steps": [{"id": i, "name": n, "transitions": [{"to_step_id": t} for t in to]} for i, n, to in steps],
    }


V1 = flow(
    1,
    [("welcome", "Welcome", ["checkout"]), ("checkout", "Checkout", ["confirm"]), ("confirm", "Confirm", [])],
)
V2 = flow(
    2,
    [
        ("welcome", "Welcome", ["checkout"]),
        ("checkout", "Checkout", ["payment"]),
        ("payment", "Payment", ["confirm"]),
        ("confirm", "Confirm", []),
    ],
)


def seed(tenant: str, sessions: int) -> str:
    """A scenario, sessions at its anchor, a plan deployed and its fan-out done: the plan id."""
    from scenario_migration.domain.scenario import Scenario
    from scenario_migration.domain.session import SessionReport
    from scenario_migration.services import deployments, plans, scenarios
    from scenario_migration.services import sessions as session_service

    scenarios.register(tenant, Scenario.model_validate(V1))
    report = SessionReport(
        scenario_id=SCENARIO_ID, scenario_version=1, current_step_id="checkout", channel="web"
    )
    for i in range(sessions):
        session_service.report(tenant, f"s{i:06d}", report)
    plan = plans.create_plan(tenant, SCENARIO_ID, Scenario.model_validate(V2), "bench")
    plans.approve(tenant, plan.id, "bench")
    deployments.deploy(tenant, plan.id)
    drain_marking_queue()
    status = deployments.status(tenant, plan.id)
    assert status.sessions_marked == sessions, status
    return plan.id


def drain_marking_queue() -> None:
    """Feed the marking worker's handler real SQS events until the queue is empty."""
    import boto3
    from deploy_worker.app import handler

    from local_run.functions import LambdaContext
    from local_run.poller import sqs_event

    sqs = boto3.client("sqs")
    url = os.environ["MARKING_QUEUE_URL"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
        "Messages", []
    ):
        with contextlib.redirect_stdout(io.StringIO()):  # EMF metrics
            result = handler(sqs_event(messages, arn, sqs.meta.region_name), LambdaContext("DeployWorker"))
        assert not result["batchItemFailures"], result
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


WORKERS = 16


class Races:
    """Transactions cancelled by a conflict, and botocore's retries, seen by one client."""

    def __init__(self, client: Any) -> None:
        self.conflicts = self.retries = self.transactions = 0
        client.meta.events.register("after-call.dynamodb", self._seen)

    def _seen(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        self.retries += parsed.get("ResponseMetadata", {}).get("RetryAttempts", 0)
        if model.name == "TransactWriteItems":
            self.transactions += 1
            reasons = [r.get("Code") for r in parsed.get("CancellationReasons", [])]
            self.conflicts += "TransactionConflict" in reasons


def concurrent_migrations(tenant: str, first: int, count: int) -> tuple[float, int]:
    """Migrate sessions first..first+count-1 from WORKERS threads: (seconds, re-decisions)."""
    from jit_apply.app import handler

    from local_run.functions import LambdaContext
    from scenario_migration.store import sessions as session_store

    stale, original = [0], session_store.write_outcome

    def counted_write(*args: Any, **kwargs: Any) -> None:
        try:
            original(*args, **kwargs)
        except session_store.StaleSession:
            stale[0] += 1
            raise

    session_store.write_outcome = counted_write

    def migrate(i: int) -> None:
        event = {"tenant_id": tenant, "session_id": f"s{i:06d}", "message": "hello"}
        assert handler(event, LambdaContext("Jit"))["outcome"] == "migrated"

    started = time.perf_counter()
    try:
        with contextlib.redirect_stdout(io.StringIO()), ThreadPoolExecutor(max_workers=WORKERS) as pool:
            list(pool.map(migrate, range(first, first + count)))
    finally:
        session_store.write_outcome = original
    return time.perf_counter() - started, stale[0]


CAPACITY_SAMPLE = 50  # migrations (and fast-path calls) whose capacity units are measured
READS = ("GetItem", "BatchGetItem", "Query")


def capacity(tenant: str, first: int) -> tuple[float, float, float]:
    """DynamoDB capacity units as AWS bills them, per migration (read, write) of sessions
    first..first+CAPACITY_SAMPLE-1 and per fast-path call (read): reads as DynamoDB Local reports
    them (ReturnConsumedCapacity), each transaction item at 2 units per KB (bench/fanout.py's Meter)."""
    from fanout import Meter
    from jit_apply.app import handler

    from local_run.functions import LambdaContext
    from scenario_migration.store import dynamodb

    client = dynamodb.client()
    meter = Meter(client)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            for i in range(first, first + CAPACITY_SAMPLE):
                event = {"tenant_id": tenant, "session_id": f"s{i:06d}", "message": "hello"}
                assert handler(event, LambdaContext("Jit"))["outcome"] == "migrated"
            meter.price_transactions()
            reads, writes = sum(meter.units[op] for op in READS), meter.write_units()
            meter.reset()
            for i in range(CAPACITY_SAMPLE):
                event = {"tenant_id": tenant, "session_id": f"s{first + i:06d}", "message": f"again {i}"}
                assert handler(event, LambdaContext("Jit")) == {"outcome": "none"}
            fast_reads = sum(meter.units[op] for op in READS)
    finally:
        for event, hook in [
            ("before-send.dynamodb", meter._count),
            ("provide-client-params.dynamodb", meter._ask_capacity),
            ("provide-client-params.dynamodb.TransactWriteItems", meter._keep_keys),
            ("after-call.dynamodb", meter._capacity),
        ]:
            client.meta.events.unregister(event, hook)
    return reads / CAPACITY_SAMPLE, writes / CAPACITY_SAMPLE, fast_reads / CAPACITY_SAMPLE


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure_migrations(
    tenant: str, sessions: int, counter: RequestCounter
) -> tuple[list[int], Counter[str], Counter[str], list[float]]:
    """Requests of each migration, by operation (the first call apart), and each one's latency."""
    from jit_apply.app import handler

    from local_run.functions import LambdaContext

    requests, operations, first, latencies = [], Counter(), Counter(), []
    for i in range(sessions):
        counter.reset()
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            result = handler(
                {"tenant_id": tenant, "session_id": f"s{i:06d}", "message": "hello"}, LambdaContext("Jit")
            )
        latencies.append(time.perf_counter() - started)
        assert result["outcome"] == "migrated", result
        requests.append(counter.total())
        if i > 0:
            operations += counter.by_operation
        else:
            first = Counter(counter.by_operation)
    return requests, operations, first, latencies[1:]


def measure_fast_path(
    tenant: str, endpoint_key: dict[str, Any], calls: int, counter: RequestCounter
) -> tuple[list[float], list[float], int]:
    """Handler and raw GetItem latencies (seconds), interleaved; total requests of the handler."""
    import boto3
    from jit_apply.app import handler

    from local_run.functions import LambdaContext
    from scenario_migration.store.dynamodb import RETRY_CONFIG

    raw = boto3.client("dynamodb", config=RETRY_CONFIG)
    context = LambdaContext("Jit")
    table = os.environ["SESSIONS_TABLE"]

    def jit(i: int) -> None:
        event = {"tenant_id": tenant, "session_id": "s000000", "message": f"message {i}"}
        assert handler(event, context) == {"outcome": "none"}

    def get_item(_: int) -> None:
        assert raw.get_item(TableName=table, Key=endpoint_key, ConsistentRead=True)["Item"]

    def timed(fn: Callable[[int], None], i: int) -> float:
        start = time.perf_counter()
        fn(i)
        return time.perf_counter() - start

    with contextlib.redirect_stdout(io.StringIO()):
        for i in range(200):  # warm up both (connections, caches, JIT of DynamoDB Local)
            jit(-i - 1)
            get_item(i)
        counter.reset()
        handler_times, raw_times = [], []
        for i in range(calls):
            if i % 2:
                handler_times.append(timed(jit, i))
                raw_times.append(timed(get_item, i))
            else:
                raw_times.append(timed(get_item, i))
                handler_times.append(timed(jit, i))
    return handler_times, raw_times, counter.total()


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sessions", type=int, default=300, help="sessions seeded and migrated")
    parser.add_argument("--calls", type=int, default=3000, help="fast-path calls timed")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="No application metrics to publish")

    with local_aws("bench/jit.py"):
        from scenario_migration.store import dynamodb, keys
        from scenario_migration.store.dynamodb import to_item

        tenant = f"bench-{uuid.uuid4().hex[:8]}"
        started = time.perf_counter()
        seed(tenant, 2 * args.sessions + CAPACITY_SAMPLE)  # the second half for the concurrent run
        print(
            f"seeded {2 * args.sessions + CAPACITY_SAMPLE} marked sessions in "
            f"{time.perf_counter() - started:.1f} s"
        )
        counter = RequestCounter(dynamodb.client())

        requests, operations, first, latencies = measure_migrations(tenant, args.sessions, counter)
        steady = requests[1:]
        print(f"\nmigrations (clean graft, N={args.sessions}, through the handler)")
        first_ops = ", ".join(f"{op} {n}" for op, n in sorted(first.items()))
        print(
            f"  first call of this process: {requests[0]} requests ({first_ops}: ACTIVE read twice, the plan "
            "again with its map, then cached; the versions were cached by the seeding)"
        )
        print(
            f"  requests per migration: mean {statistics.mean(steady):.2f}, max {max(steady)}  "
            f"(target <= {MIGRATION_TARGET}: {verdict(max(steady) <= MIGRATION_TARGET)})"
        )
        per_op = ", ".join(f"{op} {n / len(steady):.2f}" for op, n in sorted(operations.items()))
        print(f"  by operation, per migration: {per_op}")
        print(
            f"  latency (one at a time): median {statistics.median(latencies) * 1e3:.1f} ms, "
            f"p95 {percentile(latencies, 0.95) * 1e3:.1f} ms"
        )

        races = Races(dynamodb.client())
        seconds, redecided = concurrent_migrations(tenant, args.sessions, args.sessions)
        print(f"\nmigrations from {WORKERS} concurrent workers (N={args.sessions})")
        clean = races.conflicts == races.retries == redecided == 0
        print(
            f"  {args.sessions / seconds:,.0f} migrations/s; transactions {races.transactions}, "
            f"cancelled by a conflict {races.conflicts}, botocore retries {races.retries}, "
            f"decisions taken again {redecided}  (target 0: {verdict(clean)})"
        )

        reads, writes, fast_reads = capacity(tenant, 2 * args.sessions)
        print(f"\ncapacity units as AWS bills them (N={CAPACITY_SAMPLE}; docs/scaling.md prices them)")
        print(
            f"  per migration: {reads:.2f} read, {writes:.2f} write; "
            f"per fast-path call: {fast_reads:.2f} read"
        )

        key = to_item({"pk": keys.session_pk(tenant, "s000000"), "sk": keys.SESSION_SK})
        handler_times, raw_times, fast_requests = measure_fast_path(tenant, key, args.calls, counter)
        h50, h95 = statistics.median(handler_times) * 1e3, percentile(handler_times, 0.95) * 1e3
        r50, r95 = statistics.median(raw_times) * 1e3, percentile(raw_times, 0.95) * 1e3
        print(f"\nfast path (outcome none, N={args.calls} calls, interleaved with raw GetItem)")
        print(
            f"  requests per call: {fast_requests / args.calls:.3f}  "
            f"(target 1: {verdict(fast_requests == args.calls)})"
        )
        print(f"  handler:     median {h50:.3f} ms   p95 {h95:.3f} ms")
        print(f"  raw GetItem: median {r50:.3f} ms   p95 {r95:.3f} ms")
        print(
            f"  ratio:       median {h50 / r50:.2f}   p95 {h95 / r95:.2f}  "
            f"(target <= {FAST_PATH_TARGET}: {verdict(h50 / r50 <= FAST_PATH_TARGET)})"
        )

    print("\nthe handler's import time (cold start): bench/cold_start.py")


if __name__ == "__main__":
    main()
