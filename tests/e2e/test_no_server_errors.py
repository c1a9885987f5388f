"""No 5xx for any input, over the local run's HTTP front (issue 11, section 3): the hostile
requests that answered 500 (tests/integration/test_hostile_input.py has them through the
handlers, in detail), then schemathesis against the served OpenAPI document with every check.

The quick run is in `make test`: fixed seed, one worker, a bounded number of examples per
operation, so it is deterministic and stays well under two minutes on a loaded two-core machine.
`make fuzz` (FUZZ_LONG=1) is the long run; FUZZ_SEED and FUZZ_EXAMPLES override either.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.documents import V1, report
from tests.e2e.conftest import Local

pytestmark = pytest.mark.e2e
CONFIG = Path(__file__).with_name("schemathesis.toml")
QUICK = {"seed": 11, "examples": 10, "workers": 1}
LONG = {"seed": 11, "examples": 300, "workers": 2}
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    "case",
    [
        ("POST", "/api/v1/scenarios", json.dumps(V1), "text/plain", 415),
        ("POST", "/api/v1/scenarios", json.dumps(V1), "application/xml", 415),
        ("POST", "/api/v1/scenarios", json.dumps(V1), "multipart/form-data", 415),
        ("POST", "/api/v1/scenarios", DEEP, "application/json", 400),
        ("POST", "/api/v1/scenarios", json.dumps({**V1, "version": 10**39}), "application/json", 400),
        (
            "PUT",
            "/api/v1/sessions/s",
            json.dumps(report("checkout", version=10**39)),
            "application/json",
            400,
        ),
        ("GET", f"/api/v1/scenarios/order-flow/versions/{10**39}", None, None, 400),
        (
            "PUT",
            "/api/v1/sessions/s",
            json.dumps(report("checkout", created_at="0001-01-01T00:00:00+14:00")),
            "application/json",
            400,
        ),
        (
            "PUT",
            "/api/v1/sessions/s",
            json.dumps(report("checkout", last_activity_at="9999-12-31T23:59:59-14:00")),
            "application/json",
            400,
        ),
        ("TRACE", "/api/v1/scenarios/order-flow", None, None, 405),
    ],
    ids=[
        "text-plain",
        "xml",
        "multipart",
        "deep",
        "version-body",
        "version-report",
        "version-path",
        "timestamp-min",
        "timestamp-max",
        "trace",
    ],
)
def test_hostile_requests_over_http(local: Local, case: tuple) -> None:
    method, path, data, content_type, status = case
    headers = {"X-Tenant-ID": "hostile", **({"Content-Type": content_type} if content_type else {})}
    answered, body = local.raw(method, path, data.encode() if data else None, headers)
    assert answered == status, body
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}


@pytest.mark.parametrize("tenant", [None, "", " "])
def test_a_blank_or_missing_tenant_over_http(local: Local, tenant: str | None) -> None:
    headers = {"Content-Type": "application/json", **({"X-Tenant-ID": tenant} if tenant is not None else {})}
    assert local.raw("POST", "/api/v1/scenarios", json.dumps(V1).encode(), headers)[0] == 400
    assert local.raw("GET", "/api/v1/scenarios/order-flow", None, headers)[0] == 400


@pytest.mark.fuzz
def test_schemathesis_finds_nothing(local: Local, tmp_path: Path) -> None:
    """Every operation, every check: no server error, every response as the document says."""
    budget = LONG if os.environ.get("FUZZ_LONG") else QUICK
    seed = int(os.environ.get("FUZZ_SEED", budget["seed"]))
    examples = int(os.environ.get("FUZZ_EXAMPLES", budget["examples"]))
    command = [
        sys.executable,
        "-c",
        "from schemathesis.cli import schemathesis; schemathesis()",
        "--config-file",
        str(CONFIG),
        "run",
        f"{local.base}/api/v1/openapi.json",
        "--checks=all",
        f"--seed={seed}",
        f"--max-examples={examples}",
        f"--workers={budget['workers']}",
        "--generation-database=none",
        "--no-color",
        "--output-sanitize=false",
        "--request-timeout=60",
    ]
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    output = result.stdout + result.stderr
    (tmp_path / "schemathesis.out").write_text(output)
    summary = [line for line in output.splitlines() if "generated" in line or line.startswith("Seed")]
    print(f"schemathesis seed={seed} max-examples={examples}: {summary} in {time.monotonic() - started:.0f}s")
    assert result.returncode == 0, output[-20_000:]
