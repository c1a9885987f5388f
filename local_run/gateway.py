"""The HTTP front on one port: API routes as API Gateway REST proxy events, the Lambda Invoke
API (`POST /2015-03-31/functions/{name}/invocations`), and `POST /local/schedules/{name}`.

With an authorizer (`LOCAL_AUTH=jwt`), each API request first goes to the template's Lambda
authorizer with a TOKEN event, as API Gateway sends it; its policy is honoured (401/403 in the
service's error shape, as template.yaml's gateway responses answer in AWS) and its context
reaches the route's function as `requestContext.authorizer`. Unlike API Gateway, no decision is
cached: every request runs the authorizer, except on the routes the template makes public (the
console's page and assets, `Auth: {Authorizer: NONE}`). The public key set is served at
/local/jwks.json."""

import base64
import json
import logging
import os
import re
import socket
import sys
import threading
import time
import uuid
from fnmatch import fnmatchcase
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from local_run.functions import FunctionError, Functions
from local_run.schedules import scheduled_event
from local_run.template import Authorizer, Route, Template

log = logging.getLogger("local_run")
access = logging.getLogger("access")
INVOKE = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
SCHEDULE = re.compile(r"^/local/schedules/(?P<name>[^/]+)$")
STATS = "/local/stats"
JWKS = "/local/jwks.json"
LOCAL_API_ARN = "arn:aws:execute-api:us-east-1:000000000000:local"


def compile_routes(routes: list[Route]) -> list[tuple[re.Pattern[str], Route]]:
    """Static segments first, so /migration-plans/x/summary never matches a {param} route."""
    ordered = sorted(routes, key=lambda r: (r.path.count("{"), -len(r.path)))
    return [
        (re.compile("^" + re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(r.path)) + "$"), r)
        for r in ordered
    ]


def proxy_event(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    *,
    route: Route,
    params: dict,
    authorizer: dict[str, Any] | None = None,
) -> dict:
    split = urlsplit(url)
    query = parse_qs(split.query, keep_blank_values=True)
    text = body.decode("utf-8", errors="replace") if body else None
    return {
        "resource": route.path,
        "path": split.path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": {k: unquote(v) for k, v in params.items()} or None,  # decoded, as AWS does
        "stageVariables": None,
        "requestContext": {
            "resourcePath": route.path,
            "httpMethod": method,
            "path": f"/v1{split.path}",
            "stage": "v1",
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": "127.0.0.1"},
            **({"authorizer": authorizer} if authorizer is not None else {}),
        },
        "body": text,
        "isBase64Encoded": False,
    }


class Refused(Exception):
    """The gateway answers for the authorizer: status and error code, no function invoked."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def authorize(
    functions: Functions, authorizer: Authorizer, headers: dict[str, str], method: str, path: str
) -> dict:
    """What API Gateway does before a route's function: the TOKEN authorizer's decision for this
    request, as the context the route receives (`requestContext.authorizer`), or Refused."""
    token = next((v for k, v in headers.items() if k.lower() == authorizer.header.lower()), None)
    if not token or (authorizer.validation and not re.fullmatch(authorizer.validation, token)):
        raise Refused(401, "unauthenticated", "missing, invalid or expired credentials")
    method_arn = f"{LOCAL_API_ARN}/v1/{method}{path}"
    event = {"type": "TOKEN", "authorizationToken": token, "methodArn": method_arn}
    try:
        answer = functions.invoke(authorizer.function, event)
    except FunctionError as exc:
        if exc.payload["errorMessage"] == "Unauthorized":
            raise Refused(401, "unauthenticated", "missing, invalid or expired credentials") from None
        log.error("%s failed:\n%s", authorizer.function, "".join(exc.payload["stackTrace"]))
        raise Refused(500, "internal_error", "internal error: the request was not completed") from None
    if not _allows(answer.get("policyDocument") or {}, method_arn):
        raise Refused(403, "forbidden", "these credentials may not use this API")
    return {"principalId": answer.get("principalId"), **(answer.get("context") or {})}


def _allows(policy: dict[str, Any], method_arn: str) -> bool:
    """IAM's verdict on execute-api:Invoke of `method_arn`: an explicit Deny wins, else an Allow."""
    verdicts = [
        statement.get("Effect")
        for statement in policy.get("Statement", [])
        if statement.get("Action") in ("execute-api:Invoke", ["execute-api:Invoke"])
        and any(fnmatchcase(method_arn, r) for r in _as_list(statement.get("Resource")))
    ]
    return "Deny" not in verdicts and "Allow" in verdicts


def _as_list(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value] if isinstance(value, str) else []


