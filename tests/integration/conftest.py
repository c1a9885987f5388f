"""Integration fixtures: the real handlers against a local AWS whose tables and queues are the
ones declared in template.yaml (created by the local run's own code). Tests isolate themselves
by tenant, not by new tables.

Every test that uses `local_aws` runs twice: with DynamoDB on moto and on AWS's DynamoDB Local
(real DynamoDB validation); SQS is moto's in both (see tests/store/backends.py). Without Java or
DynamoDB Local the second variant is skipped with the reason (`pytest -ra` shows it).
"""

import uuid
from collections.abc import Iterator

import boto3
import pytest

from tests.integration import harness
from tests.store import backends


@pytest.fixture(scope="session")
def aws() -> Iterator[None]:
    """The embedded moto with the template's tables and queues; the handlers' environment set."""
    harness.load_routes(backends.start())
    yield
    backends.stop()


@pytest.fixture(scope="session", params=backends.PARAMS)
def dynamodb_backend(request: pytest.FixtureRequest, aws: None) -> str:
    backends.require(request.param)
    return request.param


@pytest.fixture
def local_aws(dynamodb_backend: str) -> Iterator[dict[str, str]]:
    """Logical id -> table name / queue URL, with DynamoDB on this test's backend."""
    with backends.activate(dynamodb_backend) as names:
        yield names


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
