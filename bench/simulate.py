"""The dry run (POST /migration-plans/{id}/simulate) against AWS's DynamoDB Local: latency and
DynamoDB requests per simulated session, for 100 chosen sessions and samples of 100 and 1,000.

Run: python bench/simulate.py [--sessions 4000] [--runs 5]. Needs Java and DynamoDB Local
(`make dynamodb-local`).

Seeds through the real services a scenario (V1: welcome, checkout, payment, confirm) and
`--sessions` live sessions spread over its steps, a third of them with an age in their variables,
and a pending plan to V2 (an age fork before Checkout: clean grafts, gap fills, re-routes,
questions and blocked customers who paid). Then calls the deploy function's *handler* with API
Gateway events, as API Gateway would, and prints per case: the median and the slowest of
`--runs` calls (the first call of the process apart: it reads the versions, the plan's map and
document, which are then cached), the requests by operation per simulated session, and the load
average of this machine while it ran (other jobs share it). The API's timeout is 29 s.
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT / "shared"), str(ROOT)]

from stack import RequestCounter, local_aws  # noqa: E402 - bench/stack.py, beside this script

SCENARIO_ID = "order-flow"
API_TIMEOUT = 29.0
STEPS = ("welcome", "checkout", "payment", "confirm")


def step(step_id: str, name: str, *to: Any, **extra: Any) -> dict[str, Any]:
    transitions = [
        {"to_step_id": t[0], "condition": t[1], "priority": t[2]}
        if isinstance(t, tuple)
        else {"to_step_id": t}
        for t in to
    ]
    return {"id": step_id, "name": name, "transitions": transitions, **extra}


AGE = {"name": "age", "type": "integer", "question": "What is your age?", "minimum": 0, "maximum": 130}
PAYMENT = step("payment", "Payment", "confirm", is_checkpoint=True, performs_action=True)
V1 = {
    "id": SCENARIO_ID,
    "name": "Order Flow",
    "version": 1,
    "entry_step_id": "welcome",
    "fields": [AGE],
    "steps": [
        step("welcome", "Welcome", "checkout"),
        step("checkout", "Checkout", "payment"),
        PAYMENT,
        step("confirm", "Confirm"),
    ],
}
V2 = {
    **V1,
    "version": 2,
    "steps": [
        step("welcome", "Welcome", "age_check"),
        step(
            "age_check",
            "Age",
            ("rejection", "age < 18", 1),
            ("checkout", "age >= 18", 0),
            collects_fields=["age"],
        ),
        step("rejection", "Rejection"),
        *V1["steps"][1:],
    ],
}


def seed(tenant: str, sessions: int) -> str:
    """The scenario, its sessions and a pending plan: the plan id."""
    from scenario_migration.domain.scenario import Scenario
    from scenario_migration.domain.session import SessionReport
    from scenario_migration.services import plans, scenarios
    from scenario_migration.services import sessions as session_service

    scenarios.register(tenant, Scenario.model_validate(V1))
    for i in range(sessions):
        where = STEPS[i % len(STEPS)]
        visited = list(STEPS[: STEPS.index(where)])
        variables = {"age": 15 + i % 40} if i % 3 == 0 else {}
        report = SessionReport(
            scenario_id=SCENARIO_ID,
            scenario_version=1,
            current_step_id=where,
            channel="web",
            visited_step_ids=visited,
            variables=variables,
        )
        session_service.report(tenant, f"cust-{uuid.uuid4()}", report)
    return plans.create_plan(tenant, SCENARIO_ID, Scenario.model_validate(V2), "bench").id


class Api:
    """The deploy function's handler, called with API Gateway REST events (header mode)."""

    def __init__(self, tenant: str) -> None:
        from local_run.gateway import compile_routes
        from local_run.template import load_template

        self.tenant = tenant
        self.routes = compile_routes(load_template().routes)

    def simulate(self, plan_id: str, body: dict[str, Any]) -> dict[str, Any]:
        from deploy.app import handler

        from local_run.functions import LambdaContext
        from local_run.gateway import proxy_event

        path = f"/api/v1/migration-plans/{plan_id}/simulate"
        route, params = next(
            (r, m.groupdict()) for p, r in self.routes if (m := p.match(path)) and r.method == "POST"
        )
        headers = {"Content-Type": "application/json", "X-Tenant-ID": self.tenant}
        event = proxy_event("POST", path, headers, json.dumps(body).encode(), route=route, params=params)
        with contextlib.redirect_stdout(io.StringIO()):
            result = handler(event, LambdaContext("DeployFunction"))
        assert result["statusCode"] == 200, result
        return json.loads(result["body"])


