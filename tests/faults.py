"""Faults injected below botocore's parser, on the clients the code under test really uses: a hook
answers a request with the service's own error shape (so botocore's retry logic runs as it
would against AWS), drops the connection, loses a response after the request was applied, or
crashes the process right after a write.

`Injector` is the generic tool: it hooks the store's DynamoDB client (store/dynamodb.py) and the
work queue's SQS client (store/work_queue.py), names every call by its *call site* (the path
through scenario_migration's code that made it), records the write calls in order, and fires
faults by rule, so a test enumerates call sites and crash points instead of hand-picking them.
"""

import json
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
from botocore.httpsession import URLLib3Session

Answer = Callable[[Any], AWSResponse | None]

WRITES = frozenset(
    {
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "TransactWriteItems",
        "BatchWriteItem",
        "SendMessage",
        "SendMessageBatch",
    }
)
SINGLE_ITEM_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
PACKAGE = "scenario_migration."
NOT_A_SITE = ("scenario_migration.store.dynamodb", "scenario_migration.store.tenant_credentials")


class Crash(RuntimeError):
    """The process died right after a write call returned (the write stands, nothing after it ran)."""


def dynamodb_error(
    request: Any, error_type: str, message: str, status: int = 400, **fields: Any
) -> AWSResponse:
    """An error answer in the JSON protocol DynamoDB and SQS both speak: `error_type` as in
    `ProvisionedThroughputExceededException`."""
    prefix = "com.amazonaws.dynamodb.v20120810" if "DynamoDB" in _target(request) else "com.amazonaws.sqs"
    body = json.dumps({"__type": f"{prefix}#{error_type}", "message": message, **fields}).encode()

    class Raw:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield body

    return AWSResponse(request.url, status, {"Content-Type": "application/x-amz-json-1.0"}, Raw())


def _target(request: Any) -> str:
    target = request.headers.get("X-Amz-Target", b"")
    return target.decode() if isinstance(target, bytes) else target


def operation(request: Any) -> str:
    return _target(request).rsplit(".", 1)[-1]


@contextmanager
def answering(client: Any, answer: Answer) -> Iterator[None]:
    """While inside, `answer(request)` may replace any of the client's requests (None: send it)."""

    def hook(request: Any, **_: Any) -> AWSResponse | None:
        return answer(request)

    client.meta.events.register("before-send.dynamodb", hook)
    try:
        yield
    finally:
        client.meta.events.unregister("before-send.dynamodb", hook)


# -- the faults an Injector fires ------------------------------------------------------------------------


def throttled(request: Any, _: "Call") -> AWSResponse:
    """What DynamoDB (and SQS) answer above the provisioned or account rate: botocore retries it."""
    code = "ProvisionedThroughputExceededException" if "DynamoDB" in _target(request) else "RequestThrottled"
    return dynamodb_error(request, code, "injected: rate exceeded")


def throttling_exception(request: Any, _: "Call") -> AWSResponse:
    return dynamodb_error(request, "ThrottlingException", "injected: throttled")


def server_error(request: Any, _: "Call") -> AWSResponse:
    return dynamodb_error(request, "InternalServerError", "injected: internal error", status=500)


def unavailable(request: Any, _: "Call") -> AWSResponse:
    return dynamodb_error(request, "ServiceUnavailable", "injected: unavailable", status=503)


def connection_refused(request: Any, _: "Call") -> AWSResponse:
    """The request never reached the service."""
    raise EndpointConnectionError(endpoint_url=request.url)


_http = URLLib3Session()


def response_lost(request: Any, _: "Call") -> AWSResponse:
    """The request reached the service and was applied, but its response was lost (a read
    timeout): botocore sends it again, with the same idempotency token if it has one."""
    _http.send(request)
    raise ReadTimeoutError(endpoint_url=request.url)


def transaction_conflict(request: Any, call: "Call") -> AWSResponse:
    """What DynamoDB answers to a single-item write on an item an ongoing transaction holds, or
    to a transaction that meets another one on an item (nothing was written either way)."""
    if call.operation == "TransactWriteItems":
        items = json.loads(request.body or b"{}").get("TransactItems", [])
        reasons = [{"Code": "None"}] * (len(items) - 1) + [{"Code": "TransactionConflict"}]
        return dynamodb_error(
            request, "TransactionCanceledException", "injected: conflict", CancellationReasons=reasons
        )
    return dynamodb_error(request, "TransactionConflictException", "injected: ongoing transaction")


Fault = Callable[[Any, "Call"], AWSResponse | None]


@dataclass(frozen=True)
class Call:
    service: str  # "dynamodb" or "sqs"
    operation: str
    site: str  # the path through scenario_migration's code that made the call

    @property
    def write(self) -> bool:
        return self.operation in WRITES

    def __str__(self) -> str:
        return f"{self.service}.{self.operation} at {self.site}"


