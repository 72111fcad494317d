"""What every form handler checks first: the fields that must be filled in, and ids in their form."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any


def missing(form: Mapping[str, str], messages: Mapping[str, str]) -> dict[str, str]:
    """{field: message} for each field of `messages` that `form` lacks or leaves empty, in order.

    One rule for "required" keeps the forms alike; the order given is the error summary's order.
    Whitespace is not trimmed here: `Page.form` strips the values before any handler sees them.
    """
    return {name: message for name, message in messages.items() if not form.get(name)}


def is_digits(text: str) -> bool:
    """Whether `text` is ASCII digits 0-9: str.isdigit also takes '²' and other scripts' digits,
    which int() then refuses."""
    return text.isascii() and text.isdigit()


def is_uuid(text: str) -> bool:
    """Whether a field names something by its id (a user, an authorization) in the canonical form."""
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def json_field(text: str) -> Any:
    """A form field holding JSON (a key, a WebAuthn answer); ValueError for anything unreadable,
    deep nesting too (the decoder's RecursionError), so every caller refuses it one way.

    Python's decoder takes more than JSON: NaN, Infinity, numbers too large for a float (1e999)
    and lone surrogates ("\\ud800"). No request to a service can carry them, so they are refused
    here, as unreadable, rather than when the value is sent on.
    """
    try:
        value = json.loads(text)
        # Encoded as a request to a service encodes it: allow_nan=False refuses NaN and Infinity,
        # 1e999 too (read as inf); UTF-8 refuses lone surrogates.
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc
    return value
