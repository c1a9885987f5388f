"""Tenant-scoped DynamoDB credentials: one AssumeRole per tenant per container, tagged with the
tenant, renewed before expiry, bounded; used only while a route acts for a tenant. STS is
botocore's Stubber: the requests are checked against STS's own model."""

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from scenario_migration import identity
from scenario_migration.identity import ALL_ROLES, Identity
from scenario_migration.store import dynamodb, tenant_credentials
from scenario_migration.store.tenant_credentials import (
    MAX_TENANTS,
    RENEW_BEFORE_SECONDS,
    SESSION_SECONDS,
    TenantClients,
    session_name,
)

ROLE = "arn:aws:iam::123456789012:role/tenant-items"
NOW = 1_900_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def sts_answer(access_key: str, expires_at: float) -> dict[str, Any]:
    return {
        "Credentials": {
            "AccessKeyId": access_key.ljust(16, "_"),  # STS's model: at least 16 characters
            "SecretAccessKey": "secret",
            "SessionToken": "token",
            "Expiration": datetime.fromtimestamp(expires_at, UTC),
        }
    }


def expect(stub: Stubber, tenant: str, access_key: str, expires_at: float) -> None:
    stub.add_response(
        "assume_role",
        sts_answer(access_key, expires_at),
        {
            "RoleArn": ROLE,
            "RoleSessionName": session_name(tenant),
            "DurationSeconds": SESSION_SECONDS,
            "Tags": [{"Key": "tenant", "Value": tenant}],
        },
    )


@pytest.fixture
def sts() -> Any:
    return boto3.client("sts", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def clients(sts: Any, clock: Clock) -> TenantClients:
    return TenantClients(
        ROLE, make_client=lambda creds: ("client", creds["AccessKeyId"].rstrip("_")), sts=sts, clock=clock
    )


def test_one_assume_role_per_tenant_then_the_cached_client(sts: Any) -> None:
    clock = Clock()
    cache = clients(sts, clock)
    with Stubber(sts) as stub:
        expect(stub, "acme", "AK-ACME", NOW + 900)
        expect(stub, "globex", "AK-GLOBEX", NOW + 900)
        assert cache.client_for("acme") == ("client", "AK-ACME")
        assert cache.client_for("globex") == ("client", "AK-GLOBEX")
        for _ in range(100):
            assert cache.client_for("acme") == ("client", "AK-ACME")
        stub.assert_no_pending_responses()


def test_renewed_a_margin_before_expiry(sts: Any) -> None:
    clock = Clock()
    cache = clients(sts, clock)
    with Stubber(sts) as stub:
        expect(stub, "acme", "AK-1", NOW + 900)
        expect(stub, "acme", "AK-2", NOW + 1800)
        assert cache.client_for("acme")[1] == "AK-1"
        clock.now = NOW + 900 - RENEW_BEFORE_SECONDS - 1
        assert cache.client_for("acme")[1] == "AK-1"
        clock.now = NOW + 900 - RENEW_BEFORE_SECONDS
        assert cache.client_for("acme")[1] == "AK-2"
        stub.assert_no_pending_responses()


def test_the_cache_is_bounded_least_recently_used_out(sts: Any) -> None:
    clock = Clock()
    cache = clients(sts, clock)
    with Stubber(sts) as stub:
        for i in range(MAX_TENANTS + 1):
            expect(stub, f"t{i}", f"AK{i}", NOW + 900)
        expect(stub, "t0", "AK0-again", NOW + 900)
        for i in range(MAX_TENANTS + 1):
            cache.client_for(f"t{i}")
        assert cache.client_for("t0")[1] == "AK0-again"  # t0 was the least recently used: dropped
        stub.assert_no_pending_responses()


def test_a_refused_assume_role_serves_nothing(sts: Any) -> None:
    cache = clients(sts, Clock())
    with Stubber(sts) as stub:
        stub.add_client_error("assume_role", "AccessDenied", http_status_code=403)
        with pytest.raises(Exception, match="AccessDenied"):
            cache.client_for("acme")


def test_session_names_stay_in_stss_alphabet() -> None:
    assert session_name("acme.eu:1") == "tenant-acme.eu_1"
    assert len(session_name("x" * 128)) == 64


def test_the_store_uses_a_tenants_client_only_while_a_route_acts_for_it(
    monkeypatch: pytest.MonkeyPatch, sts: Any
) -> None:
    monkeypatch.setenv("TENANT_ROLE_ARN", ROLE)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    dynamodb.client.cache_clear()
    try:
        own = dynamodb.client()
        cache = tenant_credentials.tenant_clients(dynamodb._client_with)
        assert cache is not None
        cache._sts = sts
        with Stubber(sts) as stub:
            expect(stub, "acme", "AKIAACME", datetime.now(UTC).timestamp() + 900)
            with identity.acting_as(Identity("acme", ALL_ROLES, "ana")):
                scoped = dynamodb.client()
                assert scoped is not own and dynamodb.client() is scoped
                credentials = scoped._request_signer._credentials
                assert (credentials.access_key, credentials.token) == ("AKIAACME________", "token")
            assert dynamodb.client() is own  # after the route: the function's own client
    finally:
        dynamodb.client.cache_clear()


def test_without_a_tenant_role_the_store_keeps_its_own_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TENANT_ROLE_ARN", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    dynamodb.client.cache_clear()
    try:
        own = dynamodb.client()
        with identity.acting_as(Identity("acme", ALL_ROLES, None)):
            assert dynamodb.client() is own
    finally:
        dynamodb.client.cache_clear()


def test_the_renewal_margin_leaves_time_for_a_request() -> None:
    assert timedelta(seconds=RENEW_BEFORE_SECONDS) >= timedelta(seconds=29 * 2)  # two API timeouts
