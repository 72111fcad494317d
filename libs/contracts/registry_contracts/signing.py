"""Signatures that name their algorithm and key, so stored records outlive any one algorithm.

Adding an algorithm (e.g. ML-DSA) is one entry in ALGORITHMS and a Signer for it; records
signed earlier keep verifying because each signature says how it was made.
"""

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from registry_contracts.canonical import canonical_json

_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


class SignatureInvalid(ValueError):
    """The signature does not prove that the named key signed this message."""


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict inverse of b64url_encode: padding, stray characters or non-canonical text are refused."""
    if not _B64URL.match(text) or len(text) % 4 == 1:
        raise ValueError(f"not unpadded base64url: {text[:40]!r}")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError(f"not unpadded base64url: {text[:40]!r}") from exc
    if b64url_encode(data) != text:
        # Unused trailing bits set: two texts for one value would break signature comparison.
        raise ValueError(f"non-canonical base64url: {text[:40]!r}")
    return data


@dataclass(frozen=True)
class Algorithm:
    name: str
    # Raises on a bad signature; whatever it raises is reported as SignatureInvalid.
    verify: Callable[[bytes, bytes, bytes], None]
    # The public key as an RFC 7517 JWK, whose RFC 7638 thumbprint is the default kid.
    jwk: Callable[[bytes], dict[str, str]]


def _ed25519_verify(public_key: bytes, signature: bytes, message: bytes) -> None:
    Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)


def _ed25519_jwk(public_key: bytes) -> dict[str, str]:
    return {"crv": "Ed25519", "kty": "OKP", "x": b64url_encode(public_key)}


ED25519 = "Ed25519"  # the fully-specified JOSE name (RFC 9864), not the ambiguous "EdDSA"
ALGORITHMS: dict[str, Algorithm] = {
    ED25519: Algorithm(ED25519, _ed25519_verify, _ed25519_jwk),
}


def _algorithm(name: str) -> Algorithm:
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise SignatureInvalid(f"unsupported signature algorithm {name!r}") from None


def key_id(alg: str, public_key: bytes) -> str:
    """RFC 7638 thumbprint: base64url SHA-256 of the key's required JWK members, canonically encoded."""
    # RFC 8785 output for these string-only members is exactly RFC 7638's required form.
    return b64url_encode(hashlib.sha256(canonical_json(_algorithm(alg).jwk(public_key))).digest())


@dataclass(frozen=True)
class Signature:
    alg: str
    kid: str
    value: str  # base64url, unpadded

    def to_dict(self) -> dict[str, str]:
        return {"alg": self.alg, "kid": self.kid, "value": self.value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        if set(data) != {"alg", "kid", "value"} or not all(isinstance(v, str) for v in data.values()):
            raise SignatureInvalid('a signature is exactly {"alg", "kid", "value"}, all strings')
        return cls(alg=data["alg"], kid=data["kid"], value=data["value"])


class Signer(Protocol):
    @property
    def alg(self) -> str: ...

    @property
    def kid(self) -> str: ...

    def sign(self, message: bytes) -> Signature: ...


class Verifier(Protocol):
    def verify(self, signature: Signature, message: bytes) -> None: ...


@dataclass(frozen=True)
class PublicKey:
    alg: str
    kid: str
    key: bytes


class Ed25519Signer:
    alg = ED25519

    def __init__(self, private_key: Ed25519PrivateKey, kid: str | None = None) -> None:
        self._private_key = private_key
        self.public_key_bytes = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.kid = kid if kid is not None else key_id(ED25519, self.public_key_bytes)

    @classmethod
    def from_seed(cls, seed: bytes, kid: str | None = None) -> Self:
        """From the raw 32-byte private key (RFC 8032 seed)."""
        if len(seed) != 32:
            raise ValueError(f"an Ed25519 seed is 32 bytes, got {len(seed)}")
        return cls(Ed25519PrivateKey.from_private_bytes(seed), kid)

    @classmethod
    def generate(cls, kid: str | None = None) -> Self:
        return cls(Ed25519PrivateKey.generate(), kid)

    def public_key(self) -> PublicKey:
        return PublicKey(alg=self.alg, kid=self.kid, key=self.public_key_bytes)

    def sign(self, message: bytes) -> Signature:
        return Signature(alg=self.alg, kid=self.kid, value=b64url_encode(self._private_key.sign(message)))


class KeyRing:
    """The public keys a party trusts, by kid; a Verifier."""

    def __init__(self, keys: Iterable[PublicKey] = ()) -> None:
        self._keys: dict[str, PublicKey] = {}
        for key in keys:
            self.add(key)

    def add(self, key: PublicKey) -> None:
        _algorithm(key.alg)
        if key.kid in self._keys and self._keys[key.kid] != key:
            raise ValueError(f"kid {key.kid!r} is already bound to another key")
        self._keys[key.kid] = key

    def verify(self, signature: Signature, message: bytes) -> None:
        """Return if `signature` is valid for `message`; raise SignatureInvalid otherwise."""
        key = self._keys.get(signature.kid)
        if key is None:
            raise SignatureInvalid(f"unknown key id {signature.kid!r}")
        if signature.alg != key.alg:
            # Never let the signature choose how its key is used.
            raise SignatureInvalid(f"key {key.kid!r} is for {key.alg}, signature says {signature.alg}")
        try:
            raw = b64url_decode(signature.value)
            _algorithm(key.alg).verify(key.key, raw, message)
        except (InvalidSignature, ValueError) as exc:
            raise SignatureInvalid(f"signature by {key.kid!r} does not verify") from exc


def public_jwk(signer: Ed25519Signer) -> dict[str, str]:
    """The signer's public key as a JWK (RFC 8037), to publish for those who verify its signatures."""
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(signer.public_key_bytes), "kid": signer.kid,
            "alg": ED25519, "use": "sig"}  # fmt: skip


def key_from_jwk(jwk: Mapping[str, Any]) -> PublicKey:
    """A published Ed25519 JWK; its kid defaults to the RFC 7638 thumbprint."""
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(jwk.get("x"), str):
        raise ValueError("keys are OKP Ed25519 JWKs with 'x'")
    raw = b64url_decode(jwk["x"])
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return PublicKey(ED25519, str(jwk.get("kid") or key_id(ED25519, raw)), raw)


def key_ring(jwks: Iterable[Mapping[str, Any]]) -> KeyRing:
    return KeyRing(key_from_jwk(j) for j in jwks)
