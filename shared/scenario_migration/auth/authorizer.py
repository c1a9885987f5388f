"""The API Gateway Lambda authorizer (TOKEN type): a bearer token in, an IAM policy out.

Why TOKEN and not REQUEST: the decision depends on the token alone (who the caller is, which
tenant, which roles), so the token is the whole identity source and API Gateway's result cache is
keyed on exactly it. The per-route decision (which role a route needs, whether `X-Tenant-ID`
agrees) is the handlers' (api/auth.py): a REQUEST authorizer keyed on the route too would cache
one decision per route and token for nothing.

Why the policy allows every method and path of the stage: API Gateway caches the policy per token
and applies it to whatever route the same token calls next. A policy naming only the first
route's ARN would deny the token's next route from the cache.

Answers, as API Gateway expects them: an exception whose message is exactly "Unauthorized" for
a missing, malformed, forged, expired or foreign token (401); a Deny policy for a genuine token
that may not use the API (403); an Allow policy with `context` {tenant, roles, principal}
otherwise, which reaches the handler as `requestContext.authorizer.<key>`.
"""

from typing import Any

from scenario_migration.auth.tokens import InvalidToken, NotAllowed, TokenVerifier, verifier
from scenario_migration.identity import Identity

UNAUTHORIZED = "Unauthorized"  # the exact message API Gateway turns into a 401


class Unauthorized(Exception):
    def __init__(self) -> None:
        super().__init__(UNAUTHORIZED)


def authorize(event: dict[str, Any], tokens: TokenVerifier | None = None) -> dict[str, Any]:
    """The authorizer's answer to one TOKEN event (`authorizationToken`, `methodArn`)."""
    method_arn = event.get("methodArn") or ""
    token = bearer_token(event.get("authorizationToken"))
    if token is None:
        raise Unauthorized
    try:
        identity = (tokens or verifier()).verify(token)
    except InvalidToken as exc:
        raise Unauthorized from exc  # the reason stays in the log, never in the answer
    except NotAllowed:
        return policy("unknown", "Deny", method_arn)
    return {**policy(identity.principal or "unknown", "Allow", method_arn), "context": context_of(identity)}


def bearer_token(header: Any) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (the scheme is case-insensitive)."""
    if not isinstance(header, str):
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token and " " not in token else None


def context_of(identity: Identity) -> dict[str, str]:
    """What the handlers read: API Gateway passes only strings, numbers and booleans through."""
    return {
        "tenant": identity.tenant,
        "roles": ",".join(sorted(identity.roles)),
        "principal": identity.principal or "",
    }


def policy(principal_id: str, effect: str, method_arn: str) -> dict[str, Any]:
    return {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": stage_arn(method_arn)}
            ],
        },
    }


def stage_arn(method_arn: str) -> str:
    """Every method and path of the stage a method ARN belongs to:
    `arn:aws:execute-api:<region>:<account>:<api>/<stage>/GET/api/v1/x` -> `.../<api>/<stage>/*/*`."""
    api_and_stage = method_arn.split("/", 2)[:2]
    if len(api_and_stage) != 2 or not method_arn.startswith("arn:"):
        return method_arn  # not an execute-api ARN: name it alone rather than widen anything
    return "/".join(api_and_stage) + "/*/*"
