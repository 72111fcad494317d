"""Identity's token signing key and the JWKS that publishes it (with earlier keys, for rotation)."""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc.jwk import KeySet, OKPKey

from identity.settings import IdentitySettings
from registry_platform.auth import ALG, Grant, dev_signing_key, issue_token


def _public(jwk: dict[str, Any]) -> dict[str, Any]:
    key = OKPKey.import_key({k: v for k, v in jwk.items() if k not in ("d", "kid", "alg", "use")})
    public = key.as_dict(private=False)
    public.update(kid=jwk.get("kid") or key.thumbprint(), alg=ALG, use="sig")
    return public


class SigningKeys:
    def __init__(self, current: OKPKey, previous: list[dict[str, Any]] | None = None) -> None:
        self.current = current
        self.kid = current.thumbprint()
        self._previous = [_public(k) for k in previous or []]

    @classmethod
    def from_settings(cls, settings: IdentitySettings) -> SigningKeys:
        seed = settings.signing_seed.get_secret_value()
        if seed:
            raw = hashlib.sha256(b"a6r-identity-signing\x00" + seed.encode()).digest()
            key = OKPKey.import_key(Ed25519PrivateKey.from_private_bytes(raw))
        else:
            key = dev_signing_key(settings.token_secret.get_secret_value())
        return cls(key, settings.previous_public_keys)

    def jwks(self) -> dict[str, Any]:
        """The public keys, each with `kid` = its RFC 7638 thumbprint; the current key first."""
        current = _public(self.current.as_dict(private=False))
        others = [k for k in self._previous if k["kid"] != current["kid"]]
        return {"keys": [current, *others]}

    def key_set(self) -> KeySet:
        return KeySet.import_key_set(self.jwks())  # type: ignore[arg-type]

    def mint(self, subject: str, grants: list[Grant], **claims: Any) -> str:
        return issue_token(self.current, subject, grants, **claims)
