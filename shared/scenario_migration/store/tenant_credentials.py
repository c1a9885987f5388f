"""Tenant-scoped DynamoDB credentials for the API functions (ABAC, defence in depth).

Deployed, the API functions' own roles hold no DynamoDB permission at all. While a route acts for
a tenant (api/auth.py binds the caller's identity), the store's client is one signed with
credentials of `TENANT_ROLE_ARN`, assumed with the session tag `tenant=<tenant id>`; that role's
policy allows its actions only on items whose partition key (of the table or of the index queried)
matches `T#${aws:PrincipalTag/tenant}#*` (`dynamodb:LeadingKeys`). A handler bug that computed
another tenant's key would be refused by IAM, not served.

Credentials are cached per tenant per container (an AssumeRole is ~10-50 ms; a cached client is a
dictionary lookup) and renewed a margin before they expire; the cache is bounded, least recently
used first out. Without `TENANT_ROLE_ARN` (the local run, tests, the worker, JIT and retention,
which act for no single tenant) the function's own client is used.
"""

import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3

ROLE_ENV = "TENANT_ROLE_ARN"
TAG = "tenant"  # the session tag the role's policy reads as ${aws:PrincipalTag/tenant}
SESSION_SECONDS = 900  # STS's minimum: a leaked set of credentials is short-lived
RENEW_BEFORE_SECONDS = 120  # a request never starts on credentials about to lapse
MAX_TENANTS = 256  # per container; beyond, the least recently used tenant's client is dropped

ClientFactory = Callable[[dict[str, Any]], Any]  # STS credentials -> DynamoDB client


@dataclass
class _Entry:
    client: Any
    renew_at: float


class TenantClients:
    def __init__(
        self,
        role_arn: str,
        make_client: ClientFactory,
        sts: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.role_arn = role_arn
        self._make_client = make_client
        self._sts = sts
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def client_for(self, tenant: str) -> Any:
        """A DynamoDB client that can reach only `tenant`'s items."""
        with self._lock:
            entry = self._entries.get(tenant)
            if entry is None or self._clock() >= entry.renew_at:
                entry = self._entries[tenant] = self._assume(tenant)
            self._entries.move_to_end(tenant)
            while len(self._entries) > MAX_TENANTS:
                self._entries.popitem(last=False)
            return entry.client

    def _assume(self, tenant: str) -> _Entry:
        sts = self._sts or boto3.client("sts")
        self._sts = sts
        credentials = sts.assume_role(
            RoleArn=self.role_arn,
            RoleSessionName=session_name(tenant),
            DurationSeconds=SESSION_SECONDS,
            Tags=[{"Key": TAG, "Value": tenant}],
        )["Credentials"]
        expires = credentials["Expiration"].timestamp()
        return _Entry(self._make_client(credentials), renew_at=expires - RENEW_BEFORE_SECONDS)


def session_name(tenant: str) -> str:
    """CloudTrail shows it: readable, within STS's alphabet ([\\w+=,.@-], 2-64 characters)."""
    return ("tenant-" + re.sub(r"[^\w+=,.@-]", "_", tenant))[:64]


def client_with(credentials: dict[str, Any], **options: Any) -> Any:
    """A DynamoDB client signed with `credentials` (from the default session: models are shared)."""
    return boto3.client(
        "dynamodb",
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        **options,
    )


@cache
def tenant_clients(make_client: ClientFactory) -> TenantClients | None:
    """This container's cache, when the stack gave the API functions a tenant role."""
    role_arn = os.environ.get(ROLE_ENV)
    return TenantClients(role_arn, make_client) if role_arn else None
