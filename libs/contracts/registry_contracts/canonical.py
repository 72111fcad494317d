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

import orjson
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


_MAX_EXACT = 2**53 - 1


class _NeedsReferenceEncoder(Exception):
    """A value on which the fast path could differ from RFC 8785."""


def _fast_plain(obj: Any) -> Any:
    """to_jsonable, refusing what orjson would not write as RFC 8785 does: floats (ES6 number
    formatting), keys beyond the Basic Multilingual Plane (JCS sorts by UTF-16 code units, Python
    by code points), and integers outside the exact range."""
    kind = type(obj)
    # Exact built-in types first, without isinstance (an ABC check per value costs more than the
    # rest of the walk); subclasses and other types take the general path below.
    if kind is str or kind is bool or obj is None:
        return obj
    if kind is dict:
        return {_fast_key(key): _fast_plain(value) for key, value in obj.items()}
    if kind is int:
        if -_MAX_EXACT <= obj <= _MAX_EXACT:
            return obj
        raise _NeedsReferenceEncoder
    if kind is list:
        return [_fast_plain(v) for v in obj]
    if isinstance(obj, str):
        return obj
    if isinstance(obj, int):
        return _fast_plain(int(obj))
    if isinstance(obj, Mapping):
        return {_fast_key(key): _fast_plain(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [_fast_plain(v) for v in obj]
    if isinstance(obj, float):
        raise _NeedsReferenceEncoder
    return _fast_plain(to_jsonable(obj))


def _plain_value(value: Any) -> bool:
    """Whether orjson writes `value` exactly as RFC 8785 does, as it stands (see _fast_plain).
    Loops rather than all() over generators: this runs over every document the registry hashes."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return -_MAX_EXACT <= value <= _MAX_EXACT
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or (not key.isascii() and max(map(ord, key)) > 0xFFFF):
                return False
            if type(item) is not str and not _plain_value(item):
                return False
        return True
    if kind is list:
        for item in value:
            if type(item) is not str and not _plain_value(item):
                return False
        return True
    return False


def _fast_key(key: object) -> str:
    if type(key) is not str or (not key.isascii() and max(map(ord, key)) > 0xFFFF):
        raise _NeedsReferenceEncoder
    return key


def canonical_json(obj: Any) -> bytes:
    """The RFC 8785 (JCS) UTF-8 encoding of `obj`.

    The registry's documents (strings, integers, no floats) take a fast path through orjson (sorted
    keys, compact, UTF-8), whose output is then byte-identical to JCS; anything else goes to the
    reference encoder, which also raises its errors (a test checks both paths agree). Strings that
    are not valid Unicode (lone surrogates) orjson refuses: they take the reference path too."""
    try:
        # Most documents are plain JSON types already: checking costs half of copying them.
        plain = obj if _plain_value(obj) else _fast_plain(obj)
        return orjson.dumps(plain, option=orjson.OPT_SORT_KEYS)
    except (_NeedsReferenceEncoder, orjson.JSONEncodeError):
        return rfc8785.dumps(to_jsonable(obj))


def domain_hash(domain: str, obj: Any) -> bytes:
    """SHA-256 over `domain NUL canonical_json(obj)`: equal JSON under two domains never collides."""
    if not domain or "\x00" in domain:
        raise ValueError("a hash domain must be a non-empty string without NUL characters")
    return hashlib.sha256(domain.encode() + b"\x00" + canonical_json(obj)).digest()


def domain_hash_hex(domain: str, obj: Any) -> str:
    return domain_hash(domain, obj).hex()
