"""Client retries of creating requests: one record per `Idempotency-Key`, whatever the repeats.

A caller names a creating request with a key of its choice. The first request with a key makes
the record; a repeat (same caller, key and request) gets the first answer again; the key sent
with a different request is refused (409 idempotency_key_reused), as the ledger refuses a
transaction id used for another transaction. Keys are the caller's own: another caller's key
never answers for, nor blocks, this caller's requests. A key holds for a retention period
(`idempotency_key_retention_seconds`): a request with it after that makes a new record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from rules.domain.validation import RuleRefused

# Printable ASCII without spaces, as the header's value is compared byte for byte.
KEY_PATTERN = r"^[!-~]{1,255}$"
# Long past any client's retries, short enough that the keys kept stay few.
RETENTION = timedelta(days=7)


@dataclass(frozen=True)
class KeyedRequest:
    caller: str
    key: str
    digest: bytes


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    replayed: bool = False


def request_digest(operation: str, on_behalf_of: str | None, body: Mapping[str, Any]) -> bytes:
    """What a repeat must match: the operation (method and path), whom it acts for, the body as
    parsed (so key order and whitespace do not matter). Plain sorted JSON rather than RFC 8785:
    the digest is taken before validation, and RFC 8785 has no integers beyond 2**53 - 1, which
    validation refuses later with a clearer message."""
    document = {"operation": operation, "on_behalf_of": on_behalf_of, "body": body}
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).digest()


def repeat(request: KeyedRequest, stored_digest: bytes, status: int, body: Any) -> Answer:
    """The first answer for a repeat of its request; 409 for a key reused with another request."""
    if stored_digest != request.digest:
        raise RuleRefused(
            "idempotency_key_reused",
            f"Idempotency-Key {request.key!r} was already used for a different request; repeat that request "
            "exactly to get its answer again, or send this one with a new key.",
            409,
        )
    return Answer(status, body, replayed=True)
