"""Settings refuse development secrets in production; tokens are verified for real (A6R-43)."""

from __future__ import annotations

import base64
import json
import time

import pytest
from joserfc import jwt
from pydantic import ValidationError

from registry_platform.auth import (
    ALG,
    AUDIENCE,
    INTEROP_GATEWAY,
    ISSUER,
    REGISTRY_SERVICE,
    Grant,
    ServiceTokens,
    TokenVerifier,
    UnknownSigningKey,
    dev_signing_key,
    issue_token,
    service_public_key,
    service_signing_key,
)
from registry_platform.errors import RegistryError
from registry_platform.settings import ServiceSettings


def test_production_refuses_the_development_token_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_MODE", "production")
    with pytest.raises(ValidationError, match="REGISTRY_TOKEN_SECRET"):
        ServiceSettings()
    # Left out, the mode is production: a deployment that forgets it gets no development rules.
    monkeypatch.delenv("REGISTRY_MODE")
    with pytest.raises(ValidationError, match="REGISTRY_MODE=dev"):
        ServiceSettings()
    monkeypatch.setenv("REGISTRY_TOKEN_SECRET", "a-real-secret-from-the-vault")
    assert ServiceSettings().mode == "production"


def test_a6r43_tokens_carry_grants_and_impersonation() -> None:
    key = dev_signing_key("s1")
    verifier = TokenVerifier.for_dev_secret("s1")
    token = issue_token(key, "dana", [Grant("account_initiator", account="GHA-1")], actor="erin")
    principal = verifier.verify(token)
    assert (principal.initiator, principal.on_behalf_of) == ("erin", "dana")
    assert principal.has("account_initiator", account="GHA-1")
    assert not principal.has("account_initiator", account="GHA-2")
    assert not principal.is_registry_administrator


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"),  # signature
        lambda t: issue_token(dev_signing_key("other"), "mallory", [Grant("registry_administrator")]),  # key
        lambda t: issue_token(dev_signing_key("s1"), "x", [], now=time.time() - 3600, lifetime=60),  # expired
    ],
)
def test_forged_or_expired_tokens_are_refused(tamper) -> None:  # type: ignore[no-untyped-def]
    verifier = TokenVerifier.for_dev_secret("s1")
    token = issue_token(dev_signing_key("s1"), "dana", [Grant("registry_administrator")])
    assert verifier.verify(token).subject == "dana"
    with pytest.raises(RegistryError) as refused:
        verifier.verify(tamper(token))
    assert refused.value.status == 401 and refused.value.code == "invalid_token"


def _unsigned(header: dict[str, object]) -> str:
    def part(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part({'sub': 'x'})}.AAAA"


@pytest.mark.parametrize("crit", [5, [5], [None], [[1]], True])
def test_a6r47_a_token_with_a_malformed_header_is_a_401_not_a_500(crit: object) -> None:
    verifier = TokenVerifier.for_dev_secret("s1")
    with pytest.raises(RegistryError) as refused:
        verifier.verify(_unsigned({"alg": "Ed25519", "kid": dev_signing_key("s1").thumbprint(), "crit": crit}))
    assert refused.value.status == 401 and refused.value.code == "invalid_token"


def test_a6r7_in_production_the_shared_secret_signs_service_tokens_only() -> None:
    """Every service holds the shared secret, so in production a user's role signed with its key is a
    forgery; identity's own keys (from its JWKS) sign users' tokens."""
    verifier = TokenVerifier.for_dev_secret("s1", shared_key_roles=frozenset({REGISTRY_SERVICE}))
    identity_key = dev_signing_key("identity's own seed")
    verifier.trust({"keys": [{**identity_key.as_dict(private=False), "kid": identity_key.thumbprint()}]})
    assert verifier.verify(ServiceTokens("s1", "registry:INT01").bearer()).has(REGISTRY_SERVICE)
    forged = issue_token(dev_signing_key("s1"), "mallory", [Grant("registry_administrator")])
    with pytest.raises(RegistryError) as refused:
        verifier.verify(forged)
    assert refused.value.status == 401 and refused.value.code == "invalid_token"
    # Nor by leaving out the key's id, which a verifier holding one key would otherwise not need.
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "exp": int(time.time()) + 60,
              "grants": [{"role": "registry_administrator"}]}  # fmt: skip
    unnamed = jwt.encode({"alg": ALG}, claims, dev_signing_key("s1"), algorithms=[ALG])
    alone = TokenVerifier.for_dev_secret("s1", shared_key_roles=frozenset({REGISTRY_SERVICE}))
    with pytest.raises(RegistryError) as refused:
        alone.verify(unnamed)
    assert refused.value.code == "invalid_token"
    signed_by_identity = issue_token(identity_key, "rita", [Grant("registry_administrator")])
    assert verifier.verify(signed_by_identity).is_registry_administrator
    # Outside production (tests, the demo) the shared key signs any role.
    assert TokenVerifier.for_dev_secret("s1").verify(forged).is_registry_administrator


