"""Drive the real handlers with real-shaped events against a local AWS (see conftest.py).

`Api` turns calls into API Gateway REST proxy events for the function that owns the route (as
template.yaml declares it); `invoke_jit` calls the JIT handler as Lambda Invoke would; `drain`
feeds the marking worker with real SQS events from the queue, honouring batchItemFailures.
"""

import json
import re
import uuid
from dataclasses import dataclass
from importlib import import_module
from typing import Any

import boto3

from local_run.template import Template

ROUTES: list[tuple[str, str, str]] = []  # (method, path template, handler module), filled by load_routes


@dataclass
class LambdaContext:
    function_name: str = "local"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:local"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


WORKER_BATCH_SIZE = [10]  # the marking worker's SQS BatchSize, read from template.yaml


def load_routes(template: Template) -> None:
    WORKER_BATCH_SIZE[:] = [
        next(s.batch_size for s in template.queue_sources if s.function == "DeployWorkerFunction")
    ]
    ROUTES.clear()
    ROUTES.extend(
        (r.method, r.path, template.functions[r.function].rsplit(".", 1)[0]) for r in template.routes
    )


def _match(method: str, path: str) -> tuple[str, str, dict[str, str]]:
    for route_method, template, module in ROUTES:
        pattern = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$"
        found = re.match(pattern, path)
        if found and route_method == method:
            return template, module, found.groupdict()
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
    ) -> Response:
        resource, module, params = _match(method, path.split("?", maxsplit=1)[0])
        tenant = self.tenant if tenant is ... else tenant
        headers = {
            "Content-Type": "application/json",
            **({"X-Tenant-ID": tenant} if tenant is not None else {}),
        }
        event = {
            "resource": resource,
            "path": path,
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": query,
            "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": resource,
                "httpMethod": method,
                "path": f"/v1{path}",
                "stage": "v1",
                "requestId": str(uuid.uuid4()),
                "identity": {"sourceIp": "127.0.0.1"},
            },
            "body": raw if raw is not None else (json.dumps(body) if body is not None else None),
            "isBase64Encoded": False,
        }
        result = import_module(module).handler(event, LambdaContext())
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

    return handler(json.loads(json.dumps(payload)), LambdaContext())


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {
                    "ApproximateReceiveCount": m.get("Attributes", {}).get("ApproximateReceiveCount", "1"),
                    "SentTimestamp": m.get("Attributes", {}).get("SentTimestamp", "0"),
                    "SenderId": "local",
                    "ApproximateFirstReceiveTimestamp": "0",
                },
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


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
        event = sqs_event(messages, arn)
        handled.append(event)
        if on_event:
            on_event(event)
        try:
            failures = {f["itemIdentifier"] for f in handler(event, LambdaContext())["batchItemFailures"]}
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
