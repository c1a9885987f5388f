"""Store tests: the store's functions straight against DynamoDB, on moto and on DynamoDB Local
(skipped with the reason where it cannot run). Tests isolate themselves by tenant."""

import uuid
from collections.abc import Iterator

import pytest

from tests.store import backends


@pytest.fixture(scope="session")
def aws() -> Iterator[None]:
    backends.start()
    yield
    backends.stop()


@pytest.fixture(scope="session", params=backends.PARAMS)
def dynamodb_backend(request: pytest.FixtureRequest, aws: None) -> str:
    backends.require(request.param)
    return request.param


@pytest.fixture
def local_aws(dynamodb_backend: str) -> Iterator[dict[str, str]]:
    with backends.activate(dynamodb_backend) as names:
        yield names


@pytest.fixture
def tenant(local_aws: dict[str, str]) -> str:
    return f"t-{uuid.uuid4().hex[:12]}"
