"""The REST handlers in jwt mode: the caller comes from the authorizer's context, each route needs
its one declared role, `X-Tenant-ID` can only agree, who acted is the token's principal, and a plan's
creator cannot approve it. Then every token case end to end: through the real authorizer (as
the local run's gateway drives it) and on into the handler. Every refusal is a 401 or 403 in the
error shape and carries no data."""

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from local_run.auth import authorizer_environment, generate
from local_run.functions import Functions
from local_run.gateway import Refused, authorize
from local_run.template import load_template
from scenario_migration import identity
from scenario_migration.api.auth import current_caller
from scenario_migration.auth import tokens
from scenario_migration.config import get_settings
from scenario_migration.identity import Role
from scripts.openapi import render
from tests.auth.flows import Caller, context
from tests.auth.keys import Issuer, claims_of, hmac_with_public_key, issuer, tampered, unsigned
from tests.documents import V1_PAYMENT, V2_FORK_PAYMENT, report
from tests.integration import harness

TEMPLATE = load_template()
EXPECTED_ROLES = {
    ("POST", "/api/v1/scenarios"): Role.OPERATOR,
    ("GET", "/api/v1/scenarios/{scenario_id}"): Role.VIEWER,
    ("GET", "/api/v1/scenarios/{scenario_id}/versions"): Role.VIEWER,
    ("GET", "/api/v1/scenarios/{scenario_id}/versions/{version}"): Role.VIEWER,
    ("POST", "/api/v1/scenarios/{scenario_id}/migration-plan"): Role.OPERATOR,
    ("GET", "/api/v1/migration-plans"): Role.VIEWER,
    ("GET", "/api/v1/migration-plans/{plan_id}"): Role.VIEWER,
    ("GET", "/api/v1/migration-plans/{plan_id}/summary"): Role.VIEWER,
    ("GET", "/api/v1/migration-plans/{plan_id}/new-scenario"): Role.VIEWER,
    ("GET", "/api/v1/migration-plans/{plan_id}/transformation-map"): Role.VIEWER,
    ("GET", "/api/v1/migration-plans/{plan_id}/warnings"): Role.VIEWER,
    ("PUT", "/api/v1/migration-plans/{plan_id}/policies"): Role.OPERATOR,
    ("POST", "/api/v1/migration-plans/{plan_id}/approve"): Role.APPROVER,
    ("POST", "/api/v1/migration-plans/{plan_id}/reject"): Role.APPROVER,
    ("POST", "/api/v1/migration-plans/{plan_id}/deploy"): Role.OPERATOR,
    ("POST", "/api/v1/migration-plans/{plan_id}/cancel"): Role.OPERATOR,
    ("POST", "/api/v1/migration-plans/{plan_id}/widen"): Role.OPERATOR,
    ("POST", "/api/v1/migration-plans/{plan_id}/rollback"): Role.OPERATOR,
    ("POST", "/api/v1/migration-plans/{plan_id}/simulate"): Role.VIEWER,
    ("GET", "/api/v1/migration-plans/{plan_id}/deployment-status"): Role.VIEWER,
    ("PUT", "/api/v1/sessions/{session_id}"): Role.RUNTIME,
    ("GET", "/api/v1/sessions/{session_id}"): Role.VIEWER,
    ("GET", "/api/v1/sessions/{session_id}/migrations"): Role.VIEWER,
}
API_ROUTES = sorted(EXPECTED_ROLES)


@pytest.fixture
def jwt_mode(monkeypatch: pytest.MonkeyPatch, local_aws: dict[str, str]) -> None:
    monkeypatch.setenv("AUTH_MODE", "jwt")


def concrete(path: str) -> str:
    return path.format(scenario_id="order-flow", version=1, plan_id="p-1", session_id="s1")


BODIES = {
    "/scenarios": V1_PAYMENT,
    "/migration-plan": {"new_scenario": V2_FORK_PAYMENT},
    "/policies": {"policies": {}},
    "/widen": {"canary_percent": 50},
    "/simulate": {"sample": 10},
}


def body_for(method: str, path: str) -> Any:
    """A valid body (Powertools validates it before the role check: a bad one would be a 400)."""
    found = next((body for end, body in BODIES.items() if path.endswith(end)), None)
    if found is not None:
        return found
    if path.startswith("/api/v1/sessions") and method == "PUT":
        return report("checkout")
    return {} if method == "POST" else None


