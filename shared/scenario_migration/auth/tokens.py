"""Bearer tokens (JWT) from the platform's identity provider, verified into an Identity.

PyJWT does every cryptographic step; this module only pins what is accepted:
- the signing key comes from the issuer's JWKS (fetched over HTTPS, cached per container by
  PyJWKClient, refetched when an unknown `kid` appears, at most once per cooldown);
- the algorithm is the key's own and one of RS256/ES256: `none`, HS256 (a public key used as an
  HMAC secret) and any algorithm other than the key's are refused;
- `exp`, `iss`, `aud` and `sub` must be present; `exp`, `nbf` and `iat` are checked with a small
  leeway for clock skew; `iss` and `aud` must equal the stack's parameters;
- the tenant claim must be one identifier (the same pattern as every tenant id in the service).
A token that fails any of these is `InvalidToken` (401); a valid token that carries no usable
tenant is `NotAllowed` (403).
"""

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import jwt

from scenario_migration.identity import TENANT_PATTERN, Identity, parse_roles

ALGORITHMS = ("RS256", "ES256")
LEEWAY_SECONDS = 30  # clock skew between the identity provider and Lambda
JWKS_CACHE_SECONDS = 600  # how long a fetched key set is trusted before it is fetched again
JWKS_TIMEOUT_SECONDS = 3  # the authorizer has API Gateway's 29 s; a hung IdP must not eat them
REQUIRED_CLAIMS = ("exp", "iss", "aud", "sub")
PRINCIPAL_CLAIMS = ("email", "sub")  # who a person is, readably; machine tokens have only `sub`
_TENANT = re.compile(TENANT_PATTERN)


class InvalidToken(Exception):
    """No, malformed, forged, expired or foreign credentials: API Gateway answers 401."""


class NotAllowed(Exception):
    """A genuine token that cannot act here (no usable tenant): API Gateway answers 403."""


class KeysUnavailable(Exception):
    """The issuer's JWKS could not be fetched: our side's failure, never the caller's."""


@dataclass(frozen=True)
class TokenSettings:
    issuer: str
    audience: str
    jwks_url: str
    tenant_claim: str = "custom:tenant"  # a Cognito custom attribute; `tenant` or similar elsewhere
    roles_claim: str = "cognito:groups"  # Cognito groups; `roles`, `groups` or `scope` elsewhere

    @classmethod
    def from_environment(cls, env: Mapping[str, str] = os.environ) -> "TokenSettings":
        """The stack's parameters, as template.yaml passes them to the authorizer function."""
        missing = [name for name in ("AUTH_ISSUER", "AUTH_AUDIENCE") if not env.get(name)]
        if missing:
            raise RuntimeError(f"the authorizer needs {', '.join(missing)} (stack parameters)")
        issuer = env["AUTH_ISSUER"]
        return cls(
            issuer=issuer,
            audience=env["AUTH_AUDIENCE"],
            # Cognito's (and many OIDC issuers') key set lives here; others name it in their
            # discovery document's `jwks_uri`: set the parameter then.
            jwks_url=env.get("AUTH_JWKS_URL") or f"{issuer.rstrip('/')}/.well-known/jwks.json",
            tenant_claim=env.get("AUTH_TENANT_CLAIM") or cls.tenant_claim,
            roles_claim=env.get("AUTH_ROLES_CLAIM") or cls.roles_claim,
        )


class TokenVerifier:
    """Verifies tokens against one issuer; holds that issuer's cached key set."""

    def __init__(self, settings: TokenSettings) -> None:
        self.settings = settings
        self._keys = jwt.PyJWKClient(
            settings.jwks_url,
            cache_keys=True,
            lifespan=JWKS_CACHE_SECONDS,
            timeout=JWKS_TIMEOUT_SECONDS,
        )

    def verify(self, token: str) -> Identity:
        claims = self.claims(token)
        return identity_of(claims, self.settings)

    def claims(self, token: str) -> dict[str, Any]:
        """The token's claims once its signature and registered claims are verified."""
        try:
            key = self._keys.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as exc:
            raise KeysUnavailable(str(exc)) from exc
        except jwt.PyJWTError as exc:  # malformed, no `kid`, a `kid` the issuer never published
            raise InvalidToken(f"no signing key: {exc}") from exc
        if key.algorithm_name not in ALGORITHMS:
            raise InvalidToken(f"the issuer's key is for {key.algorithm_name}, not one of {ALGORITHMS}")
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[key.algorithm_name],  # the key's own algorithm, nothing else
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc


def identity_of(claims: Mapping[str, Any], settings: TokenSettings) -> Identity:
    """Tenant, roles and principal from verified claims."""
    tenant = claim(claims, settings.tenant_claim)
    if not isinstance(tenant, str) or not _TENANT.fullmatch(tenant):
        raise NotAllowed(f"the token's {settings.tenant_claim!r} claim is not a tenant id")
    principal = next(
        (value for name in PRINCIPAL_CLAIMS if isinstance(value := claims.get(name), str) and value), None
    )
    if principal is None:
        raise NotAllowed("the token names no principal (email or sub)")
    return Identity(
        tenant=tenant, roles=parse_roles(claim(claims, settings.roles_claim)), principal=principal
    )


def claim(claims: Mapping[str, Any], name: str) -> Any:
    """A claim by name; a dotted name reaches into nested objects (Keycloak's `realm_access.roles`)
    when no claim has that exact name (Cognito's names hold colons, never dots)."""
    if name in claims:
        return claims[name]
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


@cache
def verifier() -> TokenVerifier:
    """One verifier per container: its key set is fetched once and reused by every invocation."""
    return TokenVerifier(TokenSettings.from_environment())
