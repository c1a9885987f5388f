"""A newcomer's first hour, for real: `make run`'s console (one access line per request, metrics in
a file, no traceback when a client goes away), a busy port as one line, `make demo`'s closing
table, `make invoke` with a sample event, and LOCAL_STATE_DIR keeping the tables."""

import ast
import json
import os
import re
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_run import dynamodb_local
from local_run.dynamodb_local import free_port
from tests.documents import V1_PAYMENT, V2_FORK_PAYMENT, report
from tests.e2e.conftest import ROOT, Local, running

pytestmark = pytest.mark.e2e
ACCESS = re.compile(r" access (?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d{3}) (?P<ms>\d+)ms$")
# The sub-make must not rebuild the venv the tests run from, nor join an outer make's jobserver.
MAKE = ["make", "-s", "-o", ".venv/.installed"]
NO_OUTER_MAKE = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    with running(tmp_path_factory.mktemp("first_hour")) as started:
        yield started


def console(local: Local) -> str:
    return local.log.read_text()


def wait_for(local: Local, text: str, count: int = 1) -> str:
    """The console once `text` appears `count` times (something the server does after answering)."""
    deadline = time.monotonic() + 60
    while (output := console(local)).count(text) < count:
        assert time.monotonic() < deadline, f"{text!r} never appeared {count} times:\n{output[-3000:]}"
        time.sleep(0.1)
    return output


