"""The identity service's settings (REGISTRY_* environment variables, as every service)."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr, model_validator

from registry_platform.settings import ServiceSettings

# Published in the repository, so only ever acceptable outside production.
DEV_SEALING_SEED = "dev-only-identity-credential-sealing-seed"


class IdentitySettings(ServiceSettings):
    # Seed of the Ed25519 key that signs access tokens. Empty outside production means the
    # development issuer's key (derived from REGISTRY_TOKEN_SECRET), so that every service's default
    # verifier accepts identity's tokens in development and tests.
    signing_seed: SecretStr = SecretStr("")
    # Public JWKs of earlier signing keys, still published in the JWKS during a rotation.
    previous_public_keys: list[dict[str, Any]] = []
    # Seed of the AES-GCM key that seals TOTP secrets at rest.
    sealing_seed: SecretStr = SecretStr(DEV_SEALING_SEED)
    # The URL clients use for this service: the `aud` of external systems' client assertions
    # (RFC 7523) is this plus /oauth/token, or the issuer name.
    public_url: str = "http://127.0.0.1:8101"
    # Where the activation link points (the web UI's activation page).
    activation_url: str = "http://127.0.0.1:8100/activate"
    activation_lifetime_seconds: int = 72 * 3600
    access_token_seconds: int = 300
    impersonation_token_seconds: int = 120
    refresh_token_seconds: int = 3600
    session_max_seconds: int = 12 * 3600
    mfa_challenge_seconds: int = 300
    # argon2id cost (A6R-6): RFC 9106's second recommended option by default; tests lower it.
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    # Roles whose grants only reach tokens minted after a hardware key (WebAuthn) ceremony (A6R-7).
    hardware_key_roles: list[str] = []
    # Login throttling (A6R-6): free failures per client before delays start, and the consecutive
    # failures that lock an account until an administrator unlocks it.
    client_free_failures: int = 5
    client_max_delay_seconds: int = 900
    account_lock_threshold: int = 10
    # Throttling of a registered external system's failed token requests (A6R-8), counted per client
    # id as sign-in failures are per address: free failures, then doubling waits up to the maximum.
    # Never a lock: anyone who knows a client id could otherwise shut its system out for good.
    external_system_free_failures: int = 5
    external_system_max_delay_seconds: int = 300
    # Wrong second factors that end the session they are sent in (at sign-in and at step-up).
    mfa_failures_per_session: int = 5
    # Proxies whose X-Forwarded-For names the real client (the nginx gateway in production).
    trusted_proxies: list[str] = []
    # WebAuthn relying party.
    webauthn_rp_id: str = "localhost"
    webauthn_rp_name: str = "Article 6.2 international registry"
    webauthn_origins: list[str] = ["http://localhost:8100", "http://127.0.0.1:8100"]

    @model_validator(mode="after")
    def _refuse_dev_keys(self) -> IdentitySettings:
        if self.mode == "production":
            if not self.signing_seed.get_secret_value():
                raise ValueError("REGISTRY_SIGNING_SEED is required in production")
            if self.sealing_seed.get_secret_value() == DEV_SEALING_SEED:
                raise ValueError("REGISTRY_SEALING_SEED still holds the development seed; set a real one")
        return self
