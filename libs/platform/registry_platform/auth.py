"""Access tokens and the authorization decision point every service uses.

Tokens are short-lived JWTs signed with Ed25519 (JOSE alg "Ed25519", RFC 9864's fully specified
name for what older texts call EdDSA). Until the identity service issues them, a development issuer
derives its key from `REGISTRY_TOKEN_SECRET`; the verification below is the real one either way.

Every service holds that shared secret, so a token signed with its key proves only "some registry
service". Where that is not enough (the interop gateway bringing units in from another registry),
a service signs with a key of its own (`REGISTRY_SERVICE_SECRET`), whose public half the verifying
services list by name (`REGISTRY_SERVICE_KEYS`); such a token proves which service sent it.

Claims: `sub` (the user), `grants` (roles, each optionally scoped to a section, an account or a
cooperative approach: ABAC), and for impersonation an RFC 8693 `act` claim naming the real actor.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jws, jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet, OKPKey

from registry_platform.errors import RegistryError

ALG = "Ed25519"
ISSUER = "registry-identity"
AUDIENCE = "registry"
DEFAULT_LIFETIME_SECONDS = 300

REGISTRY_ADMINISTRATOR = "registry_administrator"
SYSTEM_ADMINISTRATOR = "system_administrator"
SECTION_ADMINISTRATOR = "section_administrator"
# Account roles (A6R-12), each scoped to one account: initiate transactions, approve them, or only look.
ACCOUNT_INITIATOR = "account_initiator"
ACCOUNT_APPROVER = "account_approver"
ACCOUNT_VIEWER = "account_viewer"
# A user of one Party section who may request account openings there (A6R-13).
SECTION_USER = "section_user"
# Read access to the accounts of one cooperative approach (A6R-46).
APPROACH_OBSERVER = "approach_observer"
# A registered external system (A6R-8), narrowly scoped like any other grant.
EXTERNAL_SYSTEM = "external_system"
# A registry service acting for the registry itself, e.g. the interop gateway forwarding an
# incoming external transfer (A6R-54).
REGISTRY_SERVICE = "registry_service"
# The one service that brings units in from other registries; the ledger knows it by its own key.
INTEROP_GATEWAY = "interop-gateway"
# The subject of a service's own token: `service:<name>`, the name its verifiers list its key under.
SERVICE_SUBJECT_PREFIX = "service:"
ACCOUNT_ROLES = frozenset({ACCOUNT_INITIATOR, ACCOUNT_APPROVER, ACCOUNT_VIEWER})
ROLES = frozenset(
    {
        REGISTRY_ADMINISTRATOR,
        SYSTEM_ADMINISTRATOR,
        SECTION_ADMINISTRATOR,
        SECTION_USER,
        APPROACH_OBSERVER,
        EXTERNAL_SYSTEM,
        REGISTRY_SERVICE,
        *ACCOUNT_ROLES,
    }
)


@dataclass(frozen=True)
class Grant:
    role: str
    section: str | None = None
    account: str | None = None
    cooperative_approach: str | None = None
    # Identity's grant id; decision points match suspensions and revocations on it (A6R-51).
    id: str | None = None

    def claim(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v is not None}


@dataclass(frozen=True)
class Principal:
    """Who is asking: the user the request acts for, and the real actor when impersonating (A6R-43)."""

    subject: str
    grants: tuple[Grant, ...] = ()
    actor: str | None = None
    amr: tuple[str, ...] = field(default=())
    # The sign-in session (revocable as a whole) and when its second factor was last proven.
    session: str | None = None
    auth_time: int | None = None
    # Signed with the key every service derives from the shared secret, where that key signs only
    # service tokens (production): never a user's own token, whatever it claims.
    service_key: bool = False
    # The service whose own key signed the token (REGISTRY_SERVICE_KEYS): proven, not claimed.
    service: str | None = None

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


class UnknownSigningKey(RegistryError):
    """A token signed with a key the verifier does not hold: perhaps one identity has published
    since the verifier last read its JWKS (rotation). Refused like any invalid token, unless the
    caller reads the JWKS again and verifies once more (`registry_platform.jwks`)."""

    def __init__(self, kid: str) -> None:
        super().__init__(401, "invalid_token", f"The access token was refused: its signing key {kid!r} is unknown.")


def dev_signing_key(secret: str) -> OKPKey:
    seed = hashlib.sha256(b"registry-dev-issuer\x00" + secret.encode()).digest()
    return OKPKey.import_key(Ed25519PrivateKey.from_private_bytes(seed))


# An Ed25519 public key (32 bytes) in unpadded base64url.
_PUBLIC_KEY = re.compile(r"[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]")


def service_signing_key(secret: str) -> OKPKey:
    """A service's own key, from its REGISTRY_SERVICE_SECRET (domain-separated from the shared key)."""
    seed = hashlib.sha256(b"registry-service-key\x00" + secret.encode()).digest()
    return OKPKey.import_key(Ed25519PrivateKey.from_private_bytes(seed))


