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
    deep nesting too (the decoder's RecursionError), so every caller refuses it one way."""
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc
