"""The rules service's own settings."""

from __future__ import annotations

from pydantic import PositiveInt

from registry_platform.settings import ServiceSettings
from rules.domain.idempotency import RETENTION


class RulesSettings(ServiceSettings):
    # The descriptors service, asked for the descriptors in force for a proposal's units (A6R-45);
    # empty: proposals are evaluated with the descriptors they carry (none).
    descriptors_url: str = ""
    # How long an Idempotency-Key answers for its request; after that the key is free again (a retry
    # that late makes a new record) and its row is deleted.
    idempotency_key_retention_seconds: PositiveInt = int(RETENTION.total_seconds())
