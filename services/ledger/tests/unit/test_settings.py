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
    monkeypatch.setenv("REGISTRY_JOURNAL_RETIRED_KEYS", '[{"kty": "RSA", "n": "x", "last_tree_size": 1}]')
    with pytest.raises(ValidationError, match="Ed25519"):
        LedgerSettings()
    good = {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
        "kid": "k1",
        "last_tree_size": 4000,
    }
    # A key with its private part would be published by GET /journal/keys: refused.
    monkeypatch.setenv("REGISTRY_JOURNAL_RETIRED_KEYS", json.dumps([{**good, "d": "secret"}]))
    with pytest.raises(ValidationError, match="private part"):
        LedgerSettings()
    monkeypatch.setenv("REGISTRY_JOURNAL_RETIRED_KEYS", json.dumps([good]))
    assert LedgerSettings().journal_retired_keys == [good]


def test_a6r48_a_retired_journal_key_names_the_last_checkpoint_it_signed_and_its_own_kid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without its last tree size a retired key would be trusted for any checkpoint; a kid the
    current key (or another retired key) has would make `verify` stop on a raw error."""
    monkeypatch.setenv("REGISTRY_MODE", "test")
    current = LedgerSettings().journal_signer().public_key()
    current_jwk = LedgerSettings().journal_keys()["keys"][0]
    key = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "k1"}
    monkeypatch.setenv("REGISTRY_JOURNAL_RETIRED_KEYS", json.dumps([key]))
    with pytest.raises(ValidationError, match="last_tree_size"):
        LedgerSettings()
    for last in ("4000", 0, True):
        monkeypatch.setenv("REGISTRY_JOURNAL_RETIRED_KEYS", json.dumps([{**key, "last_tree_size": last}]))
        with pytest.raises(ValidationError, match="last_tree_size"):
            LedgerSettings()
    monkeypatch.setenv("REGISTRY_JOURNAL_RETIRED_KEYS", json.dumps([{**key, "kid": current.kid, "last_tree_size": 9}]))
    with pytest.raises(ValidationError, match="already bound to another key"):
        LedgerSettings()
    # Rotating back to a retired seed, or naming a key twice, is refused too.
    monkeypatch.setenv("REGISTRY_JOURNAL_RETIRED_KEYS", json.dumps([{**current_jwk, "last_tree_size": 9}]))
    with pytest.raises(ValidationError, match="never goes back"):
        LedgerSettings()
    monkeypatch.setenv("REGISTRY_JOURNAL_RETIRED_KEYS", json.dumps([{**key, "last_tree_size": n} for n in (9, 12)]))
    with pytest.raises(ValidationError, match="twice"):
        LedgerSettings()
    monkeypatch.setenv("REGISTRY_JOURNAL_RETIRED_KEYS", json.dumps([{**key, "last_tree_size": 9}]))
    assert LedgerSettings().journal_keys()["keys"][1] == {**key, "last_tree_size": 9}
