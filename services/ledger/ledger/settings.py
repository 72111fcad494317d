from __future__ import annotations

from typing import Any

from pydantic import SecretStr, field_validator, model_validator

from registry_contracts.signing import key_ring
from registry_platform.settings import ServiceSettings

# Published in the repository, so only ever acceptable outside production.
DEV_JOURNAL_SEED = "dev-only-journal-checkpoint-seed"


class LedgerSettings(ServiceSettings):
    # Seed of the Ed25519 key that signs journal checkpoints (A6R-21).
    journal_signing_seed: SecretStr = SecretStr(DEV_JOURNAL_SEED)
    # The public keys (JWKs, as GET /journal/keys published them) of seeds used before a rotation:
    # published with the current key, and trusted by `registry-ledger verify`, so the checkpoints
    # they signed still verify. JSON: [{"kty": "OKP", "crv": "Ed25519", "x": "...", "kid": "..."}].
    journal_retired_keys: list[dict[str, Any]] = []
    checkpoint_every: int = 1000
    checkpoint_seconds: float = 10.0
    writer_max_batch: int = 256
    # The proposal-verdict saga with the rules service (issue 5): unit transactions are recorded only
    # with the rules service's verdict. Off only where no rules service runs (the ledger's own tests).
    rules_verdicts: bool = True
    # A proposal without a verdict is rejected after this long, with a clear reason.
    verdict_deadline_seconds: float = 30.0
    # How long a client's PUT waits for the decision before it gets 202 and polls.
    verdict_wait_seconds: float = 5.0
    # A directory of nomenclature versions published after this build (registry-nomenclatures.v<N>.json,
    # A6R-57), read beside those shipped with it: new issuances are judged against the latest, and
    # replay judges each entry again against the version it names.
    nomenclature_dir: str | None = None

    @field_validator("journal_retired_keys")
    @classmethod
    def _retired_keys_are_keys(cls, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if any("d" in key for key in keys):
            raise ValueError('a retired key holds its private part ("d"): give only its public JWK')
        key_ring(keys)  # raises, naming what is wrong, on a key that is not an Ed25519 JWK
        return keys

    @model_validator(mode="after")
    def _refuse_dev_seed(self) -> LedgerSettings:
        if self.mode == "production" and self.journal_signing_seed.get_secret_value() == DEV_JOURNAL_SEED:
            raise ValueError("REGISTRY_JOURNAL_SIGNING_SEED still holds the development seed; set a real one")
        return self
