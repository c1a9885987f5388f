"""Drive the real handlers with real-shaped events against a local AWS (see conftest.py).

`Api` turns calls into API Gateway REST proxy events for the function that owns the route (as
template.yaml declares it); `invoke_jit` calls the JIT handler as Lambda Invoke would; `drain`
feeds the marking worker with real SQS events from the queue, honouring batchItemFailures.
"""

import json
from dataclasses import dataclass
from importlib import import_module
from typing import Any
from urllib.parse import urlencode

import boto3

from local_run.functions import LambdaContext
from local_run.gateway import compile_routes, proxy_event
from local_run.poller import sqs_event
from local_run.template import Route, Template

ROUTES: list[tuple[Any, Route]] = []  # compiled (pattern, route) of template.yaml, filled by load_routes
HANDLERS: dict[str, str] = {}  # function logical id -> handler module
WORKER_BATCH_SIZE = [10]  # the marking worker's SQS BatchSize, read from template.yaml


def load_routes(template: Template) -> None:
    WORKER_BATCH_SIZE[:] = [
        next(s.batch_size for s in template.queue_sources if s.function == "DeployWorkerFunction")
    ]
    ROUTES[:] = compile_routes(template.routes)
    HANDLERS.update({name: handler.rsplit(".", 1)[0] for name, handler in template.functions.items()})


def _match(method: str, path: str) -> tuple[Route, dict[str, str]]:
    for pattern, route in ROUTES:
        found = pattern.match(path)
        if found and route.method == method:
            return route, found.groupdict()
    raise AssertionError(f"no route for {method} {path} in template.yaml")


@dataclass
class Response:
    status: int
    body: Any
    headers: dict[str, Any]


class Api:
    def __init__(self, tenant: str | None) -> None:
        self.tenant = tenant

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        tenant: Any = ...,
        raw: str | None = None,
        query: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Response:
        route, params = _match(method, path.split("?", maxsplit=1)[0])
        tenant = self.tenant if tenant is ... else tenant
        headers = {
            "Content-Type": content_type,
            **({"X-Tenant-ID": tenant} if tenant is not None else {}),
        }
        text = raw if raw is not None else (json.dumps(body) if body is not None else "")
        url = f"{path}?{urlencode(query)}" if query else path
        event = proxy_event(method, url, headers, text.encode(), route=route, params=params)
        module = HANDLERS[route.function]
        result = import_module(module).handler(event, LambdaContext(route.function))
        text = result.get("body") or "null"
        headers = result.get("multiValueHeaders") or result.get("headers") or {}
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text
        return Response(result["statusCode"], parsed, dict(headers))

    def get(self, path: str, **kw: Any) -> Response:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Response:
        return self.call("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Response:
        return self.call("PUT", path, body, **kw)


def invoke_jit(payload: dict[str, Any]) -> dict[str, Any]:
    from jit_apply.app import handler  # noqa: PLC0415

    return handler(json.loads(json.dumps(payload)), LambdaContext("JitApplyFunction"))


def drain(queue_url: str, *, limit: int = 10_000, on_event: Any = None) -> list[dict[str, Any]]:
    """Feed the worker until the queue is empty; returns every event it handled. Messages the
    worker reports as failed are made visible again at once (instead of waiting the timeout)."""
    from deploy_worker.app import handler  # noqa: PLC0415

    sqs = boto3.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    handled = []
    for _ in range(limit):
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=WORKER_BATCH_SIZE[0], AttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return handled
        event = sqs_event(messages, arn, sqs.meta.region_name)
        handled.append(event)
        if on_event:
            on_event(event)
        try:
            result = handler(event, LambdaContext("DeployWorkerFunction"))
            failures = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        except Exception:
            failures = {m["MessageId"] for m in messages}
        for message in messages:
            if message["MessageId"] in failures:
                sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    raise AssertionError("the queue never emptied")


# -- the operator's steps, as the tests take them ------------------------------------------------------


def register(api: Api, v1: dict[str, Any], sessions: dict[str, dict[str, Any]]) -> None:
    """Version 1 of the scenario, and the runtime's reports of sessions on it."""
    assert api.post("/api/v1/scenarios", v1).status == 201
    for session_id, body in sessions.items():
        assert api.put(f"/api/v1/sessions/{session_id}", body).status == 200, session_id


def propose(api: Api, document: dict[str, Any]) -> dict[str, Any]:
    """A migration plan of the order flow to `document` (pending)."""
    response = api.post(
        "/api/v1/scenarios/order-flow/migration-plan", {"new_scenario": document, "created_by": "op"}
    )
    assert response.status == 201, response.body
    return response.body


def approve(api: Api, plan: dict[str, Any], *, acknowledge: bool = False) -> None:
    """Approve a plan; `acknowledge`: listing every critical warning's code (else they block)."""
    codes = (
        [w["code"] for w in plan["summary"]["warnings"] if w["severity"] == "critical"] if acknowledge else []
    )
    body = {"approved_by": "op", "acknowledged_warnings": codes}
    response = api.post(f"/api/v1/migration-plans/{plan['id']}/approve", body)
    assert response.status == 200, response.body


def deploy(api: Api, plan: dict[str, Any]) -> dict[str, Any]:
    """Deploy an approved plan: the 202's body (marking has only started)."""
    response = api.post(f"/api/v1/migration-plans/{plan['id']}/deploy")
    assert response.status == 202, response.body
    return response.body


def deploy_version(
    api: Api, queue_url: str, document: dict[str, Any], *, acknowledge: bool = False
) -> dict[str, Any]:
    """Plan, approve and deploy `document`, then let the worker mark everything."""
    plan = propose(api, document)
    approve(api, plan, acknowledge=acknowledge)
    deploy(api, plan)
    drain(queue_url)
    return plan


def world(
    api: Api,
    queue_url: str,
    v1: dict[str, Any],
    v2: dict[str, Any],
    sessions: dict[str, dict[str, Any]],
    *,
    acknowledge: bool = False,
) -> dict[str, Any]:
    """Sessions on v1, and v2 deployed with every live session marked by the fan-out (checked:
    a JIT test must not pass on JIT's own version check while marking fails)."""
    register(api, v1, sessions)
    plan = deploy_version(api, queue_url, v2, acknowledge=acknowledge)
    assert_marked(api, plan, [sid for sid, body in sessions.items() if body.get("status") != "closed"])
    return plan


def assert_marked(api: Api, plan: dict[str, Any], session_ids: list[str]) -> None:
    status = api.get(f"/api/v1/migration-plans/{plan['id']}/deployment-status").body
    assert (status["status"], status["sessions_marked"]) == ("deployed", len(session_ids)), status
    for session_id in session_ids:
        marker = api.get(f"/api/v1/sessions/{session_id}").body["marker"]
        assert marker and (marker["plan_id"], marker["state"]) == (plan["id"], "pending"), (
            session_id,
            marker,
        )