def call_site() -> str:
    """The calling code path, outermost first: `services.deployments.handle > ... > store...`."""
    frames, frame = [], sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.startswith(PACKAGE) and not module.startswith(NOT_A_SITE):
            frames.append(f"{module.removeprefix(PACKAGE)}.{frame.f_code.co_qualname}")
        frame = frame.f_back
    return " > ".join(reversed(frames)) or "(outside the package)"


@dataclass
class Rule:
    """Fire `fault` at the first `times` attempts of calls that `applies` to, per call site."""

    fault: Fault
    applies: Callable[[Call], bool] = lambda _call: True
    times: int = 1
    fired: dict[str, int] = field(default_factory=dict)  # site key -> times fired

    def take(self, call: Call) -> bool:
        key = f"{call.operation} {call.site}"
        if not self.applies(call) or self.fired.get(key, 0) >= self.times:
            return False
        self.fired[key] = self.fired.get(key, 0) + 1
        return True


class Injector:
    """Hooks on the store's clients; see the module's docstring. Use as a context manager."""

    def __init__(
        self, clients: list[Any], scope: Callable[[str, dict[str, Any]], bool] | None = None
    ) -> None:
        self.clients = clients
        self.scope = scope  # which calls count, by operation and parameters (by default: all)
        self.local = threading.local()
        self.lock = threading.Lock()
        self.calls: list[Call] = []  # every call (not every attempt), in order
        self.writes: list[Call] = []
        self.rules: list[Rule] = []
        self.crash_after: int | None = None  # crash right after this write (1-based), once
        self.crash_when: Callable[[Call], bool] | None = None  # or after the first write it accepts
        self.crashed: Call | None = None
        self.fired: list[tuple[str, Call]] = []  # (fault name, call)

    def __enter__(self) -> "Injector":
        for client in self.clients:
            client.meta.events.register("before-call", self._before_call)
            client.meta.events.register_first("before-send", self._before_send)
            client.meta.events.register("after-call", self._after_call)
        return self

    def __exit__(self, *_: Any) -> None:
        for client in self.clients:
            client.meta.events.unregister("before-call", self._before_call)
            client.meta.events.unregister("before-send", self._before_send)
            client.meta.events.unregister("after-call", self._after_call)

    def sites(self, *, writes_only: bool = False) -> list[str]:
        """The distinct call sites seen, in order of first call."""
        seen = self.writes if writes_only else self.calls
        return list(dict.fromkeys(f"{c.operation} {c.site}" for c in seen))

    def _call(self, event_name: str) -> Call:
        _, service, op = event_name.split(".", 2)
        return Call(service, op, call_site())

    def _before_call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.local.in_scope = self.scope is None or self.scope(model.name, params)

    def _before_send(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        if not self.local.in_scope:
            return None
        call = self._call(event_name)
        with self.lock:
            rule = next((rule for rule in self.rules if rule.take(call)), None)
            if rule is not None:
                self.fired.append((rule.fault.__name__, call))
        return rule.fault(request, call) if rule is not None else None

    def _after_call(self, event_name: str, **_: Any) -> None:
        if not self.local.in_scope:
            return
        call = self._call(event_name)
        with self.lock:
            self.calls.append(call)
            if not call.write:
                return
            self.writes.append(call)
            chosen = len(self.writes) == self.crash_after or (self.crash_when and self.crash_when(call))
            crash = bool(chosen) and self.crashed is None
            if crash:
                self.crashed = call
        if crash:
            raise Crash(f"injected crash after write {self.crash_after}: {call}")


class Pause:
    """Hold the thread that makes the `number`-th call matching `when` right after that call
    returns, until `release()`: a test forces an interleaving at a chosen point (the call stands,
    nothing after it has run) instead of hoping a sleep produces it. The waits are bounded only
    so that a broken test fails instead of hanging."""

    WAIT = 120.0  # seconds: a safety net, never a timing assumption (the events decide)

    def __init__(self, clients: list[Any], when: Callable[[Call], bool], number: int = 1) -> None:
        self.clients, self.when, self.number = clients, when, number
        self.seen = 0
        self.lock = threading.Lock()
        self.reached = threading.Event()
        self.released = threading.Event()
        self.call: Call | None = None

    def __enter__(self) -> "Pause":
        for client in self.clients:
            client.meta.events.register("after-call", self._after_call)
        return self

    def __exit__(self, *_: Any) -> None:
        self.release()
        for client in self.clients:
            client.meta.events.unregister("after-call", self._after_call)

    def wait(self) -> bool:
        """Wait until the paused call was made; False if the code never made it."""
        return self.reached.wait(self.WAIT)

    def release(self) -> None:
        self.released.set()

    def _after_call(self, event_name: str, **_: Any) -> None:
        _, service, op = event_name.split(".", 2)
        call = Call(service, op, call_site())
        with self.lock:
            if self.reached.is_set() or not self.when(call):
                return
            self.seen += 1
            if self.seen < self.number:
                return
            self.call = call
            self.reached.set()
        if not self.released.wait(self.WAIT):
            raise AssertionError(f"the paused call was never released: {call}")