class Gateway(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        listener: socket.socket,
        template: Template,
        functions: Functions,
        *,
        authorizer: Authorizer | None = None,
        jwks: dict[str, Any] | None = None,
    ) -> None:
        """`listener` is bound and listening already (ports.listen, before anything started)."""
        super().__init__(listener.getsockname(), _Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = listener
        self.server_address = listener.getsockname()
        self.server_name, self.server_port = self.server_address[0], self.server_address[1]
        self.routes = compile_routes(template.routes)
        self.functions = functions
        self.schedules = set(template.schedules)
        self.authorizer = authorizer  # None: header mode (API Gateway without an authorizer)
        self.jwks = jwks

    def handle_error(self, request: Any, client_address: tuple[str, int]) -> None:
        """A client that went away (curl interrupted, a browser tab closed, a reset) is one line:
        nothing failed on our side. Anything else keeps socketserver's traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            log.info("%s:%d closed the connection (%s)", *client_address[:2], type(error).__name__)
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: Gateway
    protocol_version = "HTTP/1.1"

    def parse_request(self) -> bool:
        self.started = time.monotonic()  # the request line is in: the access log times from here
        return super().parse_request()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """One access line per request: method, path, status, milliseconds to the status line."""
        elapsed = (time.monotonic() - getattr(self, "started", time.monotonic())) * 1000
        access.info("%s %s %s %.0fms", self.command or "-", getattr(self, "path", "-"), code, elapsed)

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)

    def __getattr__(self, name: str) -> Any:
        """`do_<METHOD>` for every method: all reach the router, and one the API does not declare
        is a 405 naming the allowed ones (BaseHTTPRequestHandler answers 501, a server error, for
        any method without a `do_` of its own: TRACE, OPTIONS, QUERY...)."""
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def _dispatch(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = urlsplit(self.path).path
        if self.command == "POST" and (found := INVOKE.match(path)):
            return self._invoke(found["name"], body)
        if self.command == "POST" and (found := SCHEDULE.match(path)):
            return self._schedule(found["name"])
        if self.command == "GET" and path == JWKS and self.server.jwks is not None:
            return self._send(200, json.dumps(self.server.jwks).encode(), {})
        if self.command == "GET" and path == STATS:
            stats = {
                "invocations": self.server.functions.invocations,
                "aws_endpoint": os.environ["AWS_ENDPOINT_URL"],
                "dynamodb_endpoint": os.environ.get(
                    "AWS_ENDPOINT_URL_DYNAMODB", os.environ["AWS_ENDPOINT_URL"]
                ),
                "dynamodb": "dynamodb-local" if os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") else "moto",
            }
            return self._send(200, json.dumps(stats).encode(), {})
        return self._api(body)

    def _api(self, body: bytes) -> None:
        path = urlsplit(self.path).path
        matches = [(route, m) for pattern, route in self.server.routes if (m := pattern.match(path))]
        if not matches:
            return self._error(404, "not_found", f"no route for {path}")
        route_match = next(((r, m) for r, m in matches if r.method == self.command), None)
        if route_match is None:
            allowed = ", ".join(sorted({route.method for route, _ in matches}))
            return self._error(
                405, "method_not_allowed", f"{self.command} is not allowed on {path}", {"Allow": allowed}
            )
        route, match = route_match
        headers = {k: v for k, v in self.headers.items()}
        context = None
        if self.server.authorizer is not None and not route.public:
            try:
                context = authorize(
                    self.server.functions, self.server.authorizer, headers, self.command, path
                )
            except Refused as refused:
                return self._error(refused.status, refused.code, refused.message)
        event = proxy_event(
            self.command, self.path, headers, body, route=route, params=match.groupdict(), authorizer=context
        )
        try:
            result = self.server.functions.invoke(route.function, event)
        except FunctionError as exc:
            log.error("%s failed:\n%s", route.function, "".join(exc.payload["stackTrace"]))
            return self._error(502, "bad_gateway", f"{route.function} failed: {exc.payload['errorMessage']}")
        self._proxy_response(result)

    def _proxy_response(self, result: dict[str, Any]) -> None:
        payload = result.get("body") or ""
        data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
        headers = {k: v[-1] for k, v in (result.get("multiValueHeaders") or {}).items()}
        headers |= result.get("headers") or {}
        self._send(int(result.get("statusCode", 200)), data, headers)

    def _invoke(self, name: str, body: bytes) -> None:
        function = self.server.functions.find(name)
        if function is None:
            error = {"Type": "User", "message": f"Function not found: {name}"}
            return self._send(
                404, json.dumps(error).encode(), {"x-amzn-ErrorType": "ResourceNotFoundException"}
            )
        event = json.loads(body or b"{}")
        if self.headers.get("X-Amz-Invocation-Type") == "Event":
            threading.Thread(target=self._quietly, args=(function, event), daemon=True).start()
            return self._send(202, b"", {})
        try:
            result = self.server.functions.invoke(function, event)
        except FunctionError as exc:
            return self._send(200, json.dumps(exc.payload).encode(), {"X-Amz-Function-Error": "Unhandled"})
        self._send(200, json.dumps(result).encode(), {"X-Amz-Executed-Version": "$LATEST"})

    def _quietly(self, function: str, event: Any) -> None:
        try:
            self.server.functions.invoke(function, event)
        except FunctionError as exc:
            log.error("%s failed (async): %s", function, exc)

    def _schedule(self, name: str) -> None:
        if name not in self.server.schedules:
            return self._error(404, "not_found", f"{name} has no schedule in template.yaml")
        try:
            result = self.server.functions.invoke(name, scheduled_event(name))
        except FunctionError as exc:
            return self._error(502, "bad_gateway", f"{name} failed: {exc.payload['errorMessage']}")
        self._send(200, json.dumps(result, default=str).encode(), {})

    def _error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        body = {"error": {"code": code, "message": message, "details": None}}
        self._send(status, json.dumps(body).encode(), headers or {})

    def _send(self, status: int, data: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        headers = {"Content-Type": "application/json", **headers}
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":  # a HEAD response has the headers of the body, not the body
            self.wfile.write(data)
