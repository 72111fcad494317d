"""Hash chains: the tamper-evident logs the services keep (A6R-48).

An entry's hash is `domain_hash(domain, framed)`, where `framed` joins the entry's content to the
previous entry's hash: changing, removing, inserting or reordering any entry breaks the chain at
that entry. Each log has its own domain, so equal content never hashes equal in two logs.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from registry_contracts.canonical import domain_hash
from registry_contracts.timestamps import iso_utc

GENESIS_HASH = bytes(32)


@dataclass(frozen=True)
class Chain:
    """One log's hashing rule: its domain, and where the previous hash sits in the hashed JSON.

    Without `content_key` the previous hash is one more field beside the content's own; with it,
    the content nests under that key. Both layouts exist in stored logs, so both stay."""

    domain: str
    previous_key: str = "previous_hash"
    content_key: str | None = None

    def hash(self, content: Mapping[str, Any], previous_hash: bytes) -> bytes:
        previous = {self.previous_key: previous_hash.hex()}
        if self.content_key is not None:
            return domain_hash(self.domain, {**previous, self.content_key: content})
        if self.previous_key in content:
            raise ValueError(f"entry content may not carry the chain's own field {self.previous_key!r}")
        return domain_hash(self.domain, {**content, **previous})


@dataclass(frozen=True)
class Link:
    """A stored entry as a verifier sees it; `previous_hash` is None where a log does not store it."""

    sequence: int
    content: Mapping[str, Any]
    entry_hash: bytes
    previous_hash: bytes | None = None


@dataclass(frozen=True)
class Break:
    """The first thing wrong with a chain; `sequence` is the position (from 1) where it breaks."""

    sequence: int
    reason: str


@dataclass
class ChainCursor:
    """The last verified entry, where the next one must attach."""

    chain: Chain
    sequence: int = 0
    last_hash: bytes = GENESIS_HASH

    def follow(self, link: Link) -> Break | None:
        """Step over `link`, or say why it cannot be the next entry (and stay put)."""
        expected = self.sequence + 1
        if link.sequence > expected:
            return Break(expected, f"entry {expected} is missing (found {link.sequence} next)")
        if link.sequence < expected:
            return Break(expected, f"entry {link.sequence} is out of order or repeated (expected {expected})")
        if link.previous_hash is not None and link.previous_hash != self.last_hash:
            return Break(expected, "previous_hash does not match the hash of the entry before it")
        try:
            digest = self.chain.hash(link.content, self.last_hash)
        except (ValueError, TypeError) as exc:
            # Nothing the writer hashed can fail to hash again (an integer beyond 2**53, a float
            # that is not finite, the chain's own field, content that is not an object): the
            # stored entry was altered.
            return Break(expected, f"content cannot be hashed as it was written (altered): {exc}")
        if digest != link.entry_hash:
            return Break(expected, "content does not match its entry_hash (altered)")
        self.sequence, self.last_hash = expected, link.entry_hash
        return None


def first_break(chain: Chain, links: Iterable[Link]) -> Break | None:
    cursor = ChainCursor(chain)
    for link in links:
        broken = cursor.follow(link)
        if broken is not None:
            return broken
    return None


def _journal_content(sequence: int, recorded_at: datetime, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"sequence": sequence, "recorded_at": iso_utc(recorded_at), "kind": kind, "body": body}


@dataclass(frozen=True)
class JournalEntry:
    """An entry of a journal of typed changes (`kind` and `body`), as the ledger and rules keep."""

    sequence: int
    recorded_at: datetime
    kind: str
    body: dict[str, Any]
    previous_hash: bytes
    entry_hash: bytes

    def link(self) -> Link:
        content = _journal_content(self.sequence, self.recorded_at, self.kind, self.body)
        return Link(self.sequence, content, self.entry_hash, self.previous_hash)


@dataclass
class JournalHead:
    """Where a journal's next entry goes; each journal subclasses it to set its `chain`."""

    chain: ClassVar[Chain]
    sequence: int = 0
    last_hash: bytes = GENESIS_HASH

    def append(self, recorded_at: datetime, kind: str, body: dict[str, Any]) -> JournalEntry:
        sequence = self.sequence + 1
        digest = self.chain.hash(_journal_content(sequence, recorded_at, kind, body), self.last_hash)
        entry = JournalEntry(sequence, recorded_at, kind, body, self.last_hash, digest)
        self.sequence, self.last_hash = sequence, digest
        return entry
