"""Settings of the descriptors service (REGISTRY_* environment variables; structured values as JSON).

- `registry_id`: this registry's id in the common nomenclature (INT01 for the international registry).
- `descriptor_signing_seed`: seed of the Ed25519 key that signs this registry's descriptors.
- `ledger_url`: the ledger's API, to learn accounts' sections and types and the cooperative approaches.
- `cooperative_approaches`: approach id -> its Parties, for approaches the ledger does not hold
  (a peer registry's approach); the ledger's are looked up there.
- `applicability`: approach id (or "default") -> applicability window (domain.applicability).
- `marker_settle_seconds`: how long the marker sequencer lets recorded transactions settle.
- `peers`: the peer registries whose descriptors this registry accepts: their keys (JWK, Ed25519),
  the Parties they may issue for (default: the Party the nomenclature gives the registry), and
  optionally the URL of their pull feed.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from descriptors.domain.applicability import Window
from registry_contracts.nomenclatures import load_default
from registry_contracts.signing import Ed25519Signer
from registry_platform.settings import ServiceSettings

DEV_DESCRIPTOR_SEED = "dev-only-descriptor-signing-seed"  # published: development only


class WindowConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_delay_hours: float = Field(default=12.0, ge=0)
    next_day: bool = True
    align_to_midnight: bool = True

    def window(self) -> Window:
        return Window(timedelta(hours=self.min_delay_hours), self.next_day, self.align_to_midnight)


class PeerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    registry: str = Field(min_length=1)
    keys: list[dict[str, Any]] = Field(default_factory=list, description="Public JWKs (OKP, Ed25519) with kid")
    parties: list[str] | None = None
    url: str = ""
    # Bearer token for the peer's pull feed, until the interop gateway signs requests (RFC 9421).
    token: SecretStr | None = None

    def allowed_parties(self) -> set[str]:
        if self.parties is not None:
            return set(self.parties)
        for entry in load_default().registry_ids:
            if entry.code == self.registry and entry.party:
                return {entry.party}
        return set()


class DescriptorsSettings(ServiceSettings):
    registry_id: str = "INT01"
    descriptor_signing_seed: SecretStr = SecretStr(DEV_DESCRIPTOR_SEED)
    ledger_url: str = ""
    ledger_timeout_seconds: float = 5.0
    cooperative_approaches: dict[str, list[str]] = Field(default_factory=dict)
    applicability: dict[str, WindowConfig] = Field(default_factory=dict)
    peers: list[PeerConfig] = Field(default_factory=list)
    pull_interval_seconds: float = 30.0
    # How long a recorded transaction waits before its markers are decided, so that transactions
    # consumed from other partitions of ledger.transactions are there to be decided first.
    marker_settle_seconds: float = 2.0

    @model_validator(mode="after")
    def _refuse_dev_seed(self) -> DescriptorsSettings:
        if self.mode == "production" and self.descriptor_signing_seed.get_secret_value() == DEV_DESCRIPTOR_SEED:
            raise ValueError("REGISTRY_DESCRIPTOR_SIGNING_SEED still holds the development seed; set a real one")
        # This registry's own service token would be valid against its own services: in production
        # a peer is sent only the token that peer issued for this registry.
        tokenless = [p.registry for p in self.peers if p.url and p.token is None] if self.mode == "production" else []
        if tokenless:
            raise ValueError(f"peers {', '.join(tokenless)} have a feed url but no token they issued for this registry")
        return self

    def window_for(self, approach: str | None) -> Window:
        config = self.applicability.get(approach or "") or self.applicability.get("default") or WindowConfig()
        return config.window()

    def signer(self) -> Ed25519Signer:
        seed = hashlib.sha256(b"a6r-descriptors\x00" + self.descriptor_signing_seed.get_secret_value().encode())
        return Ed25519Signer.from_seed(seed.digest())

    def peer(self, registry: str) -> PeerConfig | None:
        return next((p for p in self.peers if p.registry == registry), None)
