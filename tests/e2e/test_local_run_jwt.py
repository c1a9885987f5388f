"""`LOCAL_AUTH=jwt make run` for real: the local run invokes the template's authorizer on every API
request with tokens signed by its own key, honours the policy, and the handlers take the tenant,
roles and principal from its context. Refusals are 401/403 in the error shape, never data."""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_run import auth
from local_run.dynamodb_local import free_port
from tests.documents import V1_PAYMENT, V2_FORK_PAYMENT, report

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


class Local:
    def __init__(self, port: int, key: auth.SigningKey) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.key = key
        self.settings = auth.local_settings(port)

    def token(self, roles: str, email: str, tenant: str = "acme", **claims: Any) -> str:
        return self.key.token(
            self.settings,
            tenant=tenant,
            roles=roles.split(","),
            sub=email.split("@", maxsplit=1)[0],
            email=email,
            **claims,
        )

    def http(
        self, method: str, path: str, body: Any = None, token: str | None = None, tenant: str | None = None
    ) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.base}{path}", method=method, data=data)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        if tenant:
            request.add_header("X-Tenant-ID", tenant)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    folder = tmp_path_factory.mktemp("local_run_jwt")
    key_file = folder / "key.pem"
    port = free_port()
    env = {
        **os.environ,
        "LOCAL_PORT": str(port),
        "LOCAL_AUTH": "jwt",
        auth.KEY_FILE_ENV: str(key_file),
        "LOCAL_SCHEDULE_SECONDS": "3600",
        "PYTHONUNBUFFERED": "1",
    }
    log = folder / "output.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "local_run"], cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 120
    while "Local run ready on" not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError("the local run did not start:\n" + log.read_text())
        time.sleep(0.2)
    assert "Auth: jwt mode" in log.read_text()
    yield Local(port, auth.load_or_create(key_file))
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


def refused(answer: tuple[int, Any], status: int, code: str) -> bool:
    got, body = answer
    return (
        got == status
        and body["error"]["code"] == code
        and set(body["error"]) == {"code", "message", "details"}
    )


def test_credentials_that_are_refused(local: Local) -> None:
    plans = "/api/v1/migration-plans"
    assert refused(local.http("GET", plans, tenant="acme"), 401, "unauthenticated")  # the header alone
    assert refused(local.http("GET", plans, token="not.a.token"), 401, "unauthenticated")
    past = int(time.time()) - 3600
    expired = local.token("viewer", "ana@example.com", exp=past, iat=past - 60, nbf=past - 60)
    assert refused(local.http("GET", plans, token=expired), 401, "unauthenticated")
    stranger = auth.generate().token(local.settings, tenant="acme", roles=["viewer"], sub="x")
    assert refused(local.http("GET", plans, token=stranger), 401, "unauthenticated")
    wrong_audience = local.token("viewer", "ana@example.com", aud="another-api")
    assert refused(local.http("GET", plans, token=wrong_audience), 401, "unauthenticated")
    no_tenant = local.token("viewer", "ana@example.com", tenant="not a tenant")
    assert refused(local.http("GET", plans, token=no_tenant), 403, "forbidden")  # the authorizer's Deny


def test_the_walk_through_with_tokens(local: Local) -> None:
    ana = local.token("operator,viewer,approver", "ana@example.com")
    bob = local.token("approver", "bob@example.com")
    viewer = local.token("viewer", "vic@example.com")
    runtime = local.token("runtime", "runtime@example.com")
    other_tenant = local.token("operator,viewer", "eve@example.com", tenant="globex")

    assert refused(local.http("POST", "/api/v1/scenarios", V1_PAYMENT, token=viewer), 403, "forbidden")
    assert local.http("GET", "/api/v1/scenarios/order-flow", token=viewer)[0] == 404  # nothing was stored
    assert local.http("POST", "/api/v1/scenarios", V1_PAYMENT, token=ana, tenant="acme")[0] == 201
    assert refused(
        local.http("GET", "/api/v1/scenarios/order-flow", token=ana, tenant="globex"), 403, "forbidden"
    )
    assert local.http("GET", "/api/v1/scenarios/order-flow", token=other_tenant)[0] == 404

    assert local.http("PUT", "/api/v1/sessions/s1", report("checkout"), token=runtime)[0] == 200
    assert refused(local.http("GET", "/api/v1/sessions/s1", token=runtime), 403, "forbidden")
    assert refused(local.http("PUT", "/api/v1/sessions/s2", report("checkout"), token=ana), 403, "forbidden")

    path = "/api/v1/scenarios/order-flow/migration-plan"
    claimed = {"new_scenario": V2_FORK_PAYMENT, "created_by": "bob@example.com"}
    assert refused(local.http("POST", path, claimed, token=ana), 403, "forbidden")
    status, plan = local.http("POST", path, {"new_scenario": V2_FORK_PAYMENT}, token=ana)
    assert status == 201 and plan["created_by"] == "ana@example.com"

    approve = f"/api/v1/migration-plans/{plan['id']}/approve"
    four_eyes = local.http("POST", approve, {}, token=ana)
    assert refused(four_eyes, 403, "forbidden") and four_eyes[1]["error"]["details"]["rule"] == "four_eyes"
    assert refused(
        local.http("POST", approve, {"approved_by": "ana@example.com"}, token=bob), 403, "forbidden"
    )
    status, approved = local.http("POST", approve, {}, token=bob)
    assert status == 200 and approved["approved_by"] == "bob@example.com"
    assert refused(
        local.http("POST", f"/api/v1/migration-plans/{plan['id']}/deploy", token=bob), 403, "forbidden"
    )
    assert local.http("POST", f"/api/v1/migration-plans/{plan['id']}/deploy", token=ana)[0] == 202


def test_the_key_set_is_served(local: Local) -> None:
    with urllib.request.urlopen(f"{local.base}{auth.JWKS_PATH}", timeout=10) as response:
        assert json.loads(response.read()) == local.key.jwks()


def test_the_console_loads_without_a_token_and_asks_for_one(local: Local) -> None:
    """The console's page and settings are the only routes the authorizer does not guard (a
    browser loads them before it can sign in); with no local identity provider, it takes a
    pasted token. The API behind it still refuses a call without one."""
    with urllib.request.urlopen(f"{local.base}/console", timeout=60) as response:
        assert response.status == 200 and response.headers["Content-Type"].startswith("text/html")
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert local.http("GET", "/console/config.json") == (
        200,
        {"mode": "token", "tenant_claim": "custom:tenant", "roles_claim": "cognito:groups"},
    )
    assert refused(local.http("GET", "/api/v1/migration-plans"), 401, "unauthenticated")
