"""The two DynamoDB backends the store and integration tests run on: moto and DynamoDB Local.

SQS (and anything else) is always the embedded moto server. DynamoDB is either that same moto or
AWS's own DynamoDB Local (Java), which validates requests as the real service does. The choice is
made per test through `AWS_ENDPOINT_URL_DYNAMODB`, which boto3 reads when it creates a client
(per service, over `AWS_ENDPOINT_URL`), so the store's cached client is dropped whenever the
endpoint changes, and the variable is restored after the test (a subprocess started later, e.g.
the e2e local run, must not inherit it).

Each process (each pytest-xdist worker) starts moto once and DynamoDB Local at most once, on first
use; both hold the tables of template.yaml. Tests isolate themselves by tenant, not by new tables.
Where DynamoDB Local cannot run (no Java, not installed), its variants are skipped with the reason.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from local_run import dynamodb_local
from local_run.aws import AtomicMotoServer, start_embedded_aws
from local_run.template import Template, create_resources, function_environment, load_template
from scenario_migration.store import dynamodb

MOTO = "moto"
DYNAMODB_LOCAL = "dynamodb_local"
PARAMS = [
    pytest.param(MOTO, id=MOTO),
    pytest.param(DYNAMODB_LOCAL, id=DYNAMODB_LOCAL, marks=pytest.mark.dynamodb_local),
]
ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_DYNAMODB"


@dataclass
class _Aws:
    saved_environment: dict[str, str]
    moto: AtomicMotoServer
    template: Template
    names: dict[str, str]  # logical id -> table name or queue URL (the same on both backends)
    ddb_local: dynamodb_local.DynamoDBLocal | None = None
    failures: dict[str, str] = field(default_factory=dict)


_aws: _Aws | None = None


def start() -> Template:
    """Start the embedded moto (once per process) with the template's tables and queues."""
    global _aws  # noqa: PLW0603 - one AWS per process, shared by every conftest that needs it
    if _aws is None:
        saved = dict(os.environ)
        os.environ.pop(ENDPOINT_VARIABLE, None)
        server, _ = start_embedded_aws(0)
        os.environ.update(POWERTOOLS_LOG_LEVEL="WARNING")
        template = load_template()
        names = create_resources(template, visibility_timeout=30)
        os.environ.update(function_environment(template, names))
        os.environ["AUTH_MODE"] = "header"  # the seed's calls, as the local run takes them by default
        _aws = _Aws(saved, server, template, names)
    return _aws.template


def require(backend: str) -> None:
    """Make the backend ready, or skip (DynamoDB Local where it cannot run here)."""
    assert _aws is not None, "start() first"
    if backend == MOTO:
        return
    reason = dynamodb_local.unavailable()
    if reason:
        pytest.skip(f"DynamoDB Local: {reason}")
    if backend in _aws.failures:  # it failed to start once: do not pay the timeout again
        raise RuntimeError(_aws.failures[backend])
    if _aws.ddb_local is None:
        try:
            local = dynamodb_local.start(jvm_options=dynamodb_local.QUICK_START)
        except RuntimeError as exc:
            _aws.failures[backend] = str(exc)
            raise
        _aws.ddb_local = local
        tables = _aws.template.resources_of("AWS::DynamoDB::Table")
        with _endpoint(local.endpoint):
            create_resources(Template({"Resources": tables}))


@contextmanager
def activate(backend: str) -> Iterator[dict[str, str]]:
    """DynamoDB on `backend` for the duration (SQS stays on moto); yields the resource names."""
    assert _aws is not None, "start() first"
    endpoint = _aws.ddb_local.endpoint if backend == DYNAMODB_LOCAL and _aws.ddb_local else None
    if backend == DYNAMODB_LOCAL and endpoint is None:
        raise RuntimeError("require(DYNAMODB_LOCAL) first")
    with _endpoint(endpoint):
        yield _aws.names


@contextmanager
def _endpoint(endpoint: str | None) -> Iterator[None]:
    before = os.environ.get(ENDPOINT_VARIABLE)
    _set_endpoint(endpoint)
    try:
        yield
    finally:
        _set_endpoint(before)


def _set_endpoint(endpoint: str | None) -> None:
    if os.environ.get(ENDPOINT_VARIABLE) == endpoint:
        return
    if endpoint is None:
        del os.environ[ENDPOINT_VARIABLE]
    else:
        os.environ[ENDPOINT_VARIABLE] = endpoint
    clear_caches()


def clear_caches() -> None:
    """Drop the store's cached DynamoDB client: the next call creates one for the endpoint now in
    the environment. (The SQS client stays: SQS is moto's on both backends. The services' caches of
    what they read, parsed versions and transformation maps, are keyed by tenant and plan id, and
    every test has a tenant of its own, so they cannot serve one backend's data on the other;
    they are left alone, which also spares the resources some of them hold, e.g. thread pools.)"""
    dynamodb.client.cache_clear()


def stop() -> None:
    """Stop what start() and require() started and restore the environment (idempotent)."""
    global _aws
    if _aws is None:
        return
    aws, _aws = _aws, None
    if aws.ddb_local is not None:
        aws.ddb_local.stop()
    aws.moto.stop()
    os.environ.clear()
    os.environ.update(aws.saved_environment)
    clear_caches()
