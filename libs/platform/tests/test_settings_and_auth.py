"""Settings refuse development secrets in production; tokens are verified for real (A6R-43)."""

from __future__ import annotations

import time

import pytest
from pydantic import ValidationError

from registry_platform.auth import Grant, TokenVerifier, dev_signing_key, issue_token
from registry_platform.errors import RegistryError
from registry_platform.settings import ServiceSettings


def test_production_refuses_the_development_token_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_MODE", "production")
    with pytest.raises(ValidationError, match="REGISTRY_TOKEN_SECRET"):
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