def run(command: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        check=False,
        cwd=ROOT,
        env={**NO_OUTER_MAKE, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def reset(connection: socket.socket) -> None:
    """Close with a TCP reset, as a killed client or a dropped network does."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


def test_a_busy_port_is_one_line_naming_the_variable() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run([sys.executable, "-m", "local_run"], LOCAL_PORT=str(port))
        aws = run([sys.executable, "-m", "local_run"], LOCAL_PORT=str(free_port()), LOCAL_AWS_PORT=str(port))
    assert result.returncode != 0 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Port {port} on 127.0.0.1 is already in use: set LOCAL_PORT to a free port")
    assert aws.returncode != 0 and aws.stdout == ""
    [line] = aws.stderr.splitlines()
    assert f"Port {port} " in line and "set LOCAL_AWS_PORT" in line


def test_one_access_line_per_request(local: Local) -> None:
    assert local.http("POST", "/api/v1/scenarios", {**V1_PAYMENT, "id": "access-log"})[0] == 201
    assert local.http("GET", "/api/v1/migration-plans?limit=5")[0] == 200
    assert local.http("GET", "/api/v1/no-such-thing")[0] == 404
    lines = [found.groupdict() for line in console(local).splitlines() if (found := ACCESS.search(line))]
    seen = [(line["method"], line["path"], line["status"]) for line in lines]
    for request in [
        ("POST", "/api/v1/scenarios", "201"),
        ("GET", "/api/v1/migration-plans?limit=5", "200"),
        ("GET", "/api/v1/no-such-thing", "404"),
    ]:
        assert seen.count(request) == 1, seen


def test_metrics_go_to_their_file_not_the_console(local: Local) -> None:
    """A migration publishes EMF metrics: the document is in LOCAL_METRICS_FILE, not among the
    access lines."""
    tenant = "metrics"
    assert local.http("POST", "/api/v1/scenarios", V1_PAYMENT, tenant=tenant)[0] == 201
    assert local.http("PUT", "/api/v1/sessions/m1", report("welcome"), tenant=tenant)[0] == 200
    _, plan = local.http(
        "POST",
        "/api/v1/scenarios/order-flow/migration-plan",
        {"new_scenario": V2_FORK_PAYMENT, "created_by": "ops"},
        tenant=tenant,
    )
    assert (
        local.http(
            "POST", f"/api/v1/migration-plans/{plan['id']}/approve", {"approved_by": "ops"}, tenant=tenant
        )[0]
        == 200
    )
    assert local.http("POST", f"/api/v1/migration-plans/{plan['id']}/deploy", tenant=tenant)[0] == 202
    local.wait_deployed(plan["id"], tenant=tenant, seconds=60)
    answer = local.invoke("JitApplyFunction", {"tenant_id": tenant, "session_id": "m1"})
    assert answer["outcome"] == "migrated"
    documents = [json.loads(line) for line in (local.log.parent / "metrics.jsonl").read_text().splitlines()]
    applied = [d for d in documents if "MigrationsApplied_clean_graft" in d]
    assert applied and all("_aws" in d for d in documents)
    assert '"_aws"' not in console(local)
    assert "Metrics (EMF, one JSON line per invocation): " + str(
        local.log.parent / "metrics.jsonl"
    ) in console(local)


def test_a_client_that_goes_away_is_one_line_not_a_traceback(local: Local) -> None:
    before = console(local).count("closed the connection")
    # reset while the server waits for the rest of the body
    with socket.create_connection(("127.0.0.1", local.port)) as partial:
        partial.sendall(
            b"POST /api/v1/scenarios HTTP/1.1\r\nHost: local\r\nX-Tenant-ID: acme\r\n"
            b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"id"'
        )
        reset(partial)
    # reset after an answer, while the server waits for the next request on the connection
    with socket.create_connection(("127.0.0.1", local.port)) as kept_alive:
        kept_alive.sendall(
            b"GET /api/v1/migration-plans HTTP/1.1\r\nHost: local\r\nX-Tenant-ID: acme\r\n\r\n"
        )
        assert kept_alive.recv(12) == b"HTTP/1.1 200"
        reset(kept_alive)
    output = wait_for(local, "closed the connection (ConnectionResetError)", before + 2)
    assert "Traceback" not in output and "Exception occurred" not in output
    assert local.http("GET", "/api/v1/migration-plans")[0] == 200  # still serving


def test_make_invoke_sends_a_sample_event_with_its_placeholders_filled(local: Local) -> None:
    port = str(local.port)
    jit = run([*MAKE, "invoke", "EVENT=events/jit_apply.json"], LOCAL_PORT=port)
    assert jit.returncode == 0, jit.stderr
    assert json.loads(jit.stdout) == {"outcome": "none"}  # the sample's session was never reported
    assert jit.stderr.strip() == f"Invoking JitApplyFunction with events/jit_apply.json on {local.base}"

    unfilled = run([*MAKE, "invoke", "FUNCTION=DeployFunction", "EVENT=deploy_deploy"], LOCAL_PORT=port)
    assert unfilled.returncode != 0 and unfilled.stdout == ""
    assert "deploy_deploy.json needs PLAN_ID: a plan's id" in unfilled.stderr

    # the sample deploy event (tenant acme) deploys a real approved plan of acme's
    assert local.http("POST", "/api/v1/scenarios", {**V1_PAYMENT, "id": "invoked"})[0] == 201
    _, plan = local.http(
        "POST",
        "/api/v1/scenarios/invoked/migration-plan",
        {"new_scenario": V2_FORK_PAYMENT, "created_by": "ops"},
    )
    assert (
        local.http("POST", f"/api/v1/migration-plans/{plan['id']}/approve", {"approved_by": "ops"})[0] == 200
    )
    deploy = run([*MAKE, "invoke", "EVENT=events/deploy_deploy.json"], LOCAL_PORT=port, PLAN_ID=plan["id"])
    assert deploy.returncode == 0, deploy.stderr
    response = json.loads(deploy.stdout)
    assert response["statusCode"] == 202 and json.loads(response["body"])["plan_id"] == plan["id"]


def test_make_demo_follows_local_port_and_ends_with_a_table_per_anchor(local: Local) -> None:
    demo = run([*MAKE, "demo"], LOCAL_PORT=str(local.port), DEMO_CUSTOMERS="200")
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr
    output = demo.stdout
    start = output.index('{\n  "plan_id"')
    status = json.loads(output[start : output.index("\n}\n", start) + 2])
    table = output[output.index("sessions per anchor") :].splitlines()[1:]
    header = table[0].split()
    assert header == ["anchor", "classification", "marked", "migrated", "asked", "blocked", "kept"]
    rows = {line.split("  ")[0].strip(): line.split()[-5:] for line in table[1:] if not line.startswith("-")}
    anchors = [
        "Welcome",
        "Browse",
        "Cart",
        "Checkout",
        "Payment",
        "Confirm",
        "Goodbye + Legacy Survey (deleted)",
    ]
    assert list(rows) == [*anchors, "total"]
    marked, migrated, asked, blocked, kept = map(int, rows["total"])
    assert marked == status["sessions_marked"]
    assert migrated == status["migrations_applied"] and blocked == status["checkpoint_blocks"]
    assert kept == status["sessions_kept"] and 0 < asked <= migrated + blocked + kept
    classifications = {line.split("  ")[0].strip(): line for line in table[1:8]}
    assert "gap_fill" in classifications["Cart"] and "re_route" in classifications["Checkout"]


def test_make_demo_without_a_local_run_is_one_line() -> None:
    port = free_port()
    result = run([sys.executable, "-m", "scripts.demo"], LOCAL_PORT=str(port))
    assert result.returncode != 0 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"make demo: no local run answers on http://127.0.0.1:{port} (Connection refused): start "
        "`make run` in another terminal first, with the same LOCAL_PORT"
    ]


@pytest.mark.skipif(dynamodb_local.unavailable() is not None, reason=str(dynamodb_local.unavailable()))
def test_local_state_dir_keeps_the_tables_across_restarts(tmp_path: Path) -> None:
    state = tmp_path / "state"
    kept = {"LOCAL_STATE_DIR": str(state), "LOCAL_METRICS_FILE": ""}  # metrics beside the tables
    with running(tmp_path, **kept) as first:
        assert f"State: tables kept in {state}" in console(first)
        assert first.http("POST", "/api/v1/scenarios", {**V1_PAYMENT, "id": "kept"})[0] == 201
    with running(tmp_path, **kept) as second:
        status, scenario = second.http("GET", "/api/v1/scenarios/kept")
        assert status == 200 and scenario["version"] == 1
        assert (state / "metrics.jsonl").exists()


def readme_blocks() -> tuple[str, str]:
    """The walk-through's shell block and the JIT block after it, as the README shows them."""
    readme = (ROOT / "README.md").read_text()
    walk_through = readme[readme.index("## Five-minute walk-through") :]
    shell = walk_through.split("```bash\n", 1)[1].split("```", 1)[0]
    python = walk_through.split("```python\n", 1)[1].split("```", 1)[0]
    return shell, python


def test_the_readme_walk_through_runs_as_written(local: Local) -> None:
    """On this run's port (the README's only difference), with tenant acme's own scenario."""
    shell, python = readme_blocks()
    walked = run(["bash", "-c", shell.replace("http://localhost:8000", local.base)])
    assert walked.returncode == 0, walked.stderr
    out = walked.stdout
    assert "clean_graft Welcome" in out and "re_route Checkout 3 sessions" in out  # the plan shown
    assert "'scope_filter': {'include_channels': ['whatsapp']" in out  # the policy stored
    assert out.rstrip().endswith("deployed - sessions marked: 3") and walked.stderr == ""
    jit = run([sys.executable, "-c", python.replace("http://localhost:8000", local.base)])
    assert jit.returncode == 0, jit.stderr
    first, asked, answered = (ast.literal_eval(line) for line in jit.stdout.splitlines())  # printed dicts
    assert first["outcome"] == "migrated" and asked["outcome"] == "needs_input"
    assert answered["outcome"] == "migrated" and answered["to_step_id"] == "rejection"


def test_the_rollback_commands_of_the_operations_guide_go_back_to_v1(local: Local) -> None:
    """docs/operations.md's commands as written (one rollback call, then the reverse plan's approval
    and deploy), after a deployed V2 that migrated one customer."""
    tenant = "rollback"
    assert local.http("POST", "/api/v1/scenarios", V1_PAYMENT, tenant=tenant)[0] == 201
    for session_id in ("moved", "waiting"):
        assert (
            local.http("PUT", f"/api/v1/sessions/{session_id}", report("checkout"), tenant=tenant)[0] == 200
        )
    _, plan = local.http(
        "POST",
        "/api/v1/scenarios/order-flow/migration-plan",
        {"new_scenario": V2_FORK_PAYMENT, "created_by": "ops"},
        tenant=tenant,
    )
    assert (
        local.http(
            "POST", f"/api/v1/migration-plans/{plan['id']}/approve", {"approved_by": "ops"}, tenant=tenant
        )[0]
        == 200
    )
    assert local.http("POST", f"/api/v1/migration-plans/{plan['id']}/deploy", tenant=tenant)[0] == 202
    local.wait_deployed(plan["id"], tenant=tenant, seconds=60)
    moved = local.invoke(
        "JitApplyFunction", {"tenant_id": tenant, "session_id": "moved", "profile": {"age": 30}}
    )
    assert (moved["outcome"], moved["to_version"]) == ("migrated", 2)

    guide = (ROOT / "docs" / "operations.md").read_text()
    block = guide[guide.index("## Rolling back") :].split("```bash\n", 1)[1].split("```", 1)[0]
    settings = (
        f'API={local.base}/api/v1; T="X-Tenant-ID: {tenant}"; J="Content-Type: application/json"\n'
        f"PLAN={plan['id']}\n"
    )
    commands = "\n".join(line for line in block.splitlines() if not line.startswith("PLAN="))
    rolled = run(["bash", "-c", settings + commands + '\necho "BACK=$BACK"'])
    assert rolled.returncode == 0 and rolled.stderr == "", rolled.stderr
    back = rolled.stdout.rsplit("BACK=", 1)[1].strip()
    assert local.wait_deployed(back, tenant=tenant, seconds=60)["sessions_marked"] == 1
    _, cancelled = local.http("GET", f"/api/v1/migration-plans/{plan['id']}", tenant=tenant)
    assert cancelled["status"] == "cancelled"
    _, active = local.http("GET", "/api/v1/scenarios/order-flow", tenant=tenant)
    _, first = local.http("GET", "/api/v1/scenarios/order-flow/versions/1", tenant=tenant)
    assert active["version"] == 3 and active["document"]["steps"] == first["document"]["steps"]
    returned = local.invoke("JitApplyFunction", {"tenant_id": tenant, "session_id": "moved"})
    assert (returned["outcome"], returned["from_version"], returned["to_version"]) == ("migrated", 2, 3)
    assert returned["to_step_id"] == "checkout"
    assert (
        local.invoke("JitApplyFunction", {"tenant_id": tenant, "session_id": "waiting"})["outcome"] == "none"
    )
