"""The operator's and the runtime's whole walk through the handlers, as callers with identities.

`Caller` sends API Gateway REST events to the function that owns the route (template.yaml), in
either auth mode: with `context` (what the Lambda authorizer passes, jwt mode) or with the
`X-Tenant-ID` header alone (header mode). `walk` plays every function's code paths once: register,
report, plan, policies, read, simulate, approve, reject, deploy a canary, mark, widen, JIT
(migrate, ask, answer, block), roll back (cancel, unmark, reverse plan), deploy and cancel the
reverse plan, retention.
"""

import json
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from importlib import import_module
from typing import Any

from local_run.functions import LambdaContext
from local_run.gateway import proxy_event
from scenario_migration.clock import utcnow
from tests.documents import V1_PAYMENT, V2_FORK_PAYMENT, report
from tests.integration import harness
from tests.integration.harness import Response


@dataclass
class Caller:
    tenant: str
    context: dict[str, str] | None = None  # the authorizer's context; None: header mode
    send_tenant_header: bool | str = True  # jwt mode: also send X-Tenant-ID (True: the tenant's)
    recorder: Any = None
    person: str = "ana@example.com"  # header mode: the name sent as created_by / approved_by

    def signed(self, field: str, body: dict[str, Any]) -> dict[str, Any]:
        """`body` with `field` as header mode needs it (jwt mode: the token says who)."""
        return body if self.context is not None else {**body, field: self.person}

    def call(self, method: str, path: str, body: Any = None) -> Response:
        route, params = harness._match(method, path.split("?", maxsplit=1)[0])
        headers = {"Content-Type": "application/json"}
        if self.context is None or self.send_tenant_header:
            header = self.send_tenant_header
            headers["X-Tenant-ID"] = header if isinstance(header, str) else self.tenant
        text = json.dumps(body) if body is not None else ""
        event = proxy_event(method, path, headers, text.encode(), route=route, params=params)
        if self.context is not None:
            event["requestContext"]["authorizer"] = {
                "principalId": self.context.get("principal"),
                **self.context,
            }
        with self.running(route.function):
            result = import_module(harness.HANDLERS[route.function]).handler(
                event, LambdaContext(route.function)
            )
        return Response(result["statusCode"], json.loads(result.get("body") or "null"), {})

    def running(self, function: str) -> AbstractContextManager[Any]:
        return self.recorder.running(function) if self.recorder else nullcontext()

    def get(self, path: str) -> Response:
        return self.call("GET", path)

    def post(self, path: str, body: Any = None) -> Response:
        return self.call("POST", path, body)

    def put(self, path: str, body: Any = None) -> Response:
        return self.call("PUT", path, body)


def context(tenant: str, roles: str, principal: str = "ana@example.com") -> dict[str, str]:
    return {"tenant": tenant, "roles": roles, "principal": principal}


def ok(response: Response, status: int = 200) -> Any:
    assert response.status == status, response.body
    return response.body


