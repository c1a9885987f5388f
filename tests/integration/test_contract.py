"""The OpenAPI document tells the truth (issue 13): for every operation, real requests through the
handlers answer its success status and each error status it documents, and nothing else, with
bodies (and headers) that validate against the document's schema for that status (JSON Schema
2020-12, every $ref resolved in the document). In both auth modes, each against the document its
server serves: header mode (the local run: no 401, no 403) and jwt mode (the authorizer's
context). A status the document lists that no request can produce fails here: it must go.
"""

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from local_run.functions import LambdaContext
from local_run.gateway import proxy_event
from scenario_migration.api import openapi
from scenario_migration.api.auth import AUTH_MODE_ENV, HEADER, JWT
from scenario_migration.config import get_settings
from tests.documents import V1, V2_DOWNSTREAM, V2_GAP, report
from tests.integration import harness
from tests.integration.harness import Response

DOCUMENT_URI = "urn:openapi"
PLANS = "/api/v1/migration-plans"
NOT_JSON = "text/plain"


@dataclass
class Contract:
    """The served document, and every (operation, status) the handlers answered, checked."""

    document: dict[str, Any]
    seen: dict[tuple[str, str], set[int]] = field(default_factory=lambda: defaultdict(set))

    def __post_init__(self) -> None:
        resource = Resource.from_contents(self.document, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(DOCUMENT_URI, resource)

    def check(self, method: str, template: str, response: Response) -> None:
        operation = self.document["paths"][template][method.lower()]
        where = f"{method} {template} -> {response.status}: {response.body}"
        documented = operation["responses"].get(str(response.status))
        assert documented is not None, f"undocumented status: {where}"
        response_at = ["#", "paths", _escape(template), method.lower(), "responses", str(response.status)]
        pointer = "/".join([*response_at, "content", _escape("application/json"), "schema"])
        validator = Draft202012Validator({"$ref": f"{DOCUMENT_URI}{pointer}"}, registry=self.registry)
        problems = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(response.body)]
        assert not problems, f"{where}\n" + "\n".join(problems[:5])
        headers = {name.lower() for name in response.headers}
        for name, header in documented.get("headers", {}).items():
            assert not header.get("required") or name.lower() in headers, f"no {name} header: {where}"
        self.seen[method, template].add(response.status)

    def documented(self) -> dict[tuple[str, str], set[int]]:
        return {
            (method.upper(), path): {int(status) for status in operation["responses"]}
            for path, methods in self.document["paths"].items()
            for method, operation in methods.items()
        }


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