def service_public_key(secret: str) -> str:
    """What verifiers list in REGISTRY_SERVICE_KEYS for the service holding `secret`: the key's `x`."""
    return str(service_signing_key(secret).as_dict(private=False)["x"])


def public_service_jwk(name: str, x: str) -> dict[str, Any]:
    """The public JWK of service `name`'s key from its REGISTRY_SERVICE_KEYS entry, or ValueError."""
    if not isinstance(x, str) or not _PUBLIC_KEY.fullmatch(x):
        raise ValueError(
            f"the key of service {name!r} is not an Ed25519 public key: give its 43 base64url characters, "
            "unpadded, as `python -m registry_platform.service_keys` prints them"
        )
    key = OKPKey.import_key({"kty": "OKP", "crv": "Ed25519", "x": x})
    return {**key.as_dict(), "kid": key.thumbprint()}


def issue_token(
    key: OKPKey,
    subject: str,
    grants: list[Grant],
    *,
    actor: str | None = None,
    session: str | None = None,
    auth_time: int | None = None,
    amr: tuple[str, ...] = ("pwd", "otp"),
    acr: str = "mfa",
    lifetime: int = DEFAULT_LIFETIME_SECONDS,
    now: float | None = None,
) -> str:
    """Mint an access token. `auth_time` defaults to the issuing instant: a token minted right
    after a second factor was proven."""
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject,
        "iat": issued,
        "exp": issued + lifetime,
        "jti": str(uuid.uuid4()),
        "auth_time": issued if auth_time is None else auth_time,
        "amr": list(amr),
        "acr": acr,
        "grants": [g.claim() for g in grants],
    }
    if session:
        claims["sid"] = session
    if actor:
        claims["act"] = {"sub": actor}
    return jwt.encode({"alg": ALG, "kid": key.thumbprint()}, claims, key, algorithms=[ALG])