def walk(operator: Caller, approver: Caller, runtime: Caller, queue_url: str, recorder: Any = None) -> None:
    """Every function's code paths once (the callers' identities decide the auth mode)."""
    running = recorder.running if recorder else (lambda _: nullcontext())
    ok(operator.post("/api/v1/scenarios", V1_PAYMENT), 201)
    sessions = {"a": "checkout", "b": "checkout", "c": "welcome", "d": "confirm", "e": "checkout"}
    for session_id, where in sessions.items():
        visited = ["welcome", "checkout", "payment"] if where == "confirm" else []
        ok(runtime.put(f"/api/v1/sessions/{session_id}", report(where, visited_step_ids=visited)))
    plan = ok(
        operator.post(
            "/api/v1/scenarios/order-flow/migration-plan",
            operator.signed("created_by", {"new_scenario": V2_FORK_PAYMENT}),
        ),
        201,
    )
    other = ok(
        operator.post(
            "/api/v1/scenarios/order-flow/migration-plan",
            operator.signed("created_by", {"new_scenario": V2_FORK_PAYMENT}),
        ),
        201,
    )
    anchor = plan["transformation_map"]["anchors"][0]["anchor_content_hash"]
    policies = {"policies": {anchor: {"scope_filter": {"include_channels": ["whatsapp"]}}}}
    ok(operator.put(f"/api/v1/migration-plans/{plan['id']}/policies", policies))
    for path in (
        "/api/v1/scenarios/order-flow",
        "/api/v1/scenarios/order-flow/versions",
        "/api/v1/scenarios/order-flow/versions/1",
        f"/api/v1/migration-plans/{plan['id']}",
        f"/api/v1/migration-plans/{plan['id']}/summary",
        f"/api/v1/migration-plans/{plan['id']}/new-scenario",
        "/api/v1/migration-plans?limit=1",
    ):
        ok(approver.get(path))
    ok(
        approver.post(
            f"/api/v1/migration-plans/{other['id']}/reject", approver.signed("rejected_by", {"reason": "x"})
        )
    )
    canary(operator, approver, plan["id"], lambda: _drained(queue_url, running))
    ok(approver.get(f"/api/v1/migration-plans/{plan['id']}/deployment-status"))
    with running("JitApplyFunction"):
        tenant = runtime.tenant
        assert (
            harness.invoke_jit({"tenant_id": tenant, "session_id": "a", "profile": {"age": 30}})["outcome"]
            == "migrated"
        )
        assert (
            harness.invoke_jit({"tenant_id": tenant, "session_id": "b", "message": "hi"})["outcome"]
            == "needs_input"
        )
        assert (
            harness.invoke_jit({"tenant_id": tenant, "session_id": "b", "message": "17"})["outcome"]
            == "migrated"
        )
        assert (
            harness.invoke_jit({"tenant_id": tenant, "session_id": "d", "profile": {"age": 16}})["outcome"]
            == "blocked"
        )
        asked = harness.invoke_jit({"tenant_id": tenant, "session_id": "e", "message": "hi"})
        assert asked["outcome"] == "needs_input"  # still waiting at the cancel: settled by it
    ok(approver.get("/api/v1/sessions/a"))
    ok(approver.get("/api/v1/sessions/a/migrations"))
    roll_back(operator, approver, runtime, plan["id"], lambda: _drained(queue_url, running))
    with running("RetentionFunction"):
        from scenario_migration.services import retention  # noqa: PLC0415

        retention.run(now=utcnow() + timedelta(days=400), page_items=100_000)


def _drained(queue_url: str, running: Any) -> None:
    with running("DeployWorkerFunction"):
        harness.drain(queue_url)


def roll_back(operator: Caller, approver: Caller, runtime: Caller, plan_id: str, drain: Any) -> None:
    """Roll the deployment back (cancel, unmark, reverse plan), approve and deploy the reverse
    plan, bring a session back, and cancel the reverse plan."""
    rolled = ok(
        operator.post(f"/api/v1/migration-plans/{plan_id}/rollback", operator.signed("created_by", {}))
    )
    reverse = rolled["reverse_plan"]["id"]
    drain()
    ok(approver.get(f"/api/v1/migration-plans/{plan_id}"))
    ok(approver.post(f"/api/v1/migration-plans/{reverse}/approve", approver.signed("approved_by", {})))
    ok(operator.post(f"/api/v1/migration-plans/{reverse}/deploy"), 202)
    drain()
    with runtime.running("JitApplyFunction"):
        harness.invoke_jit({"tenant_id": runtime.tenant, "session_id": "a", "message": "hi"})
    ok(operator.post(f"/api/v1/migration-plans/{reverse}/cancel"))
    drain()


def canary(operator: Caller, approver: Caller, plan_id: str, drain: Any) -> None:
    """Simulate the plan, approve it, deploy it as a canary, simulate again, widen it to 100."""
    ok(approver.post(f"/api/v1/migration-plans/{plan_id}/simulate", {"session_ids": ["a", "d", "x"]}))
    ok(approver.post(f"/api/v1/migration-plans/{plan_id}/approve", approver.signed("approved_by", {})))
    ok(operator.post(f"/api/v1/migration-plans/{plan_id}/deploy", {"canary_percent": 50}), 202)
    drain()
    ok(approver.post(f"/api/v1/migration-plans/{plan_id}/simulate", {"sample": 10, "seed": 1}))
    ok(operator.post(f"/api/v1/migration-plans/{plan_id}/widen", {"canary_percent": 100}))
    drain()
