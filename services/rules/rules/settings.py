"""The rules service's own settings."""

from __future__ import annotations

from pydantic import PositiveInt, SecretStr, model_validator

from registry_contracts.verdicts import DEV_VERDICT_SEED
from registry_platform.settings import ServiceSettings
from rules.domain.idempotency import RETENTION


class RulesSettings(ServiceSettings):
    # The descriptors service, asked for the descriptors in force for a proposal's units (A6R-45);
    # empty: proposals are evaluated with the descriptors they carry (none).
    descriptors_url: str = ""
    # How long an Idempotency-Key answers for its request; after that the key is free again (a retry
    # that late makes a new record) and its row is deleted.
    idempotency_key_retention_seconds: PositiveInt = int(RETENTION.total_seconds())
    # Seed of the key that signs every verdict; the ledger checks them with its public half
    # (REGISTRY_RULES_VERDICT_KEY; `python -m registry_contracts.verdicts` makes both).
    verdict_signing_seed: SecretStr = SecretStr(DEV_VERDICT_SEED)

    @model_validator(mode="after")
    def _refuse_dev_seed(self) -> RulesSettings:
        if self.mode == "production" and self.verdict_signing_seed.get_secret_value() == DEV_VERDICT_SEED:
            raise ValueError("REGISTRY_VERDICT_SIGNING_SEED still holds the development seed; set a real one")
        return self
