"""Plan responses within Lambda's limits (issue 12 §4): how big every API answer about a plan is,
and how long creating a 10,000-step plan takes end to end through the local run.

Run: .venv/bin/python bench/plan_api.py [--sizes 5000,10000,20000,50000] [--shapes menu,chain,gen]
Needs Java and DynamoDB Local (`make dynamodb-local`).

Shapes: `menu` and `chain` of bench/planner.py (flows of 10-step sections with side branches,
loops, twins, fields and checkpoints; V2 deletes 2 %, inserts as many, changes conditions), and
`gen`, the chain with diamond forks of ../shared/bench/gen_scenarios.py (a field every 7 steps, a
new field every 50). Live sessions sit on 1 % of the V1 steps.

Part 1, the handlers in this process (real API Gateway events, DynamoDB Local): V1 registered,
the plan created, then every read of it (the plan, its summary, every page of its map and of its
warnings, its new version), policies, approve, deploy, deployment status. Printed per answer: the
size of what the function returns to Lambda (its JSON, the body JSON-escaped inside), the largest
of the pages and their count. Target: every answer below Lambda's 6 MB (6,291,456 bytes). A
document above `limits.max_body_bytes` cannot be sent (a 413: Lambda would refuse its event):
those plans are created through the service, and the reads that echo the document (the plan's
new version, a scenario version) are not counted for them.

Part 2, end to end: `python -m local_run` (what `make run` starts) and, over HTTP, V1 registered
then the 10,000-step V2's plan created; printed: the wall time of that POST (target < 2 s), and
the response's size.
"""

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from importlib import import_module
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions"), str(ROOT / "shared"), str(ROOT), str(ROOT / "bench")]
sys.path.append(str(ROOT.parent / "shared" / "bench"))  # gen_scenarios.py, the team's reference shapes

import planner as shapes  # noqa: E402 - bench/planner.py's scenario builders
from stack import local_aws  # noqa: E402

LAMBDA_LIMIT = 6 * 1024 * 1024
CREATE_TARGET = 2.0  # seconds, end to end, 10,000 steps
SESSION_SHARE = 100  # a live session on one V1 step in this many
TENANT = "bench"
PAGE_LIMIT = 5000  # the largest page a client may ask for: pages are then bounded by bytes (~2 MB)


def documents(shape: str, size: int) -> tuple[dict[str, Any], dict[str, Any]]:
    if shape == "gen":
        gen = import_module("gen_scenarios")
        v1, v2 = gen.build(size, 1), gen.build(size, 2)
    else:
        v1 = shapes.build_v1(size, seed=size, shape=shape)
        v2 = shapes.build_v2(v1, seed=size + 1)
    scenario_id = f"{shape}-{size}"
    return {**v1, "id": scenario_id}, {**v2, "id": scenario_id}


class Handlers:
    """API Gateway REST events to the function owning each route (template.yaml), in process."""

    def __init__(self) -> None:
        from local_run.gateway import compile_routes
        from local_run.template import load_template

        template = load_template()
        self.routes = compile_routes(template.routes)
        self.modules = {name: handler.rsplit(".", 1)[0] for name, handler in template.functions.items()}

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any, int]:
        """(status, parsed body, bytes the function returns to Lambda)."""
        from local_run.functions import LambdaContext
        from local_run.gateway import proxy_event

        bare = path.split("?", 1)[0]
        route, params = next(
            (r, m.groupdict()) for p, r in self.routes if (m := p.match(bare)) and r.method == method
        )
        headers = {"Content-Type": "application/json", "X-Tenant-ID": TENANT}
        text = json.dumps(body) if body is not None else ""
        event = proxy_event(method, path, headers, text.encode(), route=route, params=params)
        result = import_module(self.modules[route.function]).handler(event, LambdaContext(route.function))
        return result["statusCode"], json.loads(result.get("body") or "null"), len(json.dumps(result))


def fits(document: dict[str, Any]) -> bool:
    from scenario_migration.api.bodies import event_size
    from scenario_migration.config import get_settings

    body = json.dumps({"new_scenario": document, "created_by": "bench"})
    return event_size(body) <= get_settings().limits.max_body_bytes


