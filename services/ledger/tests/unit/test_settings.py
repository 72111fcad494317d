"""The ledger refuses its development signing seed in production (A6R-21)."""

import json

import pytest
from pydantic import ValidationError

from ledger.settings import LedgerSettings


def test_the_ledger_refuses_the_development_journal_seed_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_MODE", "production")
    monkeypatch.setenv("REGISTRY_TOKEN_SECRET", "a-real-secret-from-the-vault")
    with pytest.raises(ValidationError, match="REGISTRY_JOURNAL_SIGNING_SEED"):
        LedgerSettings()


def test_a6r48_retired_journal_keys_must_be_ed25519_public_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """A key retired by a rotation is read at start: one that is not an Ed25519 JWK is refused
    there, not at the first `verify` that needs it."""
    monkeypatch.setenv("REGISTRY_MODE", "test")
    monkeypatch.setenv("REGISTRY_JOURNAL_RETIRED_KEYS", '[{"kty": "RSA", "n": "x"}]')
    with pytest.raises(ValidationError, match="Ed25519"):
        LedgerSettings()
    good = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "k1"}
    # A key with its private part would be published by GET /journal/keys: refused.
    monkeypatch.setenv("REGISTRY_JOURNAL_RETIRED_KEYS", json.dumps([{**good, "d": "secret"}]))
    with pytest.raises(ValidationError, match="private part"):
        LedgerSettings()
    monkeypatch.setenv("REGISTRY_JOURNAL_RETIRED_KEYS", json.dumps([good]))
    assert LedgerSettings().journal_retired_keys == [good]
