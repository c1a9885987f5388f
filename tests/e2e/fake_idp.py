"""An identity provider for the console's sign-in test: OAuth 2.0 authorization code with PKCE
(RFC 7636, S256 only), on the loopback. /authorize signs the user in at once (no login page) and
redirects back with a code; /token checks the code, the client, the redirect URI and the
verifier against the challenge, and answers an ID token signed with the local run's key, so the
API's authorizer accepts it. Every check it makes is one a real provider makes."""

import base64
import hashlib
import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from local_run.auth import SigningKey


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    challenge: str


@dataclass
class Identity:
    """Who signs in, and what the provider saw."""

    tenant: str
    roles: list[str]
    email: str
    grants: dict[str, Grant] = field(default_factory=dict)
    exchanged: list[str] = field(default_factory=list)


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class FakeIdp(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, key: SigningKey, settings: Any, client_id: str, who: Identity) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.key, self.settings, self.client_id, self.who = key, settings, client_id, who
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> "FakeIdp":
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: FakeIdp

    def log_message(self, *_: Any) -> None:
        pass

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path != "/authorize":
            return self._json(404, {"error": "not_found"})
        if query.get("response_type") != "code" or query.get("client_id") != self.server.client_id:
            return self._json(400, {"error": "unauthorized_client"})
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return self._json(400, {"error": "invalid_request", "error_description": "PKCE S256 required"})
        code = secrets.token_urlsafe(16)
        self.server.who.grants[code] = Grant(
            query["client_id"], query["redirect_uri"], query["code_challenge"]
        )
        back = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"
        self.send_response(302)
        self.send_header("Location", back)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        form = {
            k: v[-1]
            for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()
        }
        grant = self.server.who.grants.pop(form.get("code", ""), None)
        valid = (
            urlsplit(self.path).path == "/token"
            and form.get("grant_type") == "authorization_code"
            and grant is not None
            and form.get("client_id") == grant.client_id
            and form.get("redirect_uri") == grant.redirect_uri
            and s256(form.get("code_verifier", "")) == grant.challenge
        )
        if not valid:
            return self._json(400, {"error": "invalid_grant"})
        who = self.server.who
        token = self.server.key.token(
            self.server.settings,
            tenant=who.tenant,
            roles=who.roles,
            sub=who.email.split("@")[0],
            email=who.email,
        )
        who.exchanged.append(form["code"])
        self._json(
            200, {"id_token": token, "access_token": "opaque", "token_type": "Bearer", "expires_in": 3600}
        )

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Access-Control-Allow-Origin", "*")  # the console calls it from its own origin
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