def seed_sessions(v1: dict[str, Any]) -> int:
    from scenario_migration import identity
    from scenario_migration.domain.session import SessionReport
    from scenario_migration.identity import ALL_ROLES, Identity
    from scenario_migration.services import sessions

    steps = v1["steps"][::SESSION_SHARE]
    with identity.acting_as(Identity(tenant=TENANT, roles=ALL_ROLES, principal=None)):
        for i, step in enumerate(steps):
            report = SessionReport(
                scenario_id=v1["id"], scenario_version=1, current_step_id=step["id"], channel="web"
            )
            sessions.report(TENANT, f"{v1['id']}-s{i}", report)
    return len(steps)


def create(api: Handlers, v1: dict[str, Any], v2: dict[str, Any]) -> tuple[str, dict[str, Any], int]:
    """Register V1 and create the plan: over the API when the documents fit its body limit."""
    from scenario_migration import identity
    from scenario_migration.domain.scenario import ProposedScenario
    from scenario_migration.identity import ALL_ROLES, Identity
    from scenario_migration.services import plans, scenarios

    if fits(v1) and fits(v2):
        assert api.call("POST", "/api/v1/scenarios", v1)[0] == 201
        seed_sessions(v1)
        status, plan, size = api.call(
            "POST", f"/api/v1/scenarios/{v1['id']}/migration-plan", {"new_scenario": v2, "created_by": "b"}
        )
        assert status == 201, plan
        return "api", plan, size
    with identity.acting_as(Identity(tenant=TENANT, roles=ALL_ROLES, principal=None)):
        from scenario_migration.domain.scenario import Scenario

        scenarios.register(TENANT, Scenario.model_validate(v1))
        seed_sessions(v1)
        view = plans.create_plan(TENANT, v1["id"], ProposedScenario.model_validate(v2), "b")
    plan = json.loads(view.model_dump_json())
    return "service", plan, 0


def pages(api: Handlers, first: str) -> tuple[int, int]:
    """(pages, largest answer) following `next` from `first`."""
    count, largest, url = 0, 0, first
    while url:
        status, page, size = api.call("GET", url)
        assert status == 200, page
        count, largest, url = count + 1, max(largest, size), page["next"]
    return count, largest


def measure(api: Handlers, shape: str, size: int) -> dict[str, Any]:
    v1, v2 = documents(shape, size)
    via, plan, created = create(api, v1, v2)
    url = f"/api/v1/migration-plans/{plan['id']}"
    sizes = {"create": created}
    for name, path in (("plan", url), ("summary", f"{url}/summary")):
        status, _, sizes[name] = api.call("GET", path)
        assert status == 200
    map_pages, sizes["map page"] = pages(api, f"{url}/transformation-map?limit={PAGE_LIMIT}")
    warning_pages, sizes["warnings page"] = pages(api, f"{url}/warnings?limit={PAGE_LIMIT}")
    if via == "api":
        sizes["new version"] = api.call("GET", f"{url}/new-scenario")[2]
    sizes["policies"] = api.call("PUT", f"{url}/policies", {"policies": {}})[2]
    status, approved, sizes["approve"] = api.call("POST", f"{url}/approve", _acknowledged(plan, api, url))
    assert status == 200, approved
    status, deployed, sizes["deploy"] = api.call("POST", f"{url}/deploy")
    assert status == 202, deployed
    sizes["status"] = api.call("GET", f"{url}/deployment-status")[2]
    return {
        "shape": shape,
        "steps": len(v2["steps"]),
        "body": _mb(len(json.dumps({"new_scenario": v2}))),
        "via": via,
        "pages": f"{map_pages}/{warning_pages}",
        "sizes": sizes,
        "largest": max(sizes.values()),
    }


