"""Local credentials for `LOCAL_AUTH=jwt`: a signing key pair, its JWKS, tokens signed with it.

The key pair is generated once and kept in `.local/` (git-ignored), so tokens printed by
`make token` stay valid across restarts of `make run`. The local run serves the public half at
`/local/jwks.json` and runs the real authorizer against it: only the issuer differs from AWS.
Tests generate their own keys with `generate()`.
"""

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from local_run.template import ROOT
from scenario_migration.auth.tokens import TokenSettings

KEY_FILE = ROOT / ".local" / "jwt-signing-key.pem"
KEY_FILE_ENV = "LOCAL_AUTH_KEY_FILE"  # another key file (the e2e tests use their own)
AUDIENCE = "scenario-migration"
JWKS_PATH = "/local/jwks.json"
ISSUER_PATH = "/local"


def issuer_for(port: int) -> str:
    return f"http://127.0.0.1:{port}{ISSUER_PATH}"


@dataclass(frozen=True)
class SigningKey:
    private_key: Any  # an RSA or EC private key of `cryptography`
    algorithm: str  # RS256 or ES256

    @property
    def kid(self) -> str:
        """A stable id from the public key (what an identity provider puts in `kid`)."""
        der = self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return hashlib.sha256(der).hexdigest()[:16]

    def jwk(self) -> dict[str, Any]:
        algorithm = jwt.get_algorithm_by_name(self.algorithm)
        key = json.loads(algorithm.to_jwk(self.private_key.public_key()))
        return {**key, "kid": self.kid, "alg": self.algorithm, "use": "sig"}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk()]}

    def sign(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        return jwt.encode(
            claims, self.private_key, algorithm=self.algorithm, headers={"kid": self.kid, **(headers or {})}
        )

    def token(
        self,
        settings: TokenSettings,
        *,
        tenant: str,
        roles: list[str],
        sub: str,
        email: str | None = None,
        lifetime: int = 3600,
        **claims: Any,
    ) -> str:
        """A token as the platform's identity provider would issue it for `settings`."""
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": settings.issuer,
            "aud": settings.audience,
            "sub": sub,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            settings.tenant_claim: tenant,
            settings.roles_claim: roles,
        }
        if email:
            body["email"] = email
        return self.sign({**body, **claims})

    def pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def generate(algorithm: str = "RS256") -> SigningKey:
    if algorithm == "ES256":
        return SigningKey(ec.generate_private_key(ec.SECP256R1()), algorithm)
    return SigningKey(rsa.generate_private_key(public_exponent=65537, key_size=2048), algorithm)


def key_file() -> Path:
    return Path(os.environ.get(KEY_FILE_ENV) or KEY_FILE)


def load_or_create(path: Path = KEY_FILE) -> SigningKey:
    """The local key pair, generated on first use and kept (owner-only) for later runs."""
    if path.is_file():
        return SigningKey(serialization.load_pem_private_key(path.read_bytes(), password=None), "RS256")
    key = generate("RS256")
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(key.pem())
    return key


def local_settings(port: int) -> TokenSettings:
    """What the local run's authorizer verifies against (the stack's claim names, local issuer)."""
    issuer = issuer_for(port)
    return TokenSettings(issuer=issuer, audience=AUDIENCE, jwks_url=f"http://127.0.0.1:{port}{JWKS_PATH}")


def authorizer_environment(settings: TokenSettings) -> dict[str, str]:
    """The authorizer function's environment for `settings`, as template.yaml sets it in AWS."""
    return {
        "AUTH_ISSUER": settings.issuer,
        "AUTH_AUDIENCE": settings.audience,
        "AUTH_JWKS_URL": settings.jwks_url,
        "AUTH_TENANT_CLAIM": settings.tenant_claim,
        "AUTH_ROLES_CLAIM": settings.roles_claim,
    }
