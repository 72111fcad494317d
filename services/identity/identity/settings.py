"""The identity service's settings (REGISTRY_* environment variables, as every service)."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr, model_validator

from registry_platform.settings import ServiceSettings

# Published in the repository, so only ever acceptable outside production.
DEV_SEALING_SEED = "dev-only-identity-credential-sealing-seed"


def _local_host(host: str | None) -> bool:
    """Whether a host name only ever means the machine itself (the development defaults do)."""
    host = (host or "").strip("[]").rstrip(".").lower()
    if not host or host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _development_url(url: str) -> bool:
    """A URL browsers cannot use for this registry in production: a local host, or not HTTPS
    (security keys work over HTTPS only, and an activation link's token must not travel in clear)."""
    parts = urlsplit(url)
    return parts.scheme != "https" or _local_host(parts.hostname)


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
            self._refuse_development_addresses()
        return self

    def _refuse_development_addresses(self) -> None:
        """Activation links (A6R-4), security keys (A6R-7) and external systems' token audience
        (A6R-8) name the address people reach the registry at, never this machine's."""
        wrong = [
            f"REGISTRY_{name.upper()}={value!r}"
            for name, value, development in (
                ("public_url", self.public_url, _development_url(self.public_url)),
                ("activation_url", self.activation_url, _development_url(self.activation_url)),
                ("webauthn_rp_id", self.webauthn_rp_id, _local_host(self.webauthn_rp_id)),
                (
                    "webauthn_origins",
                    self.webauthn_origins,
                    not self.webauthn_origins or any(_development_url(o) for o in self.webauthn_origins),
                ),
            )
            if development
        ]
        if wrong:
            raise ValueError(
                f"{', '.join(wrong)}: development values (a local host or not https) are refused in "
                "production; set them to the gateway's public https address (docker-compose.yml derives "
                "them from REGISTRY_PUBLIC_HOST)"
            )
