"""Service settings, read from REGISTRY_* environment variables.

Every service uses the same settings class; a service's own options go into a subclass. Outside
development mode the settings refuse to start with the well-known development secrets, so a
misconfigured production deployment fails loudly instead of signing with a public key.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from registry_platform.auth import public_service_jwk
from registry_platform.db import Timeouts

# Published in the repository, so only ever acceptable in development mode.
DEV_TOKEN_SECRET = "dev-only-token-signing-seed-do-not-use-in-production"  # noqa: S105


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REGISTRY_", extra="ignore")

    # Production unless told otherwise: a deployment that leaves REGISTRY_MODE out must not get the
    # development rules (the published secret, any role signed with the shared key).
    mode: Literal["dev", "test", "production"] = "production"
    service_name: str = "unnamed"
    database_url: str = "postgresql+psycopg://registry@127.0.0.1:25432/registry"
    # The URL of the schema's owner, where the service migrates its schema at start (`make up`, the
    # tests); the service then runs as `database_url`'s role, which the owner grants the rows of its
    # tables and nothing more. Unset in production: a migration job does it (registry_platform.migrate),
    # so a running service never holds credentials that could alter its tables.
    migration_database_url: SecretStr | None = None
    kafka_bootstrap: str = "127.0.0.1:29092"
    # Prefix of every topic this service declares, produces to and consumes from; tests give each
    # test its own prefix so that they never see each other's events.
    topic_prefix: str = "registry"
    # Replication factor of the topics a service declares: 1 on the local single broker, 3 in production.
    topic_replication_factor: int = 1
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # Seed of the development token issuer's Ed25519 key (until identity issues tokens).
    token_secret: SecretStr = SecretStr(DEV_TOKEN_SECRET)
    # Seed of this service's own signing key, for the calls that must prove which service sent them
    # (the interop gateway's incoming transfers). Unset: service tokens use the shared key only.
    service_secret: SecretStr | None = None
    # The services whose own keys this service trusts: JSON {"interop-gateway": "<public key x>"}
    # (`python -m registry_platform.service_keys` makes a secret and prints its public key).
    service_keys: dict[str, str] = {}
    # URL of the JWKS that access tokens are verified against; empty means the dev issuer's key.
    jwks_url: str = ""
    # A token naming a key not seen yet has the JWKS read again at once (identity rotated its key),
    # but at most once in this many seconds: made-up key ids must not make a service hammer identity.
    jwks_unknown_key_interval_seconds: float = 5.0
    # How long published outbox rows are kept, so that a restarted in-memory broker can be refilled.
    outbox_retention_seconds: int = 7 * 24 * 3600
    outbox_poll_interval_seconds: float = 0.05
    heartbeat_interval_seconds: float = 30.0
    # How long a starting service waits to have read identity's withdrawals before serving.
    access_feed_wait_seconds: float = 30.0
    # A consumer retrying one event (a service or the database away) longer than this is named in
    # `/ready`: the events behind it on its partition wait meanwhile.
    consumer_stuck_after_seconds: float = 60.0
    # PostgreSQL's limits on every session of the service's engine (0: none), so a stuck query or a
    # transaction a defect left open cannot hold its locks, and whatever waits behind them, for
    # ever. A statement: no request or background step needs more than a fraction of a second
    # (A6R-36), and no client waits 30 s for an answer (the gateway's and the web's backend
    # timeouts are 30 s and 15 s). A lock wait: the registry's locks are held for one short
    # transaction each; kept below the statement limit so a wait is reported as one. Idle in a
    # transaction: the longest a transaction waits on something else is a call to another service
    # made inside it (the rules' call to descriptors, descriptors' to the ledger: 5 s timeouts).
    # What waits or runs long by design lifts them for its own transaction (`db.lift_timeouts`).
    db_statement_timeout_seconds: float = Field(default=30.0, ge=0)
    db_lock_timeout_seconds: float = Field(default=10.0, ge=0)
    db_idle_in_transaction_timeout_seconds: float = Field(default=60.0, ge=0)
    log_level: str = "INFO"
    otel_exporter_otlp_endpoint: str = ""

    @field_validator("service_keys")
    @classmethod
    def _valid_service_keys(cls, keys: dict[str, str]) -> dict[str, str]:
        for name, x in keys.items():
            public_service_jwk(name, x)
        return keys

    @model_validator(mode="after")
    def _refuse_dev_secrets(self) -> ServiceSettings:
        if self.mode == "production" and self.token_secret.get_secret_value() == DEV_TOKEN_SECRET:
            raise ValueError(
                "REGISTRY_TOKEN_SECRET still holds the development secret; set a real secret for production, "
                "or REGISTRY_MODE=dev on a development machine"
            )
        # Every service holds the shared secret: a service key derived from it proves nothing.
        if self.service_secret is not None and self.service_secret.get_secret_value() in (
            self.token_secret.get_secret_value(),
            "",
        ):
            raise ValueError("REGISTRY_SERVICE_SECRET must be a secret of this service's own, not the shared one")
        return self

    @property
    def db_schema(self) -> str:
        """Each service owns exactly one PostgreSQL schema, named after it."""
        return self.service_name.replace("-", "_")

    @property
    def owner_url(self) -> str | None:
        return self.migration_database_url.get_secret_value() if self.migration_database_url else None

    @property
    def db_timeouts(self) -> Timeouts:
        return Timeouts(
            statement=self.db_statement_timeout_seconds,
            lock=self.db_lock_timeout_seconds,
            idle_in_transaction=self.db_idle_in_transaction_timeout_seconds,
        )

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}.{name}"