def _acknowledged(plan: dict[str, Any], api: Handlers, url: str) -> dict[str, Any]:
    """Approve acknowledging every critical warning by its kind (read page by page): thousands of
    one kind are one entry."""
    kinds, next_url = set(), f"{url}/warnings"
    while next_url:
        _, page, _ = api.call("GET", next_url)
        kinds |= {w["code"].split(":", 1)[0] for w in page["warnings"] if w["severity"] == "critical"}
        next_url = page["next"]
    return {"approved_by": "bench", "acknowledged_warnings": sorted(kinds)}


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f}"


def part_one(sizes: list[int], shape_names: list[str]) -> bool:
    os.environ["AUTH_MODE"] = "header"  # as the local run answers the quickstart's curls
    api, rows = Handlers(), []
    keys = ["create", "plan", "summary", "map page", "warnings page", "new version", "policies", "approve"]
    keys += ["deploy", "status"]
    print("Part 1: every answer about a plan, bytes returned to Lambda (MB); target < 6.29 MB each")
    print(
        f"{'shape':<6} {'steps':>6} {'body MB':>7} {'via':>7} {'pages':>7} | "
        + " ".join(f"{k:>9}" for k in keys)
    )
    ok = True
    for shape in shape_names:
        for size in sizes:
            row = measure(api, shape, size)
            rows.append(row)
            cells = " ".join(f"{_mb(row['sizes'][k]) if k in row['sizes'] else '-':>9}" for k in keys)
            met = row["largest"] < LAMBDA_LIMIT
            ok &= met
            print(
                f"{row['shape']:<6} {row['steps']:>6} {row['body']:>7} {row['via']:>7} {row['pages']:>7} | "
                f"{cells}  {'met' if met else 'NOT MET'}",
                flush=True,
            )
    print("(create over the API when the document fits limits.max_body_bytes; pages: map/warnings)")
    return ok


def part_two(shape_names: list[str], size: int = 10_000) -> bool:
    """Creating the plan end to end through the local run, over HTTP."""
    from local_run.dynamodb_local import free_port

    port = free_port()
    env = {**os.environ, "LOCAL_PORT": str(port), "LOCAL_SCHEDULE_SECONDS": "3600", "PYTHONUNBUFFERED": "1"}
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        env.pop(name, None)  # the local run starts its own
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"plan_api_local_run_{port}.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "local_run"], cwd=ROOT, env=env, stdout=output, stderr=output
        )
    ok = True
    try:
        _wait_ready(log, process)
        print(
            f"\nPart 2: a {size:,}-step plan created end to end through the local run; "
            f"target < {CREATE_TARGET} s"
        )
        for shape in shape_names:
            v1, v2 = documents(shape, size)
            v1 = {**v1, "id": f"e2e-{shape}"}
            _http(port, "POST", "/api/v1/scenarios", v1)
            started = time.perf_counter()
            status, answer = _http(
                port,
                "POST",
                f"/api/v1/scenarios/{v1['id']}/migration-plan",
                {"new_scenario": v2, "created_by": "b"},
            )
            elapsed = time.perf_counter() - started
            assert status == 201, answer[:300]
            met = elapsed < CREATE_TARGET
            ok &= met
            print(
                f"{shape:<6} {len(v2['steps']):>6} steps: {elapsed:.2f} s, "
                f"answer {len(answer) / 1e6:.2f} MB  "
                f"{'met' if met else 'NOT MET'}"
            )
    finally:
        process.terminate()
        process.wait(timeout=30)
    return ok


def _wait_ready(log: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 180
    while "Local run ready on" not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the local run did not start:\n" + log.read_text()[-2000:])
        time.sleep(0.2)


def _http(port: int, method: str, path: str, body: Any) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method=method,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-Tenant-ID": TENANT},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.status, response.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,10000,20000,50000")
    parser.add_argument("--shapes", default="menu,chain,gen")
    args = parser.parse_args()
    names = args.shapes.split(",")
    with local_aws("bench/plan_api.py"):
        ok = part_one([int(s) for s in args.sizes.split(",")], names)
    ok &= part_two(names)
    print(f"\nload average: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    print("all targets met" if ok else "SOME TARGETS NOT MET")


if __name__ == "__main__":
    main()
