"""Fixtures for the tests that need AWS: the template's tables and queues on an embedded moto,
DynamoDB on moto and on AWS's DynamoDB Local in turn (tests/store/backends.py). Every test that
uses `local_aws` runs on both; without Java or DynamoDB Local the second variant is skipped with
the reason (`pytest -ra` shows it). Tests isolate themselves by tenant, not by new tables."""

from collections.abc import Iterator

import pytest

from scenario_migration.services import deployments
from tests.integration import harness
from tests.store import backends
from tests.store.helpers import new_tenant


@pytest.fixture(autouse=True)
def no_settle_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cancel's last pass over waiting sessions comes SETTLE_DELAY seconds later: immediate in
    tests, so that no delayed message of one test lands in another's queue."""
    monkeypatch.setattr(deployments, "SETTLE_DELAY", 0)


@pytest.fixture(scope="session")
def aws() -> Iterator[None]:
    """The embedded AWS for this worker; the handlers' environment and routes set."""
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
    return new_tenant()
