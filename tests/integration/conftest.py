"""Integration fixtures: the real handlers driven through tests/integration/harness.py (the AWS
fixtures, on both DynamoDB backends, are in tests/conftest.py)."""

from collections.abc import Callable, Iterator

import boto3
import pytest

from scenario_migration.adapters import bedrock
from scenario_migration.config import get_settings
from scenario_migration.services import deployments
from scenario_migration.store import dynamodb, keys, work_queue
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


@pytest.fixture
def one_work_unit(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A deployment of one work unit (one index shard, one hash range) in pages of two sessions:
    three sessions make two pages, a continuation and a unit's end, in a handful of writes, so a
    test can afford to stop at every one of them."""
    monkeypatch.setattr(keys, "POSITION_SHARDS", 1)
    monkeypatch.setattr(deployments, "PAGE_SIZE", 2)
    monkeypatch.setenv("SCENARIO_MIGRATION__DEPLOYMENT__MARKING_RANGES", "1")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def fresh_clients() -> Iterator[None]:
    """botocore's adaptive mode slows a client down after throttling, and hooks stay on a client:
    the tests after this one get new clients."""
    yield
    dynamodb.client.cache_clear()
    work_queue._sqs.cache_clear()


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """configure(gap_fill__max_reasks=0): set SCENARIO_MIGRATION__GAP_FILL__MAX_REASKS=0, for
    this test only (settings and the extractor built from them are read again, then after it)."""

    def apply(**keys: object) -> None:
        for key, value in keys.items():
            monkeypatch.setenv(f"SCENARIO_MIGRATION__{key.upper()}", str(value))
        get_settings.cache_clear()

    yield apply
    monkeypatch.undo()
    get_settings.cache_clear()
    bedrock.extractor_for.cache_clear()
