"""The journal as published on its topic, held against the database's (A6R-48, A6R-21).

The writer publishes every entry and every checkpoint it signs on the journal topic (one
partition, kept for ever, copied off-site), in the transaction that records them. Whoever can
change the ledger's database cannot change that copy, so `verify --against-topic` holds the
database to it:

- every checkpoint on the topic must be signed by a journal key, and sign the topic's own entries;
- every entry on the topic must be in the database, unchanged: a deleted or rewritten tail, which
  no checkpoint covers yet, is found here, at its first entry;
- every entry and checkpoint in the database must have been published, unless it is among the
  newest, recorded within the grace the outbox relay is given before the topic was read (it
  publishes within milliseconds while it runs).

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ledger.domain.journal import Checkpoint, JournalKeys, MerkleFrontier
from registry_contracts.chain import Break, JournalEntry


@dataclass(frozen=True)
class PublishedJournal:
    """What the journal topic holds: each entry's hash by sequence, each distinct checkpoint, the
    sequences published twice with different hashes (a relay's republication is identical), and
    any record that is not a journal event."""

    entries: Mapping[int, bytes] = field(default_factory=dict)
    checkpoints: Sequence[Checkpoint] = ()
    conflicting: frozenset[int] = frozenset()
    # Records that are no journal event (by offset and why): put there by someone else.
    malformed: Sequence[str] = ()

    @property
    def signed_through(self) -> int:
        return max((c.tree_size for c in self.checkpoints), default=0)


def topic_problem(published: PublishedJournal, keys: JournalKeys) -> Break | None:
    """The topic's own consistency: its records all journal events, its checkpoints signed by a
    journal key (one put there by someone else is named as the topic's, never compared with the
    database's), and its entries the ones they sign."""
    if published.malformed:
        return Break(0, published.malformed[0])
    for checkpoint in published.checkpoints:
        refusal = keys.refusal(checkpoint)
        if refusal is not None:
            return Break(checkpoint.tree_size, f"checkpoint {checkpoint.tree_size} on the journal topic: {refusal}")
    if published.conflicting:
        sequence = min(published.conflicting)
        return Break(sequence, f"entry {sequence} is published twice on the journal topic, differently")
    # One pass over the entries, each checkpoint checked as its size is reached. A topic whose
    # first entries are gone (a broker that lost them) cannot be checked here; the entries it does
    # hold are still compared with the database's, and the lost ones are named (`unpublished`).
    by_size: dict[int, list[Checkpoint]] = {}
    for checkpoint in published.checkpoints:
        by_size.setdefault(checkpoint.tree_size, []).append(checkpoint)
    frontier = MerkleFrontier()
    for sequence in range(1, max(by_size, default=0) + 1):
        entry_hash = published.entries.get(sequence)
        if entry_hash is None:
            break
        frontier.append(entry_hash)
        if any(c.root_hash != frontier.root() for c in by_size.get(sequence, ())):
            return Break(sequence, f"the entries on the journal topic do not match its checkpoint {sequence}")
    return None


def differing_entry(entries: Sequence[JournalEntry], published: PublishedJournal) -> Break | None:
    """The first entry the topic holds that the database lacks or holds otherwise."""
    held = {e.sequence: e.entry_hash for e in entries}
    signed = published.signed_through
    for sequence in sorted(published.entries):
        entry_hash = held.get(sequence)
        if entry_hash is None:
            return Break(sequence, f"entry {sequence}, published on the journal topic, is missing from the database")
        if entry_hash != published.entries[sequence]:
            proof = f" (the published one is signed by checkpoint {signed})" if sequence <= signed else ""
            return Break(sequence, f"entry {sequence} is not the one published on the journal topic{proof}")
    return None


def unpublished(
    entries: Sequence[JournalEntry],
    checkpoints: Sequence[Checkpoint],
    published: PublishedJournal,
    read_at: datetime,
    now: datetime,
    grace: timedelta,
) -> Break | None:
    """The first entry or checkpoint of the database's that should be on the topic and is not.

    `read_at` is when the topic was read and `now` when the database was, by the database's clock;
    the writer, which dates entries and checkpoints by its own, must agree with it within `grace`.
    Named: one older than something published after it (its outbox row was removed, or the topic
    lost it); one recorded more than `grace` before the topic was read (the relay is not
    publishing); and one dated more than `grace` after `now`, which no writer recorded. So no entry
    can stay unpublished for longer than the grace unnamed; a checkpoint, once the topic holds one
    (builds before session 26 published none)."""
    last = max(published.entries, default=0)
    for entry in entries:
        if entry.sequence in published.entries:
            continue
        if entry.sequence < last:
            reason = f"entry {entry.sequence} is not on the journal topic, though later entries are"
            return Break(entry.sequence, reason)
        if entry.recorded_at > now + grace:
            return Break(entry.sequence, f"entry {entry.sequence} is not published and is recorded in the future")
        if entry.recorded_at < read_at - grace:
            return Break(
                entry.sequence,
                f"entry {entry.sequence} is not on the journal topic {read_at - entry.recorded_at} after it was "
                f"recorded (grace {grace}): is the ledger's outbox relay publishing?",
            )
    on_topic = {c.tree_size for c in published.checkpoints}
    # Checkpoints are published since a build of session 26; those signed before the first on the
    # topic were signed by an older build, which published none (their entries it did publish).
    first = min(on_topic, default=None)
    for checkpoint in checkpoints:
        size = checkpoint.tree_size
        if size in on_topic or first is None or size < first:
            continue
        late = checkpoint.signed_at < read_at - grace or checkpoint.signed_at > now + grace
        if size < published.signed_through or late:
            return Break(size, f"checkpoint {size} was never published on the journal topic")
    return None