def error_only(response: Any, status: int, code: str) -> None:
    assert response.status == status, response.body
    assert response.body == {"error": {**response.body["error"], "code": code}}
    assert set(response.body["error"]) == {"code", "message", "details"}


def operations() -> dict[tuple[str, str], str]:
    """Each operation of the served OpenAPI document, with the role it declares."""
    paths = json.loads(render())["paths"]
    found = {}
    for path, methods in paths.items():
        for method, operation in methods.items():
            assert operation["security"] == [{"bearerAuth": []}], (method, path)
            found[(method.upper(), path)] = operation["x-required-role"]
    return found


def test_the_openapi_document_declares_each_routes_role() -> None:
    assert operations() == {route: role.value for route, role in EXPECTED_ROLES.items()}


@pytest.mark.parametrize("route", API_ROUTES, ids=lambda r: f"{r[0]} {r[1]}")
def test_no_authorizer_context_is_a_401(route: tuple[str, str], tenant: str, jwt_mode: None) -> None:
    method, path = route
    caller = Caller(tenant, context={})  # no authorizer context: the header alone is never trusted
    error_only(caller.call(method, concrete(path), body_for(method, path)), 401, "unauthenticated")


@pytest.mark.parametrize("route", API_ROUTES, ids=lambda r: f"{r[0]} {r[1]}")
def test_every_role_but_the_routes_own_is_a_403(route: tuple[str, str], tenant: str, jwt_mode: None) -> None:
    method, path = route
    others = ",".join(r.value for r in Role if r is not EXPECTED_ROLES[route])
    caller = Caller(tenant, context(tenant, others))
    error_only(caller.call(method, concrete(path), body_for(method, path)), 403, "forbidden")
    allowed = Caller(tenant, context(tenant, EXPECTED_ROLES[route].value))
    assert allowed.call(method, concrete(path), body_for(method, path)).status not in (401, 403)


def test_the_tenant_header_may_only_agree(tenant: str, jwt_mode: None) -> None:
    ctx = context(tenant, "operator,viewer")
    assert Caller(tenant, ctx).post("/api/v1/scenarios", V1_PAYMENT).status == 201  # the header agrees
    assert Caller(tenant, ctx, send_tenant_header=False).get("/api/v1/scenarios/order-flow").status == 200
    other = Caller(tenant, ctx, send_tenant_header="someone-else")
    error_only(other.get("/api/v1/scenarios/order-flow"), 403, "forbidden")
    error_only(other.post("/api/v1/scenarios", {**V1_PAYMENT, "id": "x"}), 403, "forbidden")
    assert Caller(tenant, ctx).get("/api/v1/scenarios/x").status == 404  # nothing was stored


def test_who_acted_is_the_tokens_principal(tenant: str, jwt_mode: None) -> None:
    ana = Caller(tenant, context(tenant, "operator,viewer,approver", "ana@example.com"))
    bob = Caller(tenant, context(tenant, "approver", "bob@example.com"))
    assert ana.post("/api/v1/scenarios", V1_PAYMENT).status == 201
    path = "/api/v1/scenarios/order-flow/migration-plan"
    error_only(
        ana.post(path, {"new_scenario": V2_FORK_PAYMENT, "created_by": "bob@example.com"}), 403, "forbidden"
    )
    plan = ana.post(path, {"new_scenario": V2_FORK_PAYMENT, "created_by": "ana@example.com"}).body
    assert plan["created_by"] == "ana@example.com"
    other = ana.post(path, {"new_scenario": V2_FORK_PAYMENT}).body
    assert other["created_by"] == "ana@example.com"
    rejected = ana.post(f"/api/v1/migration-plans/{other['id']}/reject", {"reason": "mine, withdrawn"})
    assert (
        rejected.status == 200 and rejected.body["rejected_by"] == "ana@example.com"
    )  # no four eyes to withdraw
    approve = f"/api/v1/migration-plans/{plan['id']}/approve"
    error_only(bob.post(approve, {"approved_by": "ana@example.com"}), 403, "forbidden")
    four_eyes = ana.post(approve, {})
    error_only(four_eyes, 403, "forbidden")
    assert four_eyes.body["error"]["details"]["rule"] == "four_eyes"
    assert ana.get(f"/api/v1/migration-plans/{plan['id']}").body["status"] == "pending"  # nothing changed
    approved = bob.post(approve, {})
    assert approved.status == 200 and approved.body["approved_by"] == "bob@example.com"


