"""Test identity providers: generated key pairs whose JWKS is served over real HTTP on loopback,
and tokens signed with them (or forged, for the refusals). Nothing mocks the JWT library."""

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from local_run.auth import SigningKey, generate
from scenario_migration.auth.tokens import TokenSettings

AUDIENCE = "scenario-migration"


@dataclass
class Issuer:
    """One identity provider: its signing key, its settings, how often its JWKS was fetched."""

    key: SigningKey
    settings: TokenSettings
    published: list[dict[str, Any]] = field(default_factory=list)
    fetches: int = 0

    def token(self, tenant: str = "acme", roles: tuple[str, ...] = ("viewer",), **claims: Any) -> str:
        options = {"sub": "user-1", "email": "ana@example.com", **claims}
        return self.key.token(self.settings, tenant=tenant, roles=list(roles), **options)


@contextmanager
def issuer(algorithm: str = "RS256") -> Iterator[Issuer]:
    """An identity provider on 127.0.0.1 whose JWKS is served at /jwks.json."""
    key = generate(algorithm)
    state: dict[str, Issuer] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            provider = state["issuer"]
            provider.fetches += 1
            body = json.dumps({"keys": provider.published}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    settings = TokenSettings(issuer=f"{base}/issuer", audience=AUDIENCE, jwks_url=f"{base}/jwks.json")
    state["issuer"] = Issuer(key, settings, [key.jwk()])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["issuer"]
    finally:
        server.shutdown()
        server.server_close()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """`alg: none`: a header and claims with an empty signature."""
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."


def hmac_with_public_key(key: SigningKey, claims: dict[str, Any]) -> str:
    """The classic key-confusion forgery: HS256 keyed with the issuer's *public* key (PEM), which
    anyone can fetch. Built by hand because PyJWT refuses to sign it."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    public = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": key.kid}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def tampered(token: str, **changes: Any) -> str:
    """The same signature over a payload with `changes`: what an attacker editing a token sends."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return f"{header}.{_b64(json.dumps({**claims, **changes}).encode())}.{signature}"


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