def measure(api: Api, plan_id: str, body: dict[str, Any], runs: int, counter: RequestCounter) -> dict:
    """`runs` calls (a new seed each for a sample): latencies, sessions and requests per call."""
    times, requests, sessions = [], [], []
    for run in range(runs):
        counter.reset()
        started = time.perf_counter()
        result = api.simulate(plan_id, {**body, **({"seed": run} if "sample" in body else {})})
        times.append(time.perf_counter() - started)
        requests.append(dict(counter.by_operation))
        sessions.append(len(result["results"]))
    return {"times": times, "requests": requests, "sessions": sessions, "last": result}


def report(label: str, found: dict[str, Any]) -> None:
    times, sessions = found["times"], found["sessions"]
    per_session = {}
    for by_op in found["requests"]:
        for op, n in by_op.items():
            per_session.setdefault(op, []).append(n)
    total = sum(sum(ns) for ns in per_session.values()) / len(times)
    simulated = statistics.mean(sessions)
    ops = ", ".join(f"{op} {statistics.mean(ns):.1f}" for op, ns in sorted(per_session.items()))
    slowest = max(times)
    print(f"\n{label} (N={len(times)} calls, {simulated:.0f} sessions simulated per call)")
    print(
        f"  latency: median {statistics.median(times) * 1e3:.0f} ms, slowest {slowest * 1e3:.0f} ms "
        f"(API timeout {API_TIMEOUT:.0f} s: {'met' if slowest < API_TIMEOUT else 'MISSED'})"
    )
    print(f"  requests per call: {total:.1f} ({ops}); per simulated session: {total / simulated:.3f}")
    outcomes = found["last"]["aggregate"]["by_outcome"]
    print(f"  outcomes (last call): {json.dumps(outcomes, sort_keys=True)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sessions", type=int, default=4000, help="live sessions seeded")
    parser.add_argument("--runs", type=int, default=5, help="calls timed per case")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    with local_aws("bench/simulate.py"):
        os.environ["AUTH_MODE"] = "header"  # the template's is jwt; the local run's default is header
        from scenario_migration.store import dynamodb

        tenant = f"bench-{uuid.uuid4().hex[:8]}"
        started = time.perf_counter()
        plan_id = seed(tenant, args.sessions)
        seconds = time.perf_counter() - started
        print(f"seeded {args.sessions} live sessions and a pending plan in {seconds:.1f} s")
        load_before = os.getloadavg()
        counter = RequestCounter(dynamodb.client())
        api = Api(tenant)
        first = measure(api, plan_id, {"sample": 100}, 1, counter)
        report("first call of the process (sample of 100; caches empty)", first)
        ids = [r["session_id"] for r in measure(api, plan_id, {"sample": 100}, 1, counter)["last"]["results"]]
        report(
            "100 chosen sessions (session_ids)",
            measure(api, plan_id, {"session_ids": ids}, args.runs, counter),
        )
        report("sample of 100", measure(api, plan_id, {"sample": 100}, args.runs, counter))
        report("sample of 1,000", measure(api, plan_id, {"sample": 1000}, args.runs, counter))
        load_after = os.getloadavg()
    print(
        "\nload average (1, 5, 15 min): before "
        + ", ".join(f"{x:.2f}" for x in load_before)
        + "; after "
        + ", ".join(f"{x:.2f}" for x in load_after)
        + f" ({os.cpu_count()} cores)"
    )


if __name__ == "__main__":
    main()