def test_a6r43_in_production_a_token_signed_with_the_shared_key_says_so() -> None:
    """A shared-key token without grants passes the role limit, so identity's self-service endpoints
    must be able to tell it from a user's own token signed by identity."""
    verifier = TokenVerifier.for_dev_secret("s1", shared_key_roles=frozenset({REGISTRY_SERVICE}))
    identity_key = dev_signing_key("identity's own seed")
    verifier.trust({"keys": [{**identity_key.as_dict(private=False), "kid": identity_key.thumbprint()}]})
    no_grants = issue_token(dev_signing_key("s1"), "victim", [])
    assert verifier.verify(no_grants).service_key
    assert verifier.verify(ServiceTokens("s1", "registry:INT01").bearer()).service_key
    assert not verifier.verify(issue_token(identity_key, "victim", [])).service_key
    # Outside production the shared key is identity's key too.
    assert not TokenVerifier.for_dev_secret("s1").verify(no_grants).service_key


def test_a_remembered_token_is_not_accepted_past_its_expiry() -> None:
    verifier = TokenVerifier.for_dev_secret("s1")
    time.sleep((1.5 - time.time() % 1) % 1)  # half a second before the next whole second: `exp`
    token = issue_token(dev_signing_key("s1"), "dana", [], lifetime=1)
    assert verifier.verify(token).subject == "dana"
    time.sleep(0.7)  # past `exp`, within the second a verified token is remembered
    with pytest.raises(RegistryError) as refused:
        verifier.verify(token)
    assert refused.value.code == "invalid_token"


def test_a6r54_a_service_s_own_key_proves_which_service_signed() -> None:
    """The shared key proves only "some registry service"; a key a verifier lists by name proves that
    service, and vouches for nothing else: another subject, another role or an unlisted key is 401."""
    gateway_secret = "gateway-only-secret"
    verifier = TokenVerifier.for_dev_secret(
        "shared", service_keys={INTEROP_GATEWAY: service_public_key(gateway_secret)}
    )
    own = ServiceTokens("shared", "service:interop-gateway", own_secret=gateway_secret).bearer()
    assert verifier.verify(own).service == INTEROP_GATEWAY
    shared = ServiceTokens("shared", "service:interop-gateway").bearer()
    assert verifier.verify(shared).service is None, "the shared key proves no service"
    key = service_signing_key(gateway_secret)
    for subject, grants in (
        ("service:web", [Grant(REGISTRY_SERVICE)]),
        ("service:interop-gateway", [Grant("registry_administrator")]),
        ("service:interop-gateway", [Grant(REGISTRY_SERVICE), Grant("account_viewer", account="GHA-1")]),
    ):
        with pytest.raises(RegistryError) as refused:
            verifier.verify(issue_token(key, subject, grants))
        assert refused.value.status == 401
    for extra in ({"actor": "alice"}, {"session": "a-users-session"}):
        with pytest.raises(RegistryError):
            verifier.verify(issue_token(key, "service:interop-gateway", [Grant(REGISTRY_SERVICE)], **extra))
    unlisted = ServiceTokens("shared", "service:interop-gateway", own_secret="another-secret").bearer()
    with pytest.raises(RegistryError):
        verifier.verify(unlisted)


def test_a6r54_service_key_settings_are_checked_when_read(monkeypatch: pytest.MonkeyPatch) -> None:
    padded = service_public_key("g") + "="
    for bad in ("not-a-key", padded, service_public_key("g")[:-1] + "B"):
        monkeypatch.setenv("REGISTRY_SERVICE_KEYS", json.dumps({INTEROP_GATEWAY: bad}))
        with pytest.raises(ValidationError, match=r"interop-gateway.*43 base64url characters"):
            ServiceSettings()
    monkeypatch.setenv("REGISTRY_SERVICE_KEYS", json.dumps({INTEROP_GATEWAY: service_public_key("g")}))
    assert ServiceSettings().service_keys == {INTEROP_GATEWAY: service_public_key("g")}
    # A service key derived from the secret every service holds would prove nothing.
    monkeypatch.setenv("REGISTRY_TOKEN_SECRET", "the-shared-one")
    monkeypatch.setenv("REGISTRY_SERVICE_SECRET", "the-shared-one")
    with pytest.raises(ValidationError, match="REGISTRY_SERVICE_SECRET"):
        ServiceSettings()


def test_a6r43_a_token_signed_with_a_key_not_known_yet_is_told_apart() -> None:
    """Refused like any invalid token, but distinctly, so that the caller may read identity's JWKS
    again (a key identity has just started signing with); a token naming no key is not that."""
    verifier = TokenVerifier.for_dev_secret("s1")
    with pytest.raises(UnknownSigningKey) as refused:
        verifier.verify(issue_token(dev_signing_key("identity's new key"), "rita", []))
    assert refused.value.status == 401 and refused.value.code == "invalid_token"
    identity_key = dev_signing_key("identity's own seed")
    verifier.trust({"keys": [{**identity_key.as_dict(private=False), "kid": identity_key.thumbprint()}]})
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "rita", "exp": int(time.time()) + 60}
    unnamed = jwt.encode({"alg": ALG}, claims, identity_key, algorithms=[ALG])
    with pytest.raises(RegistryError) as refused:
        verifier.verify(unnamed)
    assert refused.value.code == "invalid_token" and not isinstance(refused.value, UnknownSigningKey)
