"""The console function: its page and files by name only, with their content types and a
Content-Security-Policy; its sign-in settings per mode (header, pasted token, OAuth with PKCE,
not configured); nothing but GET. The page itself is tested in a browser
(tests/e2e/test_console_browser.py)."""

import json
from typing import Any

import pytest

from console import app

OAUTH = {
    "AUTH_MODE": "jwt",
    "CONSOLE_AUTHORIZATION_ENDPOINT": "https://login.example.com/oauth2/authorize",
    "CONSOLE_TOKEN_ENDPOINT": "https://login.example.com/oauth2/token",
    "CONSOLE_CLIENT_ID": "client-1",
}


def get(asset: str | None = None, method: str = "GET") -> dict[str, Any]:
    event = {
        "httpMethod": method,
        "path": "/console" + (f"/{asset}" if asset else ""),
        "pathParameters": {"asset": asset} if asset else None,
    }
    return app.handler(event, None)


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch):
    def set_to(values: dict[str, str]) -> None:
        for name in [*OAUTH, app.SIGN_IN_ENV, app.SCOPES_ENV, "AUTH_TENANT_CLAIM", "AUTH_ROLES_CLAIM"]:
            monkeypatch.delenv(name, raising=False)
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_to


def test_the_page_and_its_files_are_served_with_their_types(environment) -> None:
    environment({"AUTH_MODE": "header"})
    page = get()
    assert page["statusCode"] == 200 and page["headers"]["Content-Type"] == "text/html; charset=utf-8"
    assert '<script type="module" src="console/app.js">' in page["body"]
    script = get("app.js")
    assert script["headers"]["Content-Type"] == "text/javascript; charset=utf-8"
    assert get("console.css")["headers"]["Content-Type"] == "text/css; charset=utf-8"
    for response in (page, script):
        headers = response["headers"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["X-Frame-Options"] == "DENY"


def test_every_module_the_page_imports_is_served() -> None:
    """The page's modules import each other by relative name: each must be a file of static/."""
    served = set(app._files())
    for name in [n for n in served if n.endswith(".js") and n != "dagre.esm.js"]:
        text = (app.STATIC / name).read_text()
        for line in text.splitlines():
            if line.startswith("import ") and " from " in line:
                target = line.rsplit(" from ", 1)[1].strip(" ;\"'")
                assert target.startswith("./") and target[2:] in served, (name, target)


@pytest.mark.parametrize("asset", ["../app.py", "..", "app.py", "__init__.py", "index.htm", ".gitignore"])
def test_nothing_but_the_files_of_static_is_served(asset: str) -> None:
    response = get(asset)
    assert response["statusCode"] == 404
    assert json.loads(response["body"])["error"]["code"] == "not_found"


def test_only_get(environment) -> None:
    environment({"AUTH_MODE": "header"})
    assert get(None, "POST")["statusCode"] == 405
    assert get("config.json", "PUT")["statusCode"] == 405


def test_the_policy_allows_only_this_origin_and_no_inline_code(environment) -> None:
    environment({"AUTH_MODE": "header"})
    policy = dict(part.split(" ", 1) for part in get()["headers"]["Content-Security-Policy"].split("; "))
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"  # no inline, no eval
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'" and policy["form-action"] == "'none'"
    assert policy["require-trusted-types-for"] == "'script'" and policy["trusted-types"] == "'none'"


def settings_of(response: dict[str, Any]) -> dict[str, Any]:
    assert response["headers"]["Content-Type"] == "application/json"
    return json.loads(response["body"])


def test_header_mode_picks_a_tenant(environment) -> None:
    environment({"AUTH_MODE": "header"})
    assert settings_of(get("config.json")) == {"mode": "header"}


def test_local_jwt_mode_takes_a_pasted_token(environment) -> None:
    environment({"AUTH_MODE": "jwt", "CONSOLE_SIGN_IN": "token", "AUTH_TENANT_CLAIM": "tenant"})
    assert settings_of(get("config.json")) == {
        "mode": "token",
        "tenant_claim": "tenant",
        "roles_claim": "cognito:groups",
    }


def test_deployed_it_signs_in_with_pkce_and_may_reach_the_token_endpoint(environment) -> None:
    environment(OAUTH)
    response = get("config.json")
    assert settings_of(response) == {
        "mode": "oauth",
        "authorization_endpoint": OAUTH["CONSOLE_AUTHORIZATION_ENDPOINT"],
        "token_endpoint": OAUTH["CONSOLE_TOKEN_ENDPOINT"],
        "client_id": "client-1",
        "scope": "openid email",
        "tenant_claim": "custom:tenant",
        "roles_claim": "cognito:groups",
    }
    assert "connect-src 'self' https://login.example.com;" in response["headers"]["Content-Security-Policy"]


@pytest.mark.parametrize(
    "missing",
    [
        {"CONSOLE_TOKEN_ENDPOINT": ""},
        {"CONSOLE_CLIENT_ID": ""},
        {"CONSOLE_AUTHORIZATION_ENDPOINT": "http://login.example.com/authorize"},  # not https
        {"CONSOLE_TOKEN_ENDPOINT": "ftp://127.0.0.1/token"},
    ],
)
def test_without_a_usable_provider_it_says_sign_in_is_not_configured(environment, missing) -> None:
    environment({**OAUTH, **missing})
    settings = settings_of(get("config.json"))
    assert settings["mode"] == "unconfigured"
    assert "connect-src 'self';" in get()["headers"]["Content-Security-Policy"]


def test_an_identity_provider_on_the_loopback_may_use_plain_http(environment) -> None:
    """What the browser test's own identity provider serves (never reachable from elsewhere)."""
    local = {"CONSOLE_AUTHORIZATION_ENDPOINT": "http://127.0.0.1:9/authorize"}
    environment({**OAUTH, **local, "CONSOLE_TOKEN_ENDPOINT": "http://127.0.0.1:9/token"})
    response = get("config.json")
    assert settings_of(response)["mode"] == "oauth"
    assert "connect-src 'self' http://127.0.0.1:9;" in response["headers"]["Content-Security-Policy"]
