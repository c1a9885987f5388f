"""The DynamoDB client and item (de)serialisation: the one place that imports boto3 for DynamoDB.

One client per container, created on first use, with botocore's adaptive retry mode: throttling
(`ProvisionedThroughputExceededException`, `ThrottlingException`) is retried with backoff by
botocore itself, so the stores never hand-roll retries.

A retried write may have been applied once already (its response lost to a timeout). botocore
gives every TransactWriteItems a ClientRequestToken (an idempotency token of the API model) and
resends it on retry, so DynamoDB answers the retry as the first attempt (for 10 minutes) instead
of failing it on its own conditions. moto ignores the token, and emulators (an endpoint set in
the environment: moto, DynamoDB Local) answer slowly on a loaded machine: they get a longer read
timeout, so a retry is rare there, and the JIT recognises its own write when one happens
(services/jit.py). A single conditional UpdateItem has no token: its callers treat a failed
condition by reading what is there (store/sessions.py: `ours`, store/plans.py: `change_status`).

A single-item write on an item that an ongoing transaction holds is refused with
`TransactionConflictException` (nothing written); botocore's retry modes do not retry that code,
so each client retries it like throttling (`_retry_conflicts`): a session report during marking
is not a 500.
"""

import os
import random
from decimal import Decimal
from functools import cache
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config

from scenario_migration import identity
from scenario_migration.store import tenant_credentials

MAX_ATTEMPTS = 8
RETRY_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": MAX_ATTEMPTS},
    connect_timeout=2,
    read_timeout=5,
    tcp_keepalive=True,
)
EMULATOR_READ_TIMEOUT = 120  # seconds; DynamoDB answers in milliseconds, an emulator under load not
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL")
CONFLICT_RETRY_ID = "scenario-migration-transaction-conflict"
CONFLICT_BACKOFF_BASE, CONFLICT_BACKOFF_CAP = 0.025, 1.0  # seconds (a transaction holds items for ms)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def client() -> Any:
    """The container's client; while an API route acts for a tenant in a stack that set
    TENANT_ROLE_ARN, a client whose credentials reach only that tenant's items
    (tenant_credentials.py)."""
    tenant = identity.current_tenant()
    scoped = tenant_credentials.tenant_clients(_client_with) if tenant is not None else None
    return scoped.client_for(tenant) if scoped is not None else _own_client()


@cache
def _own_client() -> Any:
    return _retrying_conflicts(boto3.client("dynamodb", config=_config()))


def _client_with(credentials: dict[str, Any]) -> Any:
    return _retrying_conflicts(tenant_credentials.client_with(credentials, config=_config()))


def _retrying_conflicts(dynamodb: Any) -> Any:
    dynamodb.meta.events.register_first("needs-retry.dynamodb", _retry_conflicts, unique_id=CONFLICT_RETRY_ID)
    return dynamodb


def _retry_conflicts(response: Any, attempts: int, **_: Any) -> float | None:
    """botocore's `needs-retry` hook: the delay before another attempt of a write refused with
    TransactionConflictException (full jitter, as botocore's own backoff), within the attempts
    the configuration allows; None leaves the decision to botocore's retry mode."""
    if response is None or attempts >= MAX_ATTEMPTS:
        return None
    if response[1].get("Error", {}).get("Code") != "TransactionConflictException":
        return None
    return random.uniform(0, min(CONFLICT_BACKOFF_CAP, CONFLICT_BACKOFF_BASE * 2**attempts))


def _config() -> Config:
    emulated = any(os.environ.get(name) for name in ENDPOINT_VARIABLES)
    return RETRY_CONFIG.merge(Config(read_timeout=EMULATOR_READ_TIMEOUT)) if emulated else RETRY_CONFIG


def _clear_clients() -> None:
    _own_client.cache_clear()
    tenant_credentials.tenant_clients.cache_clear()


# Tests drop the cached clients when they point DynamoDB at another endpoint.
client.cache_clear = _clear_clients  # type: ignore[attr-defined]


def table_name(env_var: str) -> str:
    name = os.environ.get(env_var)
    if not name:
        raise RuntimeError(f"environment variable {env_var} (a DynamoDB table name) is not set")
    return name


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    """Plain Python -> DynamoDB attribute values; None values are left out (sparse items).
    Floats become Decimals (DynamoDB numbers), as boto3 requires."""
    return {key: _serializer.serialize(_numbers(value)) for key, value in values.items() if value is not None}


def _numbers(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    return value


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _plain(_deserializer.deserialize(value)) for key, value in item.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return sorted(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if hasattr(value, "value") and type(value).__name__ == "Binary":
        return bytes(value.value)
    return value


def is_condition_failure(error: Exception) -> bool:
    code = getattr(error, "response", {}).get("Error", {}).get("Code")
    return code == "ConditionalCheckFailedException"


def is_item_too_large(error: Exception) -> bool:
    """DynamoDB refused a write because the item would exceed 400 KB (a ValidationException)."""
    details = getattr(error, "response", {}).get("Error", {})
    return details.get("Code") == "ValidationException" and "exceeded the maximum allowed size" in str(
        details.get("Message", "")
    )


def cancellation_reasons(error: Exception) -> list[str]:
    """The per-item codes of a cancelled transaction ("None", "ConditionalCheckFailed", ...)."""
    reasons = getattr(error, "response", {}).get("CancellationReasons", [])
    return [reason.get("Code", "None") for reason in reasons]
