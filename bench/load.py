"""Load through the local run: many sessions, one deployment, JIT from concurrent clients.

Run: python bench/load.py [--sessions 100000] [--invocations 20000] [--clients 32]
     [--api-sessions 1000] [--deadline 10800]. Needs Java and DynamoDB Local (`make dynamodb-local`).
Everything listens and is called on 127.0.0.1.

1. Starts `python -m local_run` with AWS's DynamoDB Local on a free port (its output in a
   temporary file) and registers two scenarios through the API: order-flow, which gets a new
   version, and support-flow, which does not (its sessions are never affected).
2. Reports `--sessions` live sessions over both scenarios and every step: `--api-sessions` of
   them through the real `PUT /api/v1/sessions/{id}`, the rest written straight into DynamoDB
   Local with BatchWriteItem, each a copy of an item the API wrote for the same scenario and
   step with only the session's own keys changed (store/keys.py): 100,000 PUTs one by one would
   time the HTTP front, not the service. The output says how many went which way.
3. Plans order-flow v2 (a step inserted), approves and deploys it through the API, and waits
   until the fan-out has marked every order-flow session (status `deployed`).
4. `--invocations` JIT invocations through the Lambda Invoke API (boto3 `lambda.invoke`, as the
   conversation runtime calls it) from `--clients` threads, one client each: first messages of
   marked sessions (migrations), second messages of sessions migrated earlier in the run (fast
   path, already migrated) and messages of support-flow sessions (fast path, not affected),
   shuffled. A session's messages all go to one client, in order, so every answer is known
   beforehand (`migrated`, then `none`; `none`). Prints throughput, latency p50/p95/p99 (all and
   per kind) and errors: anything but the expected answer (target 0).
5. Checks every session's final state (a Scan of the sessions table, read through the store's
   own model: version, step, marker), a sample of them through `GET /api/v1/sessions/{id}`, and
   the plan's counters from `GET .../deployment-status`, exactly.

Bounded: each phase stops at `--deadline` (seconds from the start); what was done is still
checked exactly, and the output says where it stopped. The local run serves each function one
invocation at a time (one container, local_run/functions.py): the clients queue for it, so the
latency seen is about clients x service time; the service time is what one Lambda container
would take, and on Lambda concurrent requests get containers of their own.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.config import Config

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "shared"), str(ROOT)]

from local_run import dynamodb_local  # noqa: E402 - after the path above
from local_run.aws import local_client  # noqa: E402
from scenario_migration.store import keys  # noqa: E402
from scenario_migration.store.dynamodb import from_item  # noqa: E402
from scenario_migration.store.sessions import session_of  # noqa: E402

SESSIONS_TABLE = "SessionsTable"  # the local run names tables after their logical ids
ORDER, SUPPORT = "order-flow", "support-flow"
SAMPLE_THROUGH_API = 200


def flow(scenario_id: str, name: str, version: int, steps: list[str]) -> dict[str, Any]:
    """A linear scenario document."""
    return {
        "id": scenario_id,
        "name": name,
        "version": version,
        "entry_step_id": steps[0],
        "steps": [
            {"id": step, "name": step.title(), "transitions": [{"to_step_id": nxt}] if nxt else []}
            for step, nxt in zip(steps, [*steps[1:], None], strict=True)
        ],
    }


ORDER_V1 = flow(ORDER, "Order Flow", 1, ["welcome", "checkout", "confirm"])
ORDER_V2 = flow(ORDER, "Order Flow", 2, ["welcome", "checkout", "payment", "confirm"])
SUPPORT_V1 = flow(SUPPORT, "Support Flow", 1, ["greet", "answer", "close"])


def placement(i: int) -> tuple[str, str]:
    """Session i's scenario and step: four in five on order-flow, every step of each in turn."""
    if i % 5 == 4:
        steps = [s["id"] for s in SUPPORT_V1["steps"]]
        return SUPPORT, steps[(i // 5) % len(steps)]
    steps = [s["id"] for s in ORDER_V1["steps"]]
    return ORDER, steps[i % len(steps)]


def session_id(i: int) -> str:
    return f"s{i:06d}"


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def passed(self) -> bool:
        return time.monotonic() >= self.at

    def left(self) -> float:
        return max(self.at - time.monotonic(), 0.0)


# -- the local run --------------------------------------------------------------------------------------


class LocalRun:
    """`python -m local_run` on a free loopback port, with DynamoDB Local; HTTP and Invoke clients."""

    def __init__(self, log: Path) -> None:
        reason = dynamodb_local.unavailable()
        if reason:
            sys.exit(f"bench/load.py: {reason}")
        self.port = dynamodb_local.free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "LOCAL_PORT": str(self.port),
            "LOCAL_SCHEDULE_SECONDS": "86400",  # no retention run in the middle of the bench
            "LOCAL_LOG_LEVEL": "WARNING",  # a line per request would cost the server as much as a request
            "PYTHONUNBUFFERED": "1",
        }
        self.log = log
        with log.open("w") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "local_run", "--dynamodb", "dynamodb-local"],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 180
        while "Local run ready on" not in log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                sys.exit("bench/load.py: the local run did not start:\n" + log.read_text()[-3000:])
            time.sleep(0.3)
        self.dynamodb = local_client(
            "dynamodb",
            self.http("GET", "/local/stats")[1]["dynamodb_endpoint"],
            config=Config(read_timeout=300),
        )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def http(self, method: str, path: str, body: Any = None, tenant: str | None = None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json", **({"X-Tenant-ID": tenant} if tenant else {})}
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.base}{path}", method=method, data=data, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def expect(self, status: int, method: str, path: str, body: Any = None, tenant: str | None = None) -> Any:
        got, answer = self.http(method, path, body, tenant)
        if got != status:
            raise AssertionError(f"{method} {path}: {got} (expected {status}): {answer}")
        return answer

    def lambda_client(self) -> Any:
        """One client per thread; no retries (a retried invocation would hide an error)."""
        config = Config(read_timeout=600, retries={"total_max_attempts": 1}, max_pool_connections=1)
        return local_client("lambda", self.base, config=config)


