"""The web service's settings (REGISTRY_* environment variables, as every service).

`make up` sets REGISTRY_<SERVICE>_URL for every service (registry_platform.devstack.stack), so the
backend-for-frontend finds identity, the ledger, descriptors and reporting through `identity_url`,
`ledger_url`, `descriptors_url` and `reporting_url`.
"""

from __future__ import annotations

import hashlib
import hmac

from pydantic import model_validator

from registry_platform.settings import ServiceSettings


class WebSettings(ServiceSettings):
    # The web service is a backend-for-frontend: it reaches the other services over HTTP only.
    reporting_url: str = "http://127.0.0.1:8107"
    identity_url: str = "http://127.0.0.1:8101"
    ledger_url: str = "http://127.0.0.1:8102"
    descriptors_url: str = "http://127.0.0.1:8104"
    # Secure cookies need https; None means Secure except in the dev and test modes, which serve
    # plain http://127.0.0.1. Production refuses False.
    cookie_secure: bool | None = None
    # Server-side sessions: ended after this long without a request, and after this long in any case.
    session_idle_seconds: int = 30 * 60
    session_absolute_seconds: int = 12 * 3600
    # A visitor without a session gets a CSRF cookie this long-lived (security.py); a page with a form
    # renews it when less than half is left, so a form shown stays good for at least half of it.
    anonymous_csrf_seconds: int = 2 * 3600
    # A signed-in page re-reads the user's grants (through a refresh) when the access token is older.
    grants_refresh_seconds: int = 60
    backend_timeout_seconds: float = 15.0

    @model_validator(mode="after")
    def _secure_in_production(self) -> WebSettings:
        if self.mode == "production" and self.cookie_secure is False:
            raise ValueError("REGISTRY_COOKIE_SECURE=false is refused in production: the session cookie needs https")
        return self

    @property
    def csrf_key(self) -> bytes:
        """The key of anonymous visitors' CSRF tokens: from the token secret (refused in production
        while it is the published development one), separated from its other uses."""
        secret = self.token_secret.get_secret_value().encode()
        return hmac.new(secret, b"registry web: anonymous CSRF tokens", hashlib.sha256).digest()

    @property
    def secure_cookies(self) -> bool:
        return self.cookie_secure if self.cookie_secure is not None else self.mode not in ("dev", "test")
