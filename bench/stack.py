"""The benchmarks' AWS: DynamoDB on AWS's DynamoDB Local (real per-request costs), SQS on the
embedded moto, with template.yaml's tables and queues and the functions' environment set."""

import contextlib
import logging
import os
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

# DynamoDB Local's tables live in its heap and grow through a run: a fixed heap and the throughput
# collector keep heap resizing and G1's concurrent cycles (on 2 cores) out of the figures, for
# the service and the raw baselines alike. With the JVM's defaults, bench/fanout.py's 20,000-session
# runs spread from 0.44 to 0.58 of the baseline; with these, 0.52 to 0.54.
BENCH_JVM = ("-Xms2g", "-Xmx2g", "-XX:+UseParallelGC")


@contextlib.contextmanager
def local_aws(script: str) -> Iterator[str]:
    """Yields DynamoDB Local's endpoint; exits with the reason when it cannot run here."""
    from local_run import dynamodb_local
    from local_run.aws import start_embedded_aws
    from local_run.template import create_resources, function_environment, load_template

    reason = dynamodb_local.unavailable()
    if reason:
        sys.exit(f"{script}: {reason}")
    dynamodb = dynamodb_local.start(jvm_options=BENCH_JVM)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    server, _ = start_embedded_aws(0)  # sets AWS_ENDPOINT_URL (SQS) and placeholder credentials
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = dynamodb.endpoint
    try:
        template = load_template()
        os.environ.update(function_environment(template, create_resources(template)))
        os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"  # the services' INFO lines would bury the figures
        yield dynamodb.endpoint
    finally:
        server.stop()
        dynamodb.stop()


class RequestCounter:
    """DynamoDB HTTP requests by operation, on one client (every attempt is counted)."""

    def __init__(self, client: Any) -> None:
        self.by_operation: Counter[str] = Counter()
        client.meta.events.register("before-send.dynamodb", self._count)

    def _count(self, request: Any, **_: Any) -> None:  # a before-send hook returning None: send it
        self.by_operation[operation(request)] += 1

    def total(self) -> int:
        return sum(self.by_operation.values())

    def reset(self) -> None:
        self.by_operation.clear()


def operation(request: Any) -> str:
    """The DynamoDB operation of a prepared request ("GetItem", ...)."""
    return request.headers.get("X-Amz-Target", b"?").decode().rsplit(".", 1)[-1]