def test_without_require_approval_the_creator_may_approve(
    tenant: str, jwt_mode: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCENARIO_MIGRATION__DEPLOYMENT__REQUIRE_APPROVAL", "false")
    get_settings.cache_clear()
    try:
        ana = Caller(tenant, context(tenant, "operator,approver", "ana@example.com"))
        assert ana.post("/api/v1/scenarios", V1_PAYMENT).status == 201
        plan = ana.post("/api/v1/scenarios/order-flow/migration-plan", {"new_scenario": V2_FORK_PAYMENT}).body
        assert ana.post(f"/api/v1/migration-plans/{plan['id']}/approve", body={}).status == 200
    finally:
        monkeypatch.delenv("SCENARIO_MIGRATION__DEPLOYMENT__REQUIRE_APPROVAL")
        get_settings.cache_clear()


def test_header_mode_takes_the_bodys_names_and_needs_them(tenant: str, local_aws: dict[str, str]) -> None:
    caller = Caller(tenant)  # AUTH_MODE=header, as the tests' and the local run's default
    assert caller.post("/api/v1/scenarios", V1_PAYMENT).status == 201
    path = "/api/v1/scenarios/order-flow/migration-plan"
    missing = caller.post(path, {"new_scenario": V2_FORK_PAYMENT})
    assert missing.status == 400 and missing.body["error"]["details"][0]["location"] == "created_by"
    plan = caller.post(path, {"new_scenario": V2_FORK_PAYMENT, "created_by": "op"}).body
    approved = caller.post(f"/api/v1/migration-plans/{plan['id']}/approve", {"approved_by": "op"})
    assert approved.status == 200  # the same name: nothing authenticated it, no four eyes
    assert identity.current() is None  # the route's binding ended with it


def test_an_unknown_auth_mode_stops_the_function(monkeypatch: pytest.MonkeyPatch) -> None:
    from scenario_migration.api.resolver import create_resolver  # noqa: PLC0415

    monkeypatch.setenv("AUTH_MODE", "trust-me")
    with pytest.raises(RuntimeError, match="AUTH_MODE"):
        create_resolver()
    assert current_caller.__name__ == "current_caller"


# -- every token case, through the authorizer and on into the handler ----------------------------


@pytest.fixture(scope="module")
def idp() -> Iterator[Issuer]:
    with issuer() as provider:
        yield provider


@pytest.fixture
def gateway(idp: Issuer, jwt_mode: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Functions]:
    for name, value in authorizer_environment(idp.settings).items():
        monkeypatch.setenv(name, value)
    tokens.verifier.cache_clear()
    yield Functions(TEMPLATE)
    tokens.verifier.cache_clear()


def through(
    functions: Functions,
    tenant: str,
    token: str,
    method: str,
    path: str,
    *,
    body: Any = None,
    header: str | None = None,
) -> tuple[int, Any]:
    """API Gateway's steps: the authorizer on the token, then the route's handler with its context."""
    headers = {"Authorization": f"Bearer {token}", **({"X-Tenant-ID": header} if header else {})}
    assert TEMPLATE.authorizer is not None
    try:
        ctx = authorize(functions, TEMPLATE.authorizer, headers, method, path)
    except Refused as refused:
        return refused.status, {"error": {"code": refused.code, "message": refused.message, "details": None}}
    caller = Caller(tenant, ctx, send_tenant_header=header or False)
    response = caller.call(method, path, body)
    return response.status, response.body


def forged(idp: Issuer, tenant: str, case: str) -> str:
    """A token for `case`: each is refused by the authorizer (401)."""
    good = idp.token(tenant=tenant, roles=("viewer",))
    claims = claims_of(good)
    past = int(time.time()) - 3600
    return {
        "expired": lambda: idp.token(tenant=tenant, exp=past, iat=past - 60, nbf=past - 60),
        "not yet valid": lambda: idp.token(tenant=tenant, nbf=int(time.time()) + 3600),
        "wrong audience": lambda: idp.token(tenant=tenant, aud="another-api"),
        "wrong issuer": lambda: idp.token(tenant=tenant, iss="https://issuer.example.com"),
        "tampered payload": lambda: tampered(good, **{idp.settings.roles_claim: ["operator", "viewer"]}),
        "another key": lambda: generate().sign(claims, headers={"kid": idp.key.kid}),
        "alg none": lambda: unsigned({"alg": "none", "kid": idp.key.kid}, claims),
        "hs256 with the public key": lambda: hmac_with_public_key(idp.key, claims),
    }[case]()


@pytest.mark.parametrize(
    "case",
    [
        "expired",
        "not yet valid",
        "wrong audience",
        "wrong issuer",
        "tampered payload",
        "another key",
        "alg none",
        "hs256 with the public key",
    ],
)
def test_a_refused_token_never_reaches_data(idp: Issuer, gateway: Functions, tenant: str, case: str) -> None:
    viewer = idp.token(tenant=tenant, roles=("operator", "viewer"))
    assert through(gateway, tenant, viewer, "POST", "/api/v1/scenarios", body=V1_PAYMENT)[0] == 201
    status, body = through(gateway, tenant, forged(idp, tenant, case), "GET", "/api/v1/scenarios/order-flow")
    assert status == 401 and body["error"]["code"] == "unauthenticated" and "steps" not in json.dumps(body)


def test_a_good_token_end_to_end_and_each_refusal_after_the_authorizer(
    idp: Issuer, gateway: Functions, tenant: str
) -> None:
    ana = idp.token(tenant=tenant, roles=("operator", "viewer", "approver"), email="ana@example.com")
    viewer = idp.token(tenant=tenant, roles=("viewer",), email="vic@example.com")
    assert through(gateway, tenant, ana, "POST", "/api/v1/scenarios", body=V1_PAYMENT)[0] == 201
    status, scenario = through(gateway, tenant, viewer, "GET", "/api/v1/scenarios/order-flow")
    assert status == 200 and scenario["scenario_id"] == "order-flow"
    # wrong tenant header
    assert through(gateway, tenant, viewer, "GET", "/api/v1/scenarios/order-flow", header="other")[0] == 403
    # missing role
    assert through(gateway, tenant, viewer, "PUT", "/api/v1/sessions/s1", body=report("checkout"))[0] == 403
    # approve by the creator when four eyes apply
    plan = through(
        gateway,
        tenant,
        ana,
        "POST",
        "/api/v1/scenarios/order-flow/migration-plan",
        body={"new_scenario": V2_FORK_PAYMENT},
    )[1]
    status, body = through(
        gateway, tenant, ana, "POST", f"/api/v1/migration-plans/{plan['id']}/approve", body={}
    )
    assert status == 403 and body["error"]["details"]["rule"] == "four_eyes"
    # another tenant's token sees nothing of this one
    eve = idp.token(tenant="globex", roles=("viewer",))
    assert through(gateway, "globex", eve, "GET", "/api/v1/scenarios/order-flow")[0] == 404


def test_a_rollbacks_reverse_plan_needs_another_approver(
    tenant: str, jwt_mode: None, local_aws: dict[str, str]
) -> None:
    """Four eyes hold for a rollback: its reverse plan is the rolling-back operator's."""
    ana = Caller(tenant, context(tenant, "operator,viewer,approver", "ana@example.com"))
    bob = Caller(tenant, context(tenant, "approver", "bob@example.com"))
    assert ana.post("/api/v1/scenarios", V1_PAYMENT).status == 201
    plan = ana.post("/api/v1/scenarios/order-flow/migration-plan", {"new_scenario": V2_FORK_PAYMENT}).body
    assert bob.post(f"/api/v1/migration-plans/{plan['id']}/approve", {}).status == 200
    assert ana.post(f"/api/v1/migration-plans/{plan['id']}/deploy").status == 202
    harness.drain(local_aws["MarkingQueue"])
    rolled = ana.post(f"/api/v1/migration-plans/{plan['id']}/rollback", {"reason": "x"}).body
    reverse = rolled["reverse_plan"]["id"]
    assert rolled["audit"]["by"] == "ana@example.com"
    assert ana.get(f"/api/v1/migration-plans/{reverse}").body["created_by"] == "ana@example.com"
    four_eyes = ana.post(f"/api/v1/migration-plans/{reverse}/approve", {})
    error_only(four_eyes, 403, "forbidden")
    assert bob.post(f"/api/v1/migration-plans/{reverse}/approve", {}).status == 200
