"""Integration fixtures: the real handlers driven through tests/integration/harness.py (the AWS
fixtures, on both DynamoDB backends, are in tests/conftest.py)."""

from collections.abc import Iterator

import boto3
import pytest

from tests.integration import harness


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
