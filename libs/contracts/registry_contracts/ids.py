"""Identifiers chosen by the client, so that retries and replays carry the same id."""

import uuid

from uuid6 import uuid7


def new_event_id() -> uuid.UUID:
    """A UUIDv7: time-ordered, so ids of events sort by creation and index well in PostgreSQL."""
    return uuid.UUID(int=uuid7().int)
