"""Integration fixtures: the real handlers against a local AWS whose tables and queues are the
ones declared in template.yaml (created by the local run's own code). Tests isolate themselves
by tenant, not by new tables."""

import os
import uuid
from collections.abc import Iterator

import boto3
import pytest

from local_run.aws import start_embedded_aws
from local_run.template import create_resources, function_environment, load_template
from tests.integration import harness


@pytest.fixture(scope="session")
def local_aws() -> Iterator[dict[str, str]]:
    """An embedded moto with the template's tables and queues; the handlers' environment set."""
    saved = dict(os.environ)
    server, _ = start_embedded_aws(0)
    os.environ.update(POWERTOOLS_LOG_LEVEL="WARNING")
    template = load_template()
    names = create_resources(template, visibility_timeout=30)
    os.environ.update(function_environment(template, names))
    harness.load_routes(template)
    yield names
    server.stop()
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def tenant(local_aws: dict[str, str]) -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def api(tenant: str) -> harness.Api:
    return harness.Api(tenant)


@pytest.fixture
def queue_url(local_aws: dict[str, str]) -> Iterator[str]:
    url = local_aws["MarkingQueue"]
    sqs = boto3.client("sqs")  # empty it (PurgeQueue is limited to once a minute)
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    yield url
