"""Who the current request acts for: its tenant, roles and principal, as authentication found them.

One context variable, bound by the API's access check for the duration of a route and read where
an identity changes what the service may do: the store (tenant-scoped DynamoDB credentials) and
the approval rule (four eyes). Code that runs outside an API request (the marking worker, JIT,
retention) sees no identity and is unaffected. Pure: no I/O, no HTTP, no AWS.
"""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum

# Tenant ids: what domain.scenario.ID_PATTERN allows (a test keeps the two equal). Repeated here so
# that the authorizer does not import the domain (pydantic models, CEL: 140 ms of cold start). No
# `#`, `*` or `?`: a tenant id can neither reach into another tenant's key prefix (`T#<tenant>#`)
# nor act as a wildcard in an IAM policy variable.
TENANT_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"


class Role(StrEnum):
    VIEWER = "viewer"  # every GET
    OPERATOR = "operator"  # scenarios, plans, policies, deploy, cancel
    APPROVER = "approver"  # approve, reject
    RUNTIME = "runtime"  # the conversation runtime's session reports (a machine credential)


ALL_ROLES = frozenset(Role)


@dataclass(frozen=True)
class Identity:
    tenant: str
    roles: frozenset[Role]
    # Who, as the token says (email, else sub). None when nothing authenticated the caller (the
    # local run's header mode): names in request bodies are then taken as given.
    principal: str | None

    @property
    def authenticated(self) -> bool:
        return self.principal is not None


# Threads a request starts run in a copy of its context (store/sessions.py: census), so they see it.
_current: ContextVar[Identity | None] = ContextVar("scenario_migration_identity", default=None)


def current() -> Identity | None:
    """The identity of the request being served by this thread, or None outside one."""
    return _current.get()


def current_tenant() -> str | None:
    """The tenant of the request being served (also from a thread that request started)."""
    identity = _current.get()
    return identity.tenant if identity else None


@contextmanager
def acting_as(identity: Identity) -> Iterator[Identity]:
    """Bind `identity` for the duration of the block; the previous binding comes back after."""
    token = _current.set(identity)
    try:
        yield identity
    finally:
        _current.reset(token)


def parse_roles(value: object) -> frozenset[Role]:
    """Known roles in a claim or context value: a list, or one string of names separated by commas
    or spaces (scope style). Unknown names are ignored: an identity provider's other groups are
    not ours to interpret."""
    if isinstance(value, str):
        names: Iterable[object] = value.replace(",", " ").split()
    elif isinstance(value, list | tuple | set | frozenset):
        names = value
    else:
        return frozenset()
    known = {role.value: role for role in Role}
    return frozenset(known[name] for name in names if isinstance(name, str) and name in known)
