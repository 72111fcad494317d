"""Compact JWS (RFC 7515) over a descriptor's RFC 8785 canonical JSON, signed with Ed25519.

The protected header names the algorithm (RFC 9864's fully specified "Ed25519") and the key id (the
key's RFC 7638 thumbprint unless configured), so any JOSE library verifies it, and a receiving
registry looks the key up by `kid` among the keys it registered for the sender.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from registry_contracts.canonical import canonical_json
from registry_contracts.signing import (
    Ed25519Signer,
    KeyRing,
    Signature,
    SignatureInvalid,
    b64url_decode,
    b64url_encode,
    key_ring,
    public_jwk,
)

TYP = "a6r-descriptor+jws"


class MalformedJws(ValueError):
    """Not a compact JWS this registry can read."""


@dataclass(frozen=True)
class Verified:
    kid: str
    payload: dict[str, Any]


def sign(signer: Ed25519Signer, document: Mapping[str, Any]) -> str:
    header = b64url_encode(canonical_json({"alg": signer.alg, "kid": signer.kid, "typ": TYP}))
    payload = b64url_encode(canonical_json(dict(document)))
    signature = signer.sign(f"{header}.{payload}".encode("ascii"))
    return f"{header}.{payload}.{signature.value}"


def header_of(token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedJws("a compact JWS has three dot-separated parts")
    try:
        header = json.loads(b64url_decode(parts[0]))
    except ValueError as exc:
        raise MalformedJws(f"unreadable JWS header: {exc}") from exc
    if not isinstance(header, dict) or not isinstance(header.get("alg"), str) or not isinstance(header.get("kid"), str):
        raise MalformedJws("the JWS header must name 'alg' and 'kid'")
    return header


def verify(token: str, keys: KeyRing) -> Verified:
    """The payload of a JWS that one of `keys` signed; SignatureInvalid or MalformedJws otherwise."""
    header = header_of(token)
    if header.get("crit"):
        raise MalformedJws("critical JWS header extensions are not supported")
    encoded_header, encoded_payload, encoded_signature = token.split(".")
    keys.verify(
        Signature(header["alg"], header["kid"], encoded_signature), f"{encoded_header}.{encoded_payload}".encode()
    )
    try:
        payload = json.loads(b64url_decode(encoded_payload))
    except ValueError as exc:
        raise MalformedJws(f"unreadable JWS payload: {exc}") from exc
    if not isinstance(payload, dict):
        raise MalformedJws("the JWS payload must be a JSON object")
    return Verified(header["kid"], payload)


__all__ = ["MalformedJws", "SignatureInvalid", "Verified", "header_of", "key_ring", "public_jwk", "sign", "verify"]
