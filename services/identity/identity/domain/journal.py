"""Identity's own log (A6R-48, A6R-49): one hash chain over every identity operation.

Each entry's hash is SHA-256 over the previous entry's hash and the canonical JSON (RFC 8785) of
the entry, so that an altered, removed or reordered entry breaks every later hash. Entries name
users by id and never carry personal data or secrets: the profile history (which anonymisation may
tombstone) holds the personal data, and entries reference its versions, so anonymising a profile
leaves every log entry, and so the chain, intact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from registry_contracts.canonical import domain_hash

GENESIS = b"\x00" * 32
DOMAIN = "a6r-identity-log"


@dataclass(frozen=True)
class Entry:
    sequence: int
    at: datetime
    kind: str
    actor: str
    on_behalf_of: str | None
    subject: str | None
    data: dict[str, Any]

    def body(self) -> dict[str, Any]:
        return {
            "sequence": self.sequence,
            "at": self.at.astimezone(UTC).isoformat(timespec="microseconds"),
            "kind": self.kind,
            "actor": self.actor,
            "on_behalf_of": self.on_behalf_of,
            "subject": self.subject,
            "data": self.data,
        }


def entry_hash(previous: bytes, entry: Entry) -> bytes:
    return domain_hash(DOMAIN, {"previous": previous.hex(), "entry": entry.body()})


def first_broken(entries: Iterable[tuple[Entry, bytes]]) -> int | None:
    """The sequence of the first entry whose stored hash does not follow the chain, or None."""
    previous = GENESIS
    expected_sequence = 1
    for entry, stored in entries:
        if entry.sequence != expected_sequence or entry_hash(previous, entry) != stored:
            return entry.sequence
        previous = stored
        expected_sequence += 1
    return None
