"""Faults injected below botocore's parser: a hook answers a request with DynamoDB's own error
shape, so the code under test sees exactly what the service would send (and botocore's retry
logic runs as it would)."""

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from botocore.awsrequest import AWSResponse

Answer = Callable[[Any], AWSResponse | None]


def dynamodb_error(request: Any, error_type: str, message: str, **fields: Any) -> AWSResponse:
    """A 400 from DynamoDB: `error_type` as in `ProvisionedThroughputExceededException`."""
    body = json.dumps(
        {"__type": f"com.amazonaws.dynamodb.v20120810#{error_type}", "message": message, **fields}
    ).encode()

    class Raw:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield body

    return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.0"}, Raw())


def operation(request: Any) -> str:
    target = request.headers.get("X-Amz-Target", b"")
    return (target.decode() if isinstance(target, bytes) else target).rsplit(".", 1)[-1]


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
