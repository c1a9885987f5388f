"""Who is calling, for the REST handlers: one dependency and one role declaration per route.

Two modes, chosen by the `AUTH_MODE` environment variable:
- `jwt` (the deployed stack, whose API Gateway runs the Lambda authorizer; also the default, so a
  function nobody configured trusts no header): the caller is the authorizer's context
  (`requestContext.authorizer.{tenant, roles, principal}`). `X-Tenant-ID` is optional; one that
  differs from the token's tenant is a 403. The header alone is never trusted.
- `header` (the local run's default, so the quickstart's curls work as written): `X-Tenant-ID` is
  the tenant and the caller holds every role; nothing is authenticated.

A route declares the role it needs once, `@app.get(path, **requires(Role.VIEWER))`: that installs
the check (a route middleware, which also binds the identity for the store and the services while
the route runs) and documents it (OpenAPI `security` and `x-required-role`). A handler takes the
caller as `caller: CurrentCaller`, resolved once per request and shared with the check.
"""

import os
import re
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Depends, Request
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer
from aws_lambda_powertools.event_handler.openapi.params import Header
from pydantic import Field

from scenario_migration import identity
from scenario_migration.errors import Forbidden, InvalidInput, Unauthenticated
from scenario_migration.identity import ALL_ROLES, TENANT_PATTERN, Identity, Role, parse_roles

AUTH_MODE_ENV = "AUTH_MODE"
JWT, HEADER = "jwt", "header"
TENANT_HEADER = "X-Tenant-ID"
BEARER = "bearerAuth"
SECURITY_SCHEMES = {
    BEARER: HTTPBearer(
        bearerFormat="JWT",
        description="A token of the platform's identity provider, verified by the API Gateway authorizer. "
        "Its tenant and roles claims decide what the caller may do.",
    )
}
_TENANT = re.compile(TENANT_PATTERN)
ACTING_PERSON = "x-acting-person"

# Who acts, in a request body (`created_by`, `approved_by`, `rejected_by`): optional with a token
# (the token's principal is recorded; a value must equal it), required without one (see
# `acting_person`). The mark lets the header-mode OpenAPI document say so (api/openapi.py).
ActingPerson = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=256,
        json_schema_extra={ACTING_PERSON: True},
        description="Who acts: with a token, its principal (a value here must equal it); "
        "without one, required.",
    ),
]

TenantHeader = Annotated[
    str | None,
    Header(
        alias=TENANT_HEADER,
        pattern=TENANT_PATTERN,
        description="Tenant that owns the resource: 1-128 letters, digits and ._:-. Required without a "
        "token (the local run); with a token optional, and a 403 when it differs from the token's tenant.",
    ),
]


def auth_mode() -> str:
    mode = os.environ.get(AUTH_MODE_ENV, JWT).strip().lower() or JWT
    if mode not in (JWT, HEADER):
        raise RuntimeError(f"{AUTH_MODE_ENV} must be {JWT!r} or {HEADER!r}, not {mode!r}")
    return mode


def current_caller(request: Request, x_tenant_id: TenantHeader = None) -> Identity:
    """The caller of this request (Powertools resolves it once and shares it with the check).

    `x_tenant_id` is there for the OpenAPI document only: Powertools 3.x documents a dependency's
    header parameter but neither validates nor passes it, so the header is read and checked here.
    """
    header = _tenant_header(request)
    if auth_mode() == HEADER:
        if header is None:
            raise InvalidInput(
                f"the {TENANT_HEADER} header is required",
                [{"location": "header.x-tenant-id", "message": "Field required"}],
            )
        return Identity(tenant=header, roles=ALL_ROLES, principal=None)
    caller = _from_authorizer(request)
    if header is not None and header != caller.tenant:
        raise Forbidden(
            f"the {TENANT_HEADER} header names another tenant than the caller's credentials",
            {"header": TENANT_HEADER},
        )
    return caller


CurrentCaller = Annotated[Identity, Depends(current_caller)]


def _tenant_header(request: Request) -> str | None:
    headers = {key.lower(): value for key, value in (request.headers or {}).items()}
    value = headers.get(TENANT_HEADER.lower())
    if value is None:
        return None
    if not _TENANT.fullmatch(value):
        raise InvalidInput(
            f"the {TENANT_HEADER} header is not a tenant id",
            [
                {
                    "location": "header.x-tenant-id",
                    "message": f"String should match pattern '{TENANT_PATTERN}'",
                }
            ],
        )
    return value


def _from_authorizer(request: Request) -> Identity:
    """The identity the Lambda authorizer put in the request context (strings only, as API
    Gateway passes them): without one, nothing authenticated this request."""
    context = (request.resolved_event.raw_event.get("requestContext") or {}).get("authorizer") or {}
    tenant, principal = context.get("tenant"), context.get("principal")
    if not isinstance(tenant, str) or not _TENANT.fullmatch(tenant) or not principal:
        raise Unauthenticated("this request carries no verified credentials")
    return Identity(tenant=tenant, roles=parse_roles(context.get("roles") or ""), principal=str(principal))


def requires(role: Role) -> dict[str, Any]:
    """Route options for a route that needs `role`: its check and its documentation, declared once."""

    def check(app: Any, next_middleware: NextMiddleware, caller: CurrentCaller) -> Any:
        if role not in caller.roles:
            raise Forbidden(f"this needs the {role.value} role", {"required_role": role.value})
        with identity.acting_as(caller):
            return next_middleware(app)

    check.__name__ = f"requires_{role.value}"
    return {
        "middlewares": [check],
        "security": [{BEARER: []}],
        "openapi_extensions": {"x-required-role": role.value},
    }


def acting_person(caller: Identity, claimed: str | None, field: str) -> str:
    """Who did it, for the record (`created_by`, `approved_by`, `rejected_by`): the token's
    principal, which a body value must equal when given; without authentication, the body's value,
    required then (the quickstart's curls send it)."""
    if caller.principal is None:
        if not claimed:
            raise InvalidInput(f"{field} is required", [{"location": field, "message": "Field required"}])
        return claimed
    if claimed is not None and claimed != caller.principal:
        raise Forbidden(
            f"{field} must be the caller's own identity", {"field": field, "principal": caller.principal}
        )
    return caller.principal
