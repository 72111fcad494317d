"""The rules configuration journal: every catalogue, binding and suspension change, hash-chained
(A6R-17: suspensions traceable and auditable; A6R-39: which version was in force when).

Each entry's hash is SHA-256 over the RFC 8785 canonical JSON of (sequence, recorded_at, kind,
body, previous hash), domain-separated, the same construction as the ledger's journal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from registry_contracts.canonical import domain_hash
from registry_contracts.timestamps import iso_utc

ENTRY_DOMAIN = "a6r-registry/rules/configuration-entry/v1"
GENESIS_HASH = bytes(32)


@dataclass(frozen=True)
class JournalEntry:
    sequence: int
    recorded_at: datetime
    kind: str
    body: dict[str, Any]
    previous_hash: bytes
    entry_hash: bytes


def entry_hash(sequence: int, recorded_at: datetime, kind: str, body: dict[str, Any], previous_hash: bytes) -> bytes:
    return domain_hash(
        ENTRY_DOMAIN,
        {
            "sequence": sequence,
            "recorded_at": iso_utc(recorded_at),
            "kind": kind,
            "body": body,
            "previous_hash": previous_hash.hex(),
        },
    )


def next_entry(head: tuple[int, bytes] | None, recorded_at: datetime, kind: str, body: dict[str, Any]) -> JournalEntry:
    sequence, previous = head if head is not None else (0, GENESIS_HASH)
    digest = entry_hash(sequence + 1, recorded_at, kind, body, previous)
    return JournalEntry(sequence + 1, recorded_at, kind, body, previous, digest)


def verify_chain(entries: Iterable[JournalEntry]) -> int | None:
    """The sequence of the first entry that breaks the chain, or None when the chain holds."""
    previous, expected = GENESIS_HASH, 1
    for e in entries:
        if e.sequence != expected or e.previous_hash != previous:
            return e.sequence
        if entry_hash(e.sequence, e.recorded_at, e.kind, e.body, e.previous_hash) != e.entry_hash:
            return e.sequence
        previous, expected = e.entry_hash, expected + 1
    return None