class TokenVerifier:
    def __init__(
        self,
        keys: KeySet,
        *,
        shared_key_roles: frozenset[str] | None = None,
        service_keys: Mapping[str, str] | None = None,
    ) -> None:
        self._own_kids = {k["kid"] for k in keys.as_dict()["keys"] if "kid" in k}
        # kid -> service name, for the services whose own keys this verifier lists.
        self._service_kids: dict[str, str] = {}
        own: list[dict[str, Any]] = list(keys.as_dict()["keys"])
        for name, x in (service_keys or {}).items():
            jwk = public_service_jwk(name, x)
            self._service_kids[jwk["kid"]] = name
            own.append(jwk)
        self._own = KeySet.import_key_set({"keys": own})
        self._keys = self._own
        # In production the key derived from the shared secret signs service tokens only: every
        # service holds that secret, so a user's role signed with it would be a forgery.
        self._shared_key_roles = shared_key_roles
        self._recent: dict[str, tuple[float, Principal]] = {}
        self._claims = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": ISSUER},
            aud={"essential": True, "value": AUDIENCE},
            sub={"essential": True},
            exp={"essential": True},
        )

    @classmethod
    def for_dev_secret(
        cls,
        secret: str,
        *,
        shared_key_roles: frozenset[str] | None = None,
        service_keys: Mapping[str, str] | None = None,
    ) -> TokenVerifier:
        public = OKPKey.import_key(dev_signing_key(secret).as_dict(private=False))
        public_dict = public.as_dict()
        public_dict["kid"] = dev_signing_key(secret).thumbprint()
        return cls(
            KeySet.import_key_set({"keys": [public_dict]}), shared_key_roles=shared_key_roles, service_keys=service_keys
        )

    def trust(self, jwks: dict[str, Any]) -> None:
        """Accept the keys of identity's JWKS besides this verifier's own (rotation adds keys there)."""
        keys = [*self._own.as_dict()["keys"], *jwks.get("keys", [])]
        self._keys = KeySet.import_key_set({"keys": keys})

    def verify(self, token: str) -> Principal:
        """The principal of a valid token, or 401. A verified token is remembered for a second (or
        until it expires, if sooner): clients reuse a token across requests, and a second keeps
        revocations (checked here once the identity service publishes them) effective within a second."""
        now = time.monotonic()
        cached = self._recent.get(token)
        if cached is not None and cached[0] > now:
            return cached[1]
        principal, expires = self._verify(token)
        if len(self._recent) > 10_000:
            self._recent.clear()
        self._recent[token] = (now + min(1.0, expires - time.time()), principal)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            decoded = jwt.decode(token, self._keys, algorithms=[ALG])
            # A token names its key: without `kid` a one-key set verifies with its only key, and the
            # shared key's production limit below could not tell which key that was.
            if not isinstance(decoded.header.get("kid"), str):
                raise ValueError("the token names no key (kid)")
            self._claims.validate(decoded.claims)
        except InvalidKeyIdError as exc:
            kid = jws.extract_compact(token.encode()).headers().get("kid")
            if isinstance(kid, str):
                raise UnknownSigningKey(kid) from exc
            raise RegistryError(401, "invalid_token", "The access token was refused: it names no key (kid).") from exc
        # Not only JoseError: joserfc raises TypeError and others on some malformed headers.
        except (JoseError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise RegistryError(401, "invalid_token", f"The access token was refused: {exc}") from exc
        claims = decoded.claims
        grants = []
        for raw in claims.get("grants", []):
            if not isinstance(raw, dict) or raw.get("role") not in ROLES:
                raise RegistryError(401, "invalid_token", "The access token carries an unknown grant.")
            grants.append(
                Grant(
                    raw["role"], raw.get("section"), raw.get("account"), raw.get("cooperative_approach"), raw.get("id")
                )
            )
        kid = decoded.header["kid"]
        limited_to = self._shared_key_roles
        service_key = limited_to is not None and kid in self._own_kids
        if limited_to is not None and service_key and any(g.role not in limited_to for g in grants):
            raise RegistryError(401, "invalid_token", "A service token may carry only a registry service's role.")
        service = self._service_kids.get(kid)
        # A service's own key vouches for that service only, only as a registry service, and for
        # no one else (no impersonation, no user's session).
        if service is not None and (
            claims["sub"] != SERVICE_SUBJECT_PREFIX + service
            or any(g.role != REGISTRY_SERVICE for g in grants)
            or "act" in claims
            or "sid" in claims
        ):
            raise RegistryError(
                401, "invalid_token", f"The key of service {service} signs only that service's own service tokens."
            )
        act = claims.get("act")
        auth_time = claims.get("auth_time")
        principal = Principal(
            subject=str(claims["sub"]),
            grants=tuple(grants),
            actor=str(act["sub"]) if isinstance(act, dict) and "sub" in act else None,
            amr=tuple(claims.get("amr", ())),
            session=str(claims["sid"]) if claims.get("sid") else None,
            auth_time=int(auth_time) if isinstance(auth_time, int | float) else None,
            service_key=service_key,
            service=service,
        )
        return principal, float(claims["exp"])


class ServiceTokens:
    """Access tokens one registry service presents to another (role `registry_service`), renewed
    before expiry. Signed with the service's own key when it has one (`own_secret`, then the subject
    is `service:<name>`), else with the key every service derives from REGISTRY_TOKEN_SECRET."""

    def __init__(
        self, secret: str, subject: str, lifetime: int = DEFAULT_LIFETIME_SECONDS, *, own_secret: str | None = None
    ) -> None:
        self._key = service_signing_key(own_secret) if own_secret else dev_signing_key(secret)
        self._subject = subject
        self._lifetime = lifetime
        self._current: tuple[float, str] | None = None

    @classmethod
    def of_service(cls, settings: Any) -> ServiceTokens:
        """The tokens service `settings.service_name` presents: signed with its own key when it has
        one (REGISTRY_SERVICE_SECRET), else with the shared key."""
        own = settings.service_secret.get_secret_value() if settings.service_secret is not None else None
        return cls(
            settings.token_secret.get_secret_value(), SERVICE_SUBJECT_PREFIX + settings.service_name, own_secret=own
        )

    def bearer(self) -> str:
        now = time.time()
        if self._current is None or self._current[0] < now + 30:
            token = issue_token(self._key, self._subject, [Grant(REGISTRY_SERVICE)], lifetime=self._lifetime, now=now)
            self._current = (now + self._lifetime, token)
        return self._current[1]
