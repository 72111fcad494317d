from __future__ import annotations

import hashlib
from typing import Any

from pydantic import SecretStr, field_validator, model_validator

from ledger.domain.journal import JournalKeys
from registry_contracts.signing import Ed25519Signer, PublicKey, public_jwk
from registry_contracts.verdicts import DEV_VERDICT_SEED, verdict_key, verdict_public_key
from registry_platform.settings import ServiceSettings

# Published in the repository, so only ever acceptable outside production.
DEV_JOURNAL_SEED = "dev-only-journal-checkpoint-seed"


class LedgerSettings(ServiceSettings):
    # Seed of the Ed25519 key that signs journal checkpoints (A6R-21).
    journal_signing_seed: SecretStr = SecretStr(DEV_JOURNAL_SEED)
    # The public keys (JWKs, as GET /journal/keys published them) of seeds used before a rotation,
    # each with the size of the journal when it was retired: published with the current key, and
    # trusted by the writer and `registry-ledger verify` for the checkpoints and seals up to that
    # size, so those still verify and no later one can be signed with a retired seed. JSON:
    # [{"kty": "OKP", "crv": "Ed25519", "x": "...", "kid": "...", "last_tree_size": 41000}].
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
    # The public key of the rules service's verdict key: a verdict it does not verify is not
    # applied (registry_contracts.verdicts; `python -m registry_contracts.verdicts` makes both).
    rules_verdict_key: str = verdict_key(DEV_VERDICT_SEED)

    @field_validator("journal_retired_keys")
    @classmethod
    def _retired_keys_are_keys(cls, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for key in keys:
            if "d" in key:
                raise ValueError('a retired key holds its private part ("d"): give only its public JWK')
            if "last_tree_size" not in key:
                raise ValueError(
                    'each retired key needs "last_tree_size", the size of the journal when it was retired '
                    "(the ledger stopped): SELECT max(sequence) FROM journal"
                )
        return keys

    @field_validator("rules_verdict_key")
    @classmethod
    def _a_verdict_key(cls, x: str) -> str:
        verdict_public_key(x)
        return x

    @model_validator(mode="after")
    def _refuse_dev_seed(self) -> LedgerSettings:
        if self.mode == "production" and self.journal_signing_seed.get_secret_value() == DEV_JOURNAL_SEED:
            raise ValueError("REGISTRY_JOURNAL_SIGNING_SEED still holds the development seed; set a real one")
        if self.mode == "production" and self.rules_verdict_key == verdict_key(DEV_VERDICT_SEED):
            raise ValueError(
                "REGISTRY_RULES_VERDICT_KEY is the development seed's key: anyone could sign verdicts; "
                "give the key of the rules service's REGISTRY_VERDICT_SIGNING_SEED"
            )
        try:
            keys = JournalKeys.from_jwks(self.journal_keys()["keys"])
        except ValueError as exc:
            # Not an Ed25519 JWK, or a kid that another key already has.
            raise ValueError(f"REGISTRY_JOURNAL_RETIRED_KEYS: {exc}") from exc
        if len(keys.retired_after) != len(self.journal_retired_keys):
            raise ValueError("REGISTRY_JOURNAL_RETIRED_KEYS names a key twice")
        if self.journal_signer().kid in keys.retired_after:
            # Signing again with a retired seed would make every new checkpoint fail `verify`.
            raise ValueError("REGISTRY_JOURNAL_SIGNING_SEED is a retired key's seed: a rotation never goes back")
        return self

    def verdict_key(self) -> PublicKey:
        return verdict_public_key(self.rules_verdict_key)

    def journal_signer(self) -> Ed25519Signer:
        seed = hashlib.sha256(b"a6r-ledger-journal\x00" + self.journal_signing_seed.get_secret_value().encode())
        return Ed25519Signer.from_seed(seed.digest())

    def journal_keys(self) -> dict[str, Any]:
        """Every public key the journal's checkpoints may be signed with (a JWK Set): the current
        key, and those retired by a rotation with the last tree size each signed."""
        public = ("kty", "crv", "x", "kid", "alg", "use", "last_tree_size")
        retired = [{k: key[k] for k in public if k in key} for key in self.journal_retired_keys]
        return {"keys": [public_jwk(self.journal_signer()), *retired]}