@dataclass
class Client:
    """Sends API Gateway REST events to the function owning each route, checked by `contract`.
    `authorizer`: the Lambda authorizer's context (jwt mode); None: header mode."""

    contract: Contract
    tenant: str
    authorizer: dict[str, str] | None = None

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: str | None = None,
        content_type: str = "application/json",
        tenant_header: str | None = "own",
        authorizer: Any = ...,
    ) -> Response:
        route, params = harness._match(method, path.split("?", maxsplit=1)[0])
        headers = {"Content-Type": content_type}
        if tenant_header is not None:
            headers["X-Tenant-ID"] = self.tenant if tenant_header == "own" else tenant_header
        text = raw if raw is not None else ("" if body is None else json.dumps(body))
        event = proxy_event(method, path, headers, text.encode(), route=route, params=params)
        context = self.authorizer if authorizer is ... else authorizer
        if context is not None:
            event["requestContext"]["authorizer"] = {"principalId": context["principal"], **context}
        result = import_module(harness.HANDLERS[route.function]).handler(event, LambdaContext(route.function))
        response = Response(
            result["statusCode"],
            json.loads(result.get("body") or "null"),
            dict(result.get("multiValueHeaders") or result.get("headers") or {}),
        )
        self.contract.check(method, route.path, response)
        return response

    def expect(self, status: int, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        response = self.call(method, path, body, **kw)
        assert response.status == status, (method, path, response.status, response.body)
        return response.body

    def bad_tenant(self, method: str, path: str, body: Any) -> None:
        """A 400 on any route: header mode without X-Tenant-ID, jwt mode with one that is not a
        tenant id."""
        self.expect(
            400, method, path, body, tenant_header=None if self.authorizer is None else "not a tenant!"
        )


def _acting(client: Client, name: str, body: dict[str, Any]) -> dict[str, Any]:
    """Who acts, where header mode needs it in the body (jwt mode: the token says)."""
    return {**body, name: "ana@example.com"} if client.authorizer is None else body


@pytest.fixture(params=[HEADER, JWT])
def client(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tenant: str) -> Iterator[Client]:
    monkeypatch.setenv(AUTH_MODE_ENV, request.param)
    authorizer = None
    if request.param == JWT:
        authorizer = {"tenant": tenant, "roles": "operator,approver,viewer,runtime", "principal": "ana"}
    yield Client(Contract(openapi.document()), tenant, authorizer)


def _oversize() -> str:
    """A JSON body just above `limits.max_body_bytes` (what a Lambda event would still carry)."""
    return json.dumps({"padding": "x" * (get_settings().limits.max_body_bytes + 10)})


def _body_errors(client: Client, method: str, path: str) -> None:
    """413 and 415 of a route that takes a body."""
    assert client.expect(413, method, path, raw=_oversize())["error"]["code"] == "payload_too_large"
    client.expect(415, method, path, raw="{}", content_type=NOT_JSON)


def test_every_documented_status_of_every_operation_is_answered_and_validates(client: Client) -> None:
    """Success and each documented error of every operation, for real; then the document's
    statuses per operation must be exactly those answered."""
    _registry_and_sessions(client)
    plan, other = _plans(client)
    _decisions(client, plan, other)
    _deployment(client, plan)
    _on_every_route(client, plan)
    assert dict(client.contract.seen) == client.contract.documented()


def _registry_and_sessions(c: Client) -> None:
    c.expect(201, "POST", "/api/v1/scenarios", V1)
    c.expect(409, "POST", "/api/v1/scenarios", V1)
    _body_errors(c, "POST", "/api/v1/scenarios")
    for path in ("/api/v1/scenarios/{}", "/api/v1/scenarios/{}/versions", "/api/v1/scenarios/{}/versions/1"):
        c.expect(200, "GET", path.format("order-flow"))
        c.expect(404, "GET", path.format("unknown"))
    c.expect(404, "GET", "/api/v1/scenarios/order-flow/versions/9")
    c.expect(200, "PUT", "/api/v1/sessions/s1", report("checkout", channel="whatsapp"))
    c.expect(200, "PUT", "/api/v1/sessions/s2", report("checkout", channel="sms"))
    _body_errors(c, "PUT", "/api/v1/sessions/s1")
    for path in ("/api/v1/sessions/{}", "/api/v1/sessions/{}/migrations"):
        c.expect(200, "GET", path.format("s1"))
        c.expect(404, "GET", path.format("nobody"))


def _plans(c: Client) -> tuple[dict[str, Any], dict[str, Any]]:
    """Create (the quickstart's document: no id, no entry step), read (plan, summary, map and
    warnings pages, new version), list."""
    create = "/api/v1/scenarios/{}/migration-plan"
    gap = {k: v for k, v in V2_GAP.items() if k not in ("id", "entry_step_id")}  # the V1 entry is kept
    plan = c.expect(201, "POST", create.format("order-flow"), _acting(c, "created_by", {"new_scenario": gap}))
    other = c.expect(
        201, "POST", create.format("order-flow"), _acting(c, "created_by", {"new_scenario": V2_DOWNSTREAM})
    )
    c.expect(404, "POST", create.format("unknown"), _acting(c, "created_by", {"new_scenario": gap}))
    stale = {"new_scenario": {**gap, "version": 1}}
    c.expect(409, "POST", create.format("order-flow"), _acting(c, "created_by", stale))
    _body_errors(c, "POST", create.format("order-flow"))
    c.expect(200, "GET", PLANS)
    url = f"{PLANS}/{plan['id']}"
    for part in ("", "/summary", "/transformation-map", "/warnings", "/new-scenario"):
        c.expect(200, "GET", f"{url}{part}")
        c.expect(404, "GET", f"{PLANS}/unknown{part}")
    first = c.expect(200, "GET", f"{url}/transformation-map?limit=1")
    assert first["next"] == f"{url}/transformation-map?next_token={first['next_token']}&limit=1"
    second = c.expect(200, "GET", first["next"])
    assert len(second["anchors"]) == 1 and second["anchors"] != first["anchors"]
    c.expect(400, "GET", f"{url}/warnings?next_token=forged")
    return plan, other


def _policies(plan: dict[str, Any]) -> dict[str, Any]:
    checkout = next(a for a in plan["transformation_map"]["anchors"] if a["anchor_name"] == "Checkout")
    return {
        "policies": {checkout["anchor_content_hash"]: {"scope_filter": {"include_channels": ["whatsapp"]}}}
    }


def _decisions(c: Client, plan: dict[str, Any], other: dict[str, Any]) -> None:
    """Policies, approve (four eyes in jwt mode), reject."""
    url, policies = f"{PLANS}/{plan['id']}", _policies(plan)
    c.expect(200, "PUT", f"{url}/policies", policies)
    c.expect(404, "PUT", f"{PLANS}/unknown/policies", policies)
    _body_errors(c, "PUT", f"{url}/policies")
    for action, person in (("approve", "approved_by"), ("reject", "rejected_by")):
        c.expect(404, "POST", f"{PLANS}/unknown/{action}", _acting(c, person, {}))
        _body_errors(c, "POST", f"{url}/{action}")
    if c.authorizer is not None:  # four eyes: the creator (the token's principal) may not approve
        c.expect(403, "POST", f"{url}/approve", {})
        c.authorizer = {**c.authorizer, "principal": "bo"}
    c.expect(200, "POST", f"{url}/approve", _acting(c, "approved_by", {}))
    c.expect(409, "POST", f"{url}/approve", _acting(c, "approved_by", {}))
    c.expect(409, "PUT", f"{url}/policies", policies)
    c.expect(200, "POST", f"{PLANS}/{other['id']}/reject", _acting(c, "rejected_by", {"reason": "later"}))
    c.expect(409, "POST", f"{PLANS}/{other['id']}/reject", _acting(c, "rejected_by", {}))


def _deployment(c: Client, plan: dict[str, Any]) -> None:
    """Dry run, deploy, widen, rollback; then the reverse plan approved, deployed, cancelled."""
    url = f"{PLANS}/{plan['id']}"
    c.expect(200, "POST", f"{url}/simulate", {"session_ids": ["s1", "s2"]})
    c.expect(404, "POST", f"{PLANS}/unknown/simulate", {"sample": 10})
    _body_errors(c, "POST", f"{url}/simulate")
    deployed = c.expect(202, "POST", f"{url}/deploy")
    c.expect(409, "POST", f"{url}/deploy")
    c.expect(404, "POST", f"{PLANS}/unknown/deploy")
    _body_errors(c, "POST", f"{url}/deploy")
    # what marking will mark under the policies: the sms customer at Checkout is out of scope
    checkout = next(iter(_policies(plan)["policies"]))
    assert deployed["sessions_by_anchor"] == {checkout: 1} and deployed["sessions_to_mark"] == 1
    c.expect(200, "GET", deployed["status_url"])
    c.expect(404, "GET", f"{PLANS}/unknown/deployment-status")
    _widen(c, url)
    rolled = c.expect(200, "POST", f"{url}/rollback", _acting(c, "created_by", {"reason": "contract"}))
    c.expect(409, "POST", f"{url}/simulate", {"sample": 10})  # a cancelled plan
    c.expect(404, "POST", f"{PLANS}/unknown/rollback", _acting(c, "created_by", {}))
    _body_errors(c, "POST", f"{url}/rollback")
    c.expect(409, "POST", f"{url}/cancel")  # the rollback cancelled it
    reverse = f"{PLANS}/{rolled['reverse_plan']['id']}"
    c.expect(409, "POST", f"{reverse}/rollback", _acting(c, "created_by", {}))  # pending: nothing to undo
    if c.authorizer is not None:  # four eyes: the reverse plan is its creator's ("bo")
        c.authorizer = {**c.authorizer, "principal": "ana"}
    c.expect(200, "POST", f"{reverse}/approve", _acting(c, "approved_by", {}))
    c.expect(202, "POST", f"{reverse}/deploy")
    c.expect(200, "POST", f"{reverse}/cancel")
    c.expect(404, "POST", f"{PLANS}/unknown/cancel")


def _widen(c: Client, url: str) -> None:
    c.expect(200, "POST", f"{url}/widen", {"canary_percent": 100})  # the percent it has: nothing to do
    c.expect(409, "POST", f"{url}/widen", {"canary_percent": 50})  # a canary only widens
    c.expect(404, "POST", f"{PLANS}/unknown/widen", {"canary_percent": 50})
    _body_errors(c, "POST", f"{url}/widen")


def _on_every_route(c: Client, plan: dict[str, Any]) -> None:
    """What every operation answers whatever its route: a bad tenant header; in jwt mode, no
    credentials and a caller without the role."""
    for method, template in c.contract.documented():
        path = template.format(scenario_id="order-flow", version=1, plan_id=plan["id"], session_id="s1")
        body = _valid_body(c, method, template)
        c.bad_tenant(method, path, body)
        if c.authorizer is not None:
            c.expect(401, method, path, body, authorizer=None)
            c.expect(403, method, path, body, authorizer={**c.authorizer, "roles": ""})


def _valid_body(client: Client, method: str, template: str) -> Any:
    """A body each route would accept (so that the check under test is the one that answers)."""
    bodies = {
        ("POST", "/api/v1/scenarios"): V1,
        ("POST", "/api/v1/scenarios/{scenario_id}/migration-plan"): _acting(
            client, "created_by", {"new_scenario": V2_GAP}
        ),
        ("PUT", "/api/v1/migration-plans/{plan_id}/policies"): {"policies": {}},
        ("POST", "/api/v1/migration-plans/{plan_id}/approve"): _acting(client, "approved_by", {}),
        ("POST", "/api/v1/migration-plans/{plan_id}/reject"): _acting(client, "rejected_by", {}),
        ("PUT", "/api/v1/sessions/{session_id}"): report("checkout"),
        ("POST", "/api/v1/migration-plans/{plan_id}/widen"): {"canary_percent": 100},
        ("POST", "/api/v1/migration-plans/{plan_id}/simulate"): {"sample": 1},
        ("POST", "/api/v1/migration-plans/{plan_id}/rollback"): _acting(client, "created_by", {}),
    }
    return bodies.get((method, template))