# -- seeding --------------------------------------------------------------------------------------------


def report_through_api(local: LocalRun, tenant: str, ids: range) -> None:
    def put(i: int) -> None:
        scenario, step = placement(i)
        body = {"scenario_id": scenario, "scenario_version": 1, "current_step_id": step, "channel": "web"}
        local.expect(200, "PUT", f"/api/v1/sessions/{session_id(i)}", body, tenant)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, ids))


def templates(local: LocalRun, tenant: str, api_sessions: int) -> dict[tuple[str, str], dict[str, Any]]:
    """An API-written item per (scenario, step), from the sessions reported through the API."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for i in range(api_sessions):
        if placement(i) not in found:
            key = {"pk": {"S": keys.session_pk(tenant, session_id(i))}, "sk": {"S": keys.SESSION_SK}}
            found[placement(i)] = local.dynamodb.get_item(TableName=SESSIONS_TABLE, Key=key)["Item"]
    return found


def copy_of(template: dict[str, Any], tenant: str, new_id: str) -> dict[str, Any]:
    """The template's item for another session: its keys and id, nothing else, change. Fails when
    the item holds the session id anywhere else (the store's shape changed: adapt the copy)."""
    old_id = template["session_id"]["S"]
    own = {"pk", "session_id", "position_pk", "position_sk"}
    elsewhere = [name for name, value in template.items() if name not in own and old_id in json.dumps(value)]
    if elsewhere:
        raise AssertionError(f"a session item holds its id in {elsewhere}: bench/load.py copies it")
    item = dict(template)
    item["pk"] = {"S": keys.session_pk(tenant, new_id)}
    item["session_id"] = {"S": new_id}
    item["position_pk"] = {
        "S": keys.position_pk(tenant, template["scenario_id"]["S"], 1, keys.position_shard(new_id))
    }
    item["position_sk"] = {"S": template["position_sk"]["S"].removesuffix(old_id) + new_id}
    return item


def batch_write(local: LocalRun, tenant: str, ids: range, models: dict, deadline: Deadline) -> int:
    """Copies for the sessions `ids`, 25 per BatchWriteItem, from 4 threads; how many were written."""
    chunks = [ids[start : start + 25] for start in range(0, len(ids), 25)]

    def write(chunk: range) -> int:
        if deadline.passed():
            return 0
        items = [copy_of(models[placement(i)], tenant, session_id(i)) for i in chunk]
        request = {SESSIONS_TABLE: [{"PutRequest": {"Item": item}} for item in items]}
        while request:
            request = local.dynamodb.batch_write_item(RequestItems=request).get("UnprocessedItems")
        return len(items)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return sum(pool.map(write, chunks))


def seed(local: LocalRun, tenant: str, sessions: int, api_sessions: int, deadline: Deadline) -> int:
    """Both scenarios and `sessions` live sessions; returns how many were reported."""
    local.expect(201, "POST", "/api/v1/scenarios", ORDER_V1, tenant)
    local.expect(201, "POST", "/api/v1/scenarios", SUPPORT_V1, tenant)
    started = time.perf_counter()
    report_through_api(local, tenant, range(api_sessions))
    api_seconds = time.perf_counter() - started
    print(
        f"  {api_sessions:,} sessions through PUT /api/v1/sessions/{{id}} (8 threads): "
        f"{api_seconds:.1f} s, {api_sessions / api_seconds:,.0f}/s"
    )
    started = time.perf_counter()
    written = batch_write(
        local, tenant, range(api_sessions, sessions), templates(local, tenant, api_sessions), deadline
    )
    seconds = time.perf_counter() - started
    print(
        f"  {written:,} sessions as copies of API-written items, BatchWriteItem into DynamoDB Local: "
        f"{seconds:.1f} s, {written / max(seconds, 1e-9):,.0f}/s"
    )
    return api_sessions + written


# -- the deployment -------------------------------------------------------------------------------------


def deploy(local: LocalRun, tenant: str, affected: int, deadline: Deadline) -> tuple[str, dict[str, Any]]:
    started = time.perf_counter()
    body = {"new_scenario": ORDER_V2, "created_by": "bench"}
    plan = local.expect(201, "POST", f"/api/v1/scenarios/{ORDER}/migration-plan", body, tenant)
    estimated = plan["summary"]["estimated_sessions_affected"]
    print(
        f"  plan {plan['id']} created in {time.perf_counter() - started:.1f} s; "
        f"sessions affected (census) {estimated:,}"
    )
    if estimated != affected:
        raise AssertionError(f"the census counts {estimated} affected sessions, {affected} were reported")
    local.expect(
        200, "POST", f"/api/v1/migration-plans/{plan['id']}/approve", {"approved_by": "bench"}, tenant
    )
    started = time.perf_counter()
    local.expect(202, "POST", f"/api/v1/migration-plans/{plan['id']}/deploy", None, tenant)
    path = f"/api/v1/migration-plans/{plan['id']}/deployment-status"
    while (status := local.expect(200, "GET", path, None, tenant))["status"] != "deployed":
        if deadline.passed():
            raise SystemExit(f"bench/load.py: deadline reached while marking: {status}")
        time.sleep(1)
    seconds = time.perf_counter() - started
    print(
        f"  deployed: {status['sessions_marked']:,} sessions marked in {seconds:.1f} s "
        f"({status['sessions_marked'] / seconds:,.0f}/s, {status['fanout']['units_total']} work units)"
    )
    return plan["id"], status


# -- JIT ------------------------------------------------------------------------------------------------

MIGRATION, MIGRATED_AGAIN, UNAFFECTED = "migration", "fast path (migrated)", "fast path (not affected)"


@dataclass
class Call:
    kind: str
    session: int


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    migrated: dict[int, dict[str, Any]] = field(default_factory=dict)  # session -> its answer
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, call: Call, seconds: float, answer: dict[str, Any] | None, error: str | None) -> None:
        with self.lock:
            self.latencies.setdefault(call.kind, []).append(seconds)
            if error:
                self.errors.append(f"{call.kind} {session_id(call.session)}: {error}")
            elif call.kind == MIGRATION and answer is not None:
                self.migrated[call.session] = answer


