"""Keyset cursors of listings ordered by an instant and a unique id (newest first, ties by id).

A page's `next` is the position of its last item, opaque to clients: base64url of the JSON array
[instant, id]. A cursor no page gave is refused as `bad_cursor` (422), never read as a position.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from registry_contracts.signing import b64url_decode, b64url_encode
from rules.domain.validation import RuleRefused

Position = tuple[datetime, uuid.UUID]

BAD_CURSOR = "'after' must be the 'next' value of a previous page; leave it out to start from the newest."


def cursor(at: datetime, item_id: uuid.UUID | str) -> str:
    return b64url_encode(json.dumps([at.isoformat(), str(item_id)]).encode())


def position(after: str) -> Position:
    """The position a cursor names; RuleRefused bad_cursor for anything a page did not give."""
    try:
        at, item_id = json.loads(b64url_decode(after))
        found = datetime.fromisoformat(at), uuid.UUID(item_id)
        # Only what cursor() writes (fromisoformat alone passes a trailing NUL), and with an
        # offset: PostgreSQL would read an instant without one in its own time zone.
        if cursor(*found) != after or found[0].tzinfo is None:
            raise ValueError("not a cursor this listing gave")
        return found
    # RecursionError: a deeply nested array, which no page ever gave.
    except (ValueError, TypeError, AttributeError, RecursionError) as exc:
        raise RuleRefused("bad_cursor", BAD_CURSOR) from exc
