"""The Lambda authorizer, run for real: tokens signed with generated keys, the JWKS fetched over
HTTP. Every refusal is a 401 ("Unauthorized") or a Deny (403), never an Allow."""

import time
from collections.abc import Iterator
from typing import Any

import pytest
from authorizer.app import handler

from local_run.auth import authorizer_environment, generate
from local_run.functions import LambdaContext
from scenario_migration.auth import tokens
from scenario_migration.auth.authorizer import Unauthorized, authorize, bearer_token, stage_arn
from scenario_migration.auth.tokens import LEEWAY_SECONDS, KeysUnavailable, TokenVerifier
from scenario_migration.domain.scenario import ID_PATTERN
from scenario_migration.identity import TENANT_PATTERN, Role, parse_roles
from tests.auth.keys import Issuer, claims_of, hmac_with_public_key, issuer, tampered, unsigned

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/v1/GET/api/v1/migration-plans"


@pytest.fixture(scope="module", params=["RS256", "ES256"])
def idp(request: pytest.FixtureRequest) -> Iterator[Issuer]:
    with issuer(request.param) as provider:
        yield provider


@pytest.fixture
def verifier(idp: Issuer) -> TokenVerifier:
    return TokenVerifier(idp.settings)


def event(token: str | None) -> dict[str, Any]:
    return {
        "type": "TOKEN",
        "authorizationToken": None if token is None else f"Bearer {token}",
        "methodArn": METHOD_ARN,
    }


def refused(verifier: TokenVerifier, token: str | None) -> bool:
    with pytest.raises(Unauthorized) as raised:
        authorize(event(token), verifier)
    return str(raised.value) == "Unauthorized"  # the exact message API Gateway turns into a 401


def test_a_good_token_is_allowed_with_its_identity_as_context(idp: Issuer, verifier: TokenVerifier) -> None:
    answer = authorize(event(idp.token(roles=("operator", "viewer", "admin"))), verifier)
    assert answer["principalId"] == "ana@example.com"
    assert answer["policyDocument"]["Statement"] == [
        {
            "Action": "execute-api:Invoke",
            "Effect": "Allow",
            "Resource": "arn:aws:execute-api:us-east-1:123456789012:abc123/v1/*/*",
        }
    ]
    # strings only (API Gateway drops lists); unknown roles are not passed on
    assert answer["context"] == {"tenant": "acme", "roles": "operator,viewer", "principal": "ana@example.com"}


def test_a_machine_token_without_email_is_its_subject(idp: Issuer, verifier: TokenVerifier) -> None:
    token = idp.key.token(idp.settings, tenant="acme", roles=["runtime"], sub="runtime-client")
    assert authorize(event(token), verifier)["context"]["principal"] == "runtime-client"


def test_expired(idp: Issuer, verifier: TokenVerifier) -> None:
    past = int(time.time()) - LEEWAY_SECONDS - 60
    assert refused(verifier, idp.token(exp=past, iat=past - 3600, nbf=past - 3600))


def test_not_yet_valid(idp: Issuer, verifier: TokenVerifier) -> None:
    assert refused(verifier, idp.token(nbf=int(time.time()) + LEEWAY_SECONDS + 60))


def test_wrong_audience(idp: Issuer, verifier: TokenVerifier) -> None:
    assert refused(verifier, idp.token(aud="another-api"))


def test_wrong_issuer(idp: Issuer, verifier: TokenVerifier) -> None:
    assert refused(verifier, idp.token(iss="https://attacker.example.com"))


@pytest.mark.parametrize("claim", ["exp", "iss", "aud", "sub"])
def test_a_required_claim_missing(idp: Issuer, verifier: TokenVerifier, claim: str) -> None:
    claims = claims_of(idp.token())
    del claims[claim]
    assert refused(verifier, idp.key.sign(claims))


def test_tampered_payload(idp: Issuer, verifier: TokenVerifier) -> None:
    assert refused(verifier, tampered(idp.token(tenant="acme"), **{idp.settings.tenant_claim: "globex"}))
    assert refused(
        verifier, tampered(idp.token(roles=("viewer",)), **{idp.settings.roles_claim: ["approver"]})
    )


def test_signed_by_another_key(idp: Issuer, verifier: TokenVerifier) -> None:
    stranger = generate(idp.key.algorithm)
    claims = claims_of(idp.token())
    assert refused(verifier, stranger.sign(claims))  # its own kid: the issuer never published it
    assert refused(verifier, stranger.sign(claims, headers={"kid": idp.key.kid}))  # the issuer's kid


def test_alg_none(idp: Issuer, verifier: TokenVerifier) -> None:
    claims = claims_of(idp.token())
    assert refused(verifier, unsigned({"alg": "none", "typ": "JWT", "kid": idp.key.kid}, claims))


def test_hs256_keyed_with_the_public_key(idp: Issuer, verifier: TokenVerifier) -> None:
    assert refused(verifier, hmac_with_public_key(idp.key, claims_of(idp.token())))


