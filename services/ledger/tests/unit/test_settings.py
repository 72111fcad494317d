"""The ledger refuses its development signing seed in production (A6R-21)."""

import pytest
from pydantic import ValidationError

from ledger.settings import LedgerSettings


def test_the_ledger_refuses_the_development_journal_seed_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_MODE", "production")
    monkeypatch.setenv("REGISTRY_TOKEN_SECRET", "a-real-secret-from-the-vault")
    with pytest.raises(ValidationError, match="REGISTRY_JOURNAL_SIGNING_SEED"):
        LedgerSettings()