def workload(sessions: int, invocations: int, clients: int, seed_value: int) -> list[list[Call]]:
    """Per client, its calls in order: half migrations, a quarter second messages of migrated
    sessions, a quarter messages of unaffected sessions (fewer when there are not enough)."""
    rng = random.Random(seed_value)
    order = [i for i in range(sessions) if placement(i)[0] == ORDER]
    support = [i for i in range(sessions) if placement(i)[0] == SUPPORT]
    unaffected = min(invocations // 4, len(support))
    migrations = min((invocations - unaffected) * 2 // 3, len(order))
    again = min(invocations - unaffected - migrations, migrations)
    first = rng.sample(order, migrations)
    calls = [Call(MIGRATION, i) for i in first] + [Call(MIGRATED_AGAIN, i) for i in rng.sample(first, again)]
    calls += [Call(UNAFFECTED, i) for i in rng.sample(support, unaffected)]
    per_client: list[list[Call]] = [[] for _ in range(clients)]
    for call in calls:
        per_client[call.session % clients].append(call)
    for mine in per_client:
        rng.shuffle(mine)
        where = {(c.session, c.kind): n for n, c in enumerate(mine)}
        for c in [c for c in mine if c.kind == MIGRATED_AGAIN]:
            second, first = where[(c.session, MIGRATED_AGAIN)], where[(c.session, MIGRATION)]
            if second < first:  # the session's two messages trade places: the first goes first
                mine[second], mine[first] = mine[first], mine[second]
    return per_client


def invoke(client: Any, tenant: str, call: Call, n: int) -> tuple[dict[str, Any] | None, str | None]:
    payload = {"tenant_id": tenant, "session_id": session_id(call.session), "message": "hello"}
    payload["request_id"] = f"load-{n}"
    try:
        response = client.invoke(FunctionName="JitApplyFunction", Payload=json.dumps(payload))
        answer = json.loads(response["Payload"].read())
    except Exception as exc:  # any failure of the call is an error of the run
        return None, f"{type(exc).__name__}: {exc}"
    if response.get("FunctionError"):
        return None, f"function error: {answer.get('errorMessage')}"
    expected = "migrated" if call.kind == MIGRATION else "none"
    if answer.get("outcome") != expected:
        return answer, f"outcome {answer.get('outcome')!r}, expected {expected!r}: {answer}"
    if expected == "migrated" and answer.get("to_step_id") != placement(call.session)[1]:
        return answer, f"to step {answer.get('to_step_id')!r}, expected {placement(call.session)[1]!r}"
    return answer, None


def run_jit(
    local: LocalRun, tenant: str, plan: list[list[Call]], deadline: Deadline
) -> tuple[Results, float]:
    results = Results()

    def client_loop(index: int) -> None:
        client = local.lambda_client()
        for n, call in enumerate(plan[index]):
            if deadline.passed():
                return
            started = time.perf_counter()
            answer, error = invoke(client, tenant, call, index * 1_000_000 + n)
            results.record(call, time.perf_counter() - started, answer, error)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(plan)) as pool:
        list(pool.map(client_loop, range(len(plan))))
    return results, time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def print_jit(results: Results, seconds: float) -> None:
    every = [s for kind in results.latencies.values() for s in kind]
    print(f"  {len(every):,} invocations in {seconds:.1f} s: {len(every) / seconds:,.1f} invocations/s")
    print(
        f"  service time (one container in the local run): {seconds / len(every) * 1e3:.1f} ms per invocation"
    )
    for kind, times in [("all", every), *sorted(results.latencies.items())]:
        print(
            f"  latency {kind:24} N={len(times):6,}  p50 {percentile(times, 0.5) * 1e3:7.1f} ms  "
            f"p95 {percentile(times, 0.95) * 1e3:7.1f} ms  p99 {percentile(times, 0.99) * 1e3:7.1f} ms"
        )
    verdict = "met" if not results.errors else "MISSED"
    print(f"  errors: {len(results.errors)}  (target 0: {verdict})")
    for error in results.errors[:10]:
        print(f"    {error}")


# -- the checks -----------------------------------------------------------------------------------------


def stored_sessions(local: LocalRun, tenant: str) -> dict[str, Any]:
    """Every session item of the tenant, as the store's Session (a parallel Scan, 8 segments)."""
    prefix = keys.session_pk(tenant, "")

    def segment(n: int) -> list[Any]:
        pages = local.dynamodb.get_paginator("scan").paginate(
            TableName=SESSIONS_TABLE,
            Segment=n,
            TotalSegments=8,
            FilterExpression="begins_with(pk, :p) AND sk = :s",
            ExpressionAttributeValues={":p": {"S": prefix}, ":s": {"S": keys.SESSION_SK}},
        )
        return [session_of(from_item(item)) for page in pages for item in page["Items"]]

    with ThreadPoolExecutor(max_workers=8) as pool:
        return {s.session_id: s for found in pool.map(segment, range(8)) for s in found}


def expected_state(i: int, migrated: set[int]) -> tuple[int, str, str | None]:
    """(version, step, marker state) session i must have."""
    scenario, step = placement(i)
    if scenario == SUPPORT:
        return 1, step, None
    return (2, step, "applied") if i in migrated else (1, step, "pending")


def check_sessions(
    local: LocalRun, tenant: str, reported: int, plan_id: str, migrated: set[int]
) -> list[str]:
    started = time.perf_counter()
    stored = stored_sessions(local, tenant)
    problems = [] if len(stored) == reported else [f"{len(stored)} sessions stored, {reported} reported"]
    for i in range(reported):
        session = stored.get(session_id(i))
        if session is None:
            problems.append(f"{session_id(i)} missing")
            continue
        marker = session.marker
        got = (session.scenario_version, session.current_step_id, marker.state.value if marker else None)
        want = expected_state(i, migrated)
        if got != want or (marker is not None and marker.plan_id != plan_id):
            problems.append(f"{session_id(i)}: {got}, expected {want}")
    print(f"  every session read back ({len(stored):,}, a Scan): {time.perf_counter() - started:.1f} s")
    rng = random.Random(7)
    for i in rng.sample(range(reported), min(SAMPLE_THROUGH_API, reported)):
        view = local.expect(200, "GET", f"/api/v1/sessions/{session_id(i)}", None, tenant)
        marker = view.get("marker")
        got = (view["scenario_version"], view["current_step_id"], marker["state"] if marker else None)
        if got != expected_state(i, migrated):
            problems.append(f"GET {session_id(i)}: {got}, expected {expected_state(i, migrated)}")
    return problems


def check_counters(status: dict[str, Any], affected: int, results: Results) -> list[str]:
    by_scenario = Counter(answer.get("migration_scenario") for answer in results.migrated.values())
    expected = {
        "status": "deployed",
        "sessions_marked": affected,
        "migrations_applied": len(results.migrated),
        "migrations_pending": affected - len(results.migrated),
        "migrations_by_scenario": {
            name: by_scenario.get(name, 0) for name in status["migrations_by_scenario"]
        },
        "checkpoint_blocks": 0,
        "sessions_awaiting_input": 0,
        "sessions_kept": 0,
        "sessions_unmarked": 0,
        "condition_errors": 0,
    }
    problems = [
        f"{name}: {status[name]}, expected {want}" for name, want in expected.items() if status[name] != want
    ]
    if status["fanout"]["units_done"] != status["fanout"]["units_total"]:
        problems.append(f"fanout: {status['fanout']}")
    return problems


# -- main -----------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sessions", type=int, default=100_000, help="live sessions reported")
    parser.add_argument("--api-sessions", type=int, default=1_000, help="of which through PUT /sessions")
    parser.add_argument("--invocations", type=int, default=20_000, help="JIT invocations")
    parser.add_argument("--clients", type=int, default=32, help="concurrent JIT clients")
    parser.add_argument("--deadline", type=float, default=3 * 3600, help="seconds for the whole run")
    parser.add_argument("--seed", type=int, default=12, help="the workload's random seed")
    args = parser.parse_args()
    if not 6 <= args.api_sessions <= args.sessions:
        parser.error("--api-sessions: at least 6 (a session per scenario and step), at most --sessions")
    deadline = Deadline(args.deadline)
    load = os.getloadavg()
    print(f"bench/load.py: load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        local = LocalRun(Path(tmp) / "local_run.log")
        try:
            ok = run(local, args, deadline)
        finally:
            local.stop()
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    sys.exit(0 if ok else 1)


def run(local: LocalRun, args: argparse.Namespace, deadline: Deadline) -> bool:
    tenant = f"load{os.getpid()}"
    print(f"\nsessions (tenant {tenant})")
    reported = seed(local, tenant, args.sessions, args.api_sessions, deadline)
    affected = sum(placement(i)[0] == ORDER for i in range(reported))
    if reported < args.sessions:
        print(f"  deadline reached: {reported:,} of {args.sessions:,} sessions reported")
    print("\ndeployment")
    plan_id, _ = deploy(local, tenant, affected, deadline)
    print(f"\nJIT: {args.invocations:,} invocations from {args.clients} clients")
    plan = workload(reported, args.invocations, args.clients, args.seed)
    kinds = Counter(call.kind for calls in plan for call in calls)
    print("  mix: " + ", ".join(f"{kind} {n:,}" for kind, n in sorted(kinds.items())))
    results, seconds = run_jit(local, tenant, plan, deadline)
    done = sum(len(t) for t in results.latencies.values())
    if done < sum(kinds.values()):
        print(f"  deadline reached: {done:,} of {sum(kinds.values()):,} invocations made")
    print_jit(results, seconds)
    print("\nfinal state")
    problems = check_sessions(local, tenant, reported, plan_id, set(results.migrated))
    path = f"/api/v1/migration-plans/{plan_id}/deployment-status"
    status = local.expect(200, "GET", path, None, tenant)
    problems += check_counters(status, affected, results)
    print(
        f"  counters: marked {status['sessions_marked']:,}, applied {status['migrations_applied']:,}, "
        f"pending {status['migrations_pending']:,}, by scenario {status['migrations_by_scenario']}"
    )
    verdict = "met" if not problems else "MISSED"
    print(
        f"  sessions ({reported:,}, and {min(SAMPLE_THROUGH_API, reported)} through GET) and counters "
        f"exactly as expected: {not problems}  (target: {verdict})"
    )
    for problem in problems[:20]:
        print(f"    {problem}")
    return not problems and not results.errors


if __name__ == "__main__":
    main()
