"""RFC 8785 canonical JSON and domain-separated SHA-256, the basis of every hash and signature.

Integers beyond +/-(2**53 - 1) are refused by RFC 8785 (they are not exact as JSON numbers);
encode such values (e.g. large serial numbers) as decimal strings before hashing.
"""

import hashlib
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import rfc8785
from pydantic import BaseModel

from registry_contracts.timestamps import iso_utc


def to_jsonable(obj: Any) -> Any:
    """Convert the non-JSON types the registry uses into their canonical JSON form."""
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if isinstance(obj, Mapping):
        return {_key(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, datetime):
        return iso_utc(obj)
    if isinstance(obj, date):
        return obj.isoformat()
    if isinstance(obj, uuid.UUID):
        return str(obj)
    if isinstance(obj, Decimal):
        # A string keeps every digit; a float would not.
        return str(obj)
    if obj is None or isinstance(obj, str | int | float):
        return obj
    raise TypeError(f"cannot canonicalise a {type(obj).__name__}; convert it to JSON types first")


def _key(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f"JSON object keys must be strings, got {type(key).__name__} {key!r}")
    return key


def canonical_json(obj: Any) -> bytes:
    """The RFC 8785 (JCS) UTF-8 encoding of `obj`."""
    return rfc8785.dumps(to_jsonable(obj))


def domain_hash(domain: str, obj: Any) -> bytes:
    """SHA-256 over `domain NUL canonical_json(obj)`: equal JSON under two domains never collides."""
    if not domain or "\x00" in domain:
        raise ValueError("a hash domain must be a non-empty string without NUL characters")
    return hashlib.sha256(domain.encode() + b"\x00" + canonical_json(obj)).digest()


def domain_hash_hex(domain: str, obj: Any) -> str:
    return domain_hash(domain, obj).hex()
