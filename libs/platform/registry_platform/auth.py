"""Access tokens and the authorization decision point every service uses.

Tokens are short-lived JWTs signed with Ed25519 (JOSE alg "Ed25519", RFC 9864's fully specified
name for what older texts call EdDSA). Until the identity service issues them, a development issuer
derives its key from `REGISTRY_TOKEN_SECRET`; the verification below is the real one either way.

Claims: `sub` (the user), `grants` (roles, each optionally scoped to a section, an account or a
cooperative approach: ABAC), and for impersonation an RFC 8693 `act` claim naming the real actor.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OKPKey

from registry_platform.errors import RegistryError

ALG = "Ed25519"
ISSUER = "registry-identity"
AUDIENCE = "registry"
DEFAULT_LIFETIME_SECONDS = 300

REGISTRY_ADMINISTRATOR = "registry_administrator"
SYSTEM_ADMINISTRATOR = "system_administrator"
SECTION_ADMINISTRATOR = "section_administrator"
ACCOUNT_REPRESENTATIVE = "account_representative"
# A registry service acting for the registry itself, e.g. the interop gateway forwarding an
# incoming external transfer (A6R-54).
REGISTRY_SERVICE = "registry_service"
ROLES = frozenset(
    {REGISTRY_ADMINISTRATOR, SYSTEM_ADMINISTRATOR, SECTION_ADMINISTRATOR, ACCOUNT_REPRESENTATIVE, REGISTRY_SERVICE}
)


@dataclass(frozen=True)
class Grant:
    role: str
    section: str | None = None
    account: str | None = None
    cooperative_approach: str | None = None


@dataclass(frozen=True)
class Principal:
    """Who is asking: the user the request acts for, and the real actor when impersonating (A6R-43)."""

    subject: str
    grants: tuple[Grant, ...] = ()
    actor: str | None = None
    amr: tuple[str, ...] = field(default=())

    @property
    def initiator(self) -> str:
        return self.actor or self.subject

    @property
    def on_behalf_of(self) -> str | None:
        return self.subject if self.actor else None

    def has(self, role: str, *, section: str | None = None, account: str | None = None) -> bool:
        """A grant matches when its role matches and its scope (if any) covers the target."""
        for g in self.grants:
            if g.role != role:
                continue
            if g.section is not None and g.section != section:
                continue
            if g.account is not None and g.account != account:
                continue
            return True
        return False

    @property
    def is_registry_administrator(self) -> bool:
        return self.has(REGISTRY_ADMINISTRATOR)


def dev_signing_key(secret: str) -> OKPKey:
    seed = hashlib.sha256(b"registry-dev-issuer\x00" + secret.encode()).digest()
    return OKPKey.import_key(Ed25519PrivateKey.from_private_bytes(seed))


def issue_token(
    key: OKPKey,
    subject: str,
    grants: list[Grant],
    *,
    actor: str | None = None,
    lifetime: int = DEFAULT_LIFETIME_SECONDS,
    now: float | None = None,
) -> str:
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject,
        "iat": issued,
        "exp": issued + lifetime,
        "jti": str(uuid.uuid4()),
        "grants": [{k: v for k, v in vars(g).items() if v is not None} for g in grants],
    }
    if actor:
        claims["act"] = {"sub": actor}
    return jwt.encode({"alg": ALG, "kid": key.thumbprint()}, claims, key, algorithms=[ALG])


class TokenVerifier:
    def __init__(self, keys: KeySet) -> None:
        self._keys = keys
        self._recent: dict[str, tuple[float, Principal]] = {}
        self._claims = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": ISSUER},
            aud={"essential": True, "value": AUDIENCE},
            sub={"essential": True},
            exp={"essential": True},
        )

    @classmethod
    def for_dev_secret(cls, secret: str) -> TokenVerifier:
        public = OKPKey.import_key(dev_signing_key(secret).as_dict(private=False))
        public_dict = public.as_dict()
        public_dict["kid"] = dev_signing_key(secret).thumbprint()
        return cls(KeySet.import_key_set({"keys": [public_dict]}))

    def verify(self, token: str) -> Principal:
        """The principal of a valid token, or 401. A verified token is remembered for a second:
        clients reuse a token across requests, and a second keeps revocations (checked here once
        the identity service publishes them) effective within a second."""
        now = time.monotonic()
        cached = self._recent.get(token)
        if cached is not None and cached[0] > now:
            return cached[1]
        principal = self._verify(token)
        if len(self._recent) > 10_000:
            self._recent.clear()
        self._recent[token] = (now + 1.0, principal)
        return principal

    def _verify(self, token: str) -> Principal:
        try:
            decoded = jwt.decode(token, self._keys, algorithms=[ALG])
            self._claims.validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise RegistryError(401, "invalid_token", f"The access token was refused: {exc}") from exc
        claims = decoded.claims
        grants = []
        for raw in claims.get("grants", []):
            if not isinstance(raw, dict) or raw.get("role") not in ROLES:
                raise RegistryError(401, "invalid_token", "The access token carries an unknown grant.")
            grants.append(Grant(raw["role"], raw.get("section"), raw.get("account"), raw.get("cooperative_approach")))
        act = claims.get("act")
        return Principal(
            subject=str(claims["sub"]),
            grants=tuple(grants),
            actor=str(act["sub"]) if isinstance(act, dict) and "sub" in act else None,
            amr=tuple(claims.get("amr", ())),
        )


async def principal_from(request: Request) -> Principal:
    """FastAPI dependency: the verified principal of a request, or 401. Async, so that FastAPI
    calls it on the event loop instead of handing every request to its thread pool."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise RegistryError(401, "not_authenticated", "Send an access token: 'Authorization: Bearer <token>'.")
    verifier: TokenVerifier = request.app.state.token_verifier
    return verifier.verify(token.strip())