def test_an_algorithm_other_than_the_keys(idp: Issuer, verifier: TokenVerifier) -> None:
    """A token whose header claims another of the allowed algorithms than its key's."""
    other = generate("ES256" if idp.key.algorithm == "RS256" else "RS256")
    forged = other.sign(claims_of(idp.token()), headers={"kid": idp.key.kid})
    assert refused(verifier, forged)


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer a b", "x.y.z"]
)
def test_no_bearer_token(verifier: TokenVerifier, header: str | None) -> None:
    with pytest.raises(Unauthorized):
        authorize({"type": "TOKEN", "authorizationToken": header, "methodArn": METHOD_ARN}, verifier)


@pytest.mark.parametrize("garbage", ["not-a-jwt", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30.", "é.é.é"])
def test_malformed_tokens(verifier: TokenVerifier, garbage: str) -> None:
    assert refused(verifier, garbage)


@pytest.mark.parametrize("tenant", [None, "", "a#b", "a*", "x" * 129, ["acme"]])
def test_a_genuine_token_without_a_usable_tenant_is_denied(
    idp: Issuer, verifier: TokenVerifier, tenant: Any
) -> None:
    claims = claims_of(idp.token())
    if tenant is None:
        del claims[idp.settings.tenant_claim]
    else:
        claims[idp.settings.tenant_claim] = tenant
    answer = authorize(event(idp.key.sign(claims)), verifier)
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert "context" not in answer


def test_the_key_set_is_fetched_once_per_container(idp: Issuer) -> None:
    fresh = TokenVerifier(idp.settings)
    before = idp.fetches
    for _ in range(5):
        fresh.verify(idp.token())
    assert idp.fetches - before == 1


def test_an_unknown_kid_refetches_at_most_once_per_cooldown(idp: Issuer) -> None:
    """A rotated key is picked up; a flood of made-up kids does not become a flood of fetches."""
    fresh = TokenVerifier(idp.settings)
    fresh.verify(idp.token())
    before = idp.fetches
    stranger = generate(idp.key.algorithm)
    for _ in range(5):
        with pytest.raises(tokens.InvalidToken):
            fresh.verify(stranger.sign(claims_of(idp.token())))
    assert idp.fetches - before <= 1


def test_a_rotated_key_is_accepted_once_published() -> None:
    with issuer() as provider:
        verifier = TokenVerifier(provider.settings)
        verifier.verify(provider.token())
        rotated = generate()
        provider.published.append(rotated.jwk())
        verifier._keys.cooldown_duration = 0  # the cooldown elapsed
        token = rotated.token(provider.settings, tenant="acme", roles=["viewer"], sub="u")
        assert verifier.verify(token).tenant == "acme"


def test_an_unreachable_key_set_is_our_failure_not_an_allow() -> None:
    with issuer() as provider:
        settings = provider.settings
        token = provider.token()
    verifier = TokenVerifier(settings)  # the server is gone
    with pytest.raises(KeysUnavailable):
        authorize(event(token), verifier)


def test_the_handler_reads_the_stack_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    """functions/authorizer: configured by environment (template.yaml), one verifier per container."""
    with issuer() as provider:
        for name, value in authorizer_environment(provider.settings).items():
            monkeypatch.setenv(name, value)
        tokens.verifier.cache_clear()
        try:
            allowed = handler(event(provider.token(roles=("approver",))), LambdaContext("AuthorizerFunction"))
            assert allowed["context"]["roles"] == "approver"
            with pytest.raises(Exception, match=r"^Unauthorized$"):
                handler(event(provider.token(aud="other")), LambdaContext("AuthorizerFunction"))
        finally:
            tokens.verifier.cache_clear()


def test_the_jwks_url_defaults_to_the_issuers_well_known_path() -> None:
    settings = tokens.TokenSettings.from_environment(
        {"AUTH_ISSUER": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc/", "AUTH_AUDIENCE": "x"}
    )
    assert (
        settings.jwks_url == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc/.well-known/jwks.json"
    )
    assert (settings.tenant_claim, settings.roles_claim) == ("custom:tenant", "cognito:groups")
    with pytest.raises(RuntimeError, match="AUTH_ISSUER"):
        tokens.TokenSettings.from_environment({"AUTH_AUDIENCE": "x"})


def test_claims_by_dotted_path_and_roles_in_any_shape() -> None:
    assert tokens.claim({"realm_access": {"roles": ["viewer"]}}, "realm_access.roles") == ["viewer"]
    assert tokens.claim({"cognito:groups": ["x"]}, "cognito:groups") == ["x"]
    assert parse_roles("viewer operator,approver nobody") == {Role.VIEWER, Role.OPERATOR, Role.APPROVER}
    assert parse_roles(["runtime", 3, None]) == {Role.RUNTIME}
    assert parse_roles({"viewer": True}) == frozenset()


def test_the_policy_covers_the_stage_so_a_cached_answer_serves_every_route() -> None:
    assert stage_arn(METHOD_ARN) == "arn:aws:execute-api:us-east-1:123456789012:abc123/v1/*/*"
    assert stage_arn("not-an-arn") == "not-an-arn"
    assert bearer_token("bearer abc") == "abc"


def test_the_tenant_pattern_is_the_services() -> None:
    assert TENANT_PATTERN == ID_PATTERN
