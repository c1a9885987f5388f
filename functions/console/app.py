"""The review console: a static page served by the API itself at /console, and the sign-in
settings the page needs at /console/config.json (issue 13, docs/operations.md).

These are the API's only routes without the authorizer: a browser must load the page before it
can sign in. They hold no data and this function has no AWS permission; the page calls /api/v1
with the operator's own credentials, like any other client. Files are served by name from
static/ (never a path), with their content type and a Content-Security-Policy that lets the page
run only this origin's scripts and styles and talk only to this origin (and, with a configured
identity provider, its token endpoint, for the code exchange).
"""

import json
import os
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

STATIC = Path(__file__).resolve().parent / "static"
PAGE = "index.html"
CONFIG = "config.json"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
# Sign-in modes the page knows: header (the local run's default), token (LOCAL_AUTH=jwt: no local
# identity provider, a pasted `make token`), oauth (authorization code with PKCE), unconfigured.
SIGN_IN_ENV = "CONSOLE_SIGN_IN"
AUTHORIZATION_ENDPOINT_ENV = "CONSOLE_AUTHORIZATION_ENDPOINT"
TOKEN_ENDPOINT_ENV = "CONSOLE_TOKEN_ENDPOINT"
CLIENT_ID_ENV = "CONSOLE_CLIENT_ID"
SCOPES_ENV = "CONSOLE_SCOPES"


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Thin: the page, a file of static/ by name, or the sign-in settings; GET only."""
    if event.get("httpMethod") != "GET":
        return _error(405, "method_not_allowed", "the console is read with GET")
    asset = (event.get("pathParameters") or {}).get("asset")
    settings = sign_in_settings()
    if asset == CONFIG:
        return _response(200, "application/json", json.dumps(settings), settings)
    found = _files().get(asset or PAGE)
    if found is None:
        return _error(404, "not_found", f"the console has no file '{asset}'")
    return _response(200, CONTENT_TYPES[found.suffix], found.read_text(encoding="utf-8"), settings)


@cache
def _files() -> dict[str, Path]:
    """What may be served: the files of static/ with a known type, by name (a request names one
    of these or gets a 404; nothing it sends is ever joined to a path)."""
    return {p.name: p for p in STATIC.iterdir() if p.is_file() and p.suffix in CONTENT_TYPES}


def sign_in_settings() -> dict[str, Any]:
    """How the page signs in, from the function's environment (template.yaml's Console*
    parameters; the local run sets AUTH_MODE and, in jwt mode, CONSOLE_SIGN_IN=token)."""
    if os.environ.get("AUTH_MODE", "jwt").strip().lower() == "header":
        return {"mode": "header"}
    claims = {
        "tenant_claim": os.environ.get("AUTH_TENANT_CLAIM") or "custom:tenant",
        "roles_claim": os.environ.get("AUTH_ROLES_CLAIM") or "cognito:groups",
    }
    if os.environ.get(SIGN_IN_ENV) == "token":
        return {"mode": "token", **claims}
    oauth = {
        "authorization_endpoint": os.environ.get(AUTHORIZATION_ENDPOINT_ENV, ""),
        "token_endpoint": os.environ.get(TOKEN_ENDPOINT_ENV, ""),
        "client_id": os.environ.get(CLIENT_ID_ENV, ""),
        "scope": os.environ.get(SCOPES_ENV) or "openid email",
    }
    endpoints = (oauth["authorization_endpoint"], oauth["token_endpoint"])
    if all(oauth.values()) and all(map(_is_endpoint, endpoints)):
        return {"mode": "oauth", **oauth, **claims}
    return {"mode": "unconfigured", **claims}


def _is_endpoint(url: str) -> bool:
    """HTTPS, or plain HTTP on this machine's loopback (an identity provider a test runs)."""
    parts = urlsplit(url)
    if parts.scheme == "http":
        return parts.hostname in ("127.0.0.1", "localhost", "::1")
    return parts.scheme == "https" and bool(parts.netloc)


def content_security_policy(settings: dict[str, Any]) -> str:
    """Only this origin's scripts, styles and API (no inline code, no eval, no framing, DOM
    sinks closed by Trusted Types: the page builds its DOM node by node); with an identity
    provider, its token endpoint too (the PKCE code exchange is a fetch)."""
    connect = ["'self'"]
    if settings["mode"] == "oauth":
        token = urlsplit(settings["token_endpoint"])
        connect.append(f"{token.scheme}://{token.netloc}")
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src {' '.join(connect)}",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
            "require-trusted-types-for 'script'",
            "trusted-types 'none'",
        ]
    )


def _response(status: int, content_type: str, body: str, settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {
            "Content-Type": content_type,
            "Content-Security-Policy": content_security_policy(settings),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",  # the sign-in callback's code never leaves in a Referer
            "X-Frame-Options": "DENY",
            "Strict-Transport-Security": "max-age=31536000",
            "Cache-Control": "no-cache",  # revalidate: a new deploy's page and scripts go together
        },
        "body": body,
        "isBase64Encoded": False,
    }


def _error(status: int, code: str, message: str) -> dict[str, Any]:
    body = json.dumps({"error": {"code": code, "message": message, "details": None}})
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "X-Content-Type-Options": "nosniff"},
        "body": body,
        "isBase64Encoded": False,
    }
