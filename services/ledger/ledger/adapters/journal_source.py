"""Reading the journal back: from the ledger's own table, or from the journal topic."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger.domain.journal import Checkpoint, JournalEntry, TailEntry
from ledger.domain.publication import PublishedJournal
from registry_contracts.chain import GENESIS_HASH
from registry_contracts.envelope import EventEnvelope
from registry_contracts.events.registry import UnknownEventType, validate_payload
from registry_contracts.signing import Signature
from registry_contracts.timestamps import as_utc


async def entries_from_database(
    engine: AsyncEngine, through: int, page: int = 5000, after: int = 0
) -> AsyncIterator[JournalEntry]:
    """The journal's entries after sequence `after` up to `through`, read a page at a time, each page
    in a short transaction of its own: a replay of hours holds no snapshot of the live database
    (which would hold back its vacuum). Entries never change, so pages read at different times make
    one journal."""
    while after < through:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT sequence, recorded_at, kind, body, previous_hash, entry_hash FROM journal "
                        "WHERE sequence > :after AND sequence <= :through ORDER BY sequence LIMIT :page"
                    ),
                    {"after": after, "through": through, "page": page},
                )
            ).all()
        if not rows:
            return
        for row in rows:
            yield JournalEntry(row[0], row[1], row[2], row[3], bytes(row[4]), bytes(row[5]))
        after = rows[-1][0]


async def entries_in(conn: AsyncConnection) -> AsyncIterator[JournalEntry]:
    result = await conn.stream(
        text("SELECT sequence, recorded_at, kind, body, previous_hash, entry_hash FROM journal ORDER BY sequence")
    )
    async for row in result:
        yield JournalEntry(row[0], row[1], row[2], row[3], bytes(row[4]), bytes(row[5]))


async def checkpoints_in(conn: AsyncConnection) -> list[Checkpoint]:
    rows = await conn.execute(
        text("SELECT tree_size, root_hash, signature, signed_at FROM journal_checkpoints ORDER BY tree_size")
    )
    # In UTC, as published: aware instants of two zones compare unequal in a repeated hour (PEP 495).
    return [Checkpoint(r[0], bytes(r[1]), as_utc(r[3]), Signature.from_dict(r[2])) for r in rows]


# Where the writer's seals begin: at the first sealed entry, or at 1 for a journal that was empty
# when the seals came (migration 0010). None: no entry was ever sealed (recorded before the seals).
SEALED_FROM_SQL = (
    "SELECT min(s) FROM (SELECT min(sequence) AS s FROM journal_sealed_from "
    "UNION ALL SELECT min(sequence) FROM journal WHERE seal IS NOT NULL) AS starts"
)


async def tail_in(conn: AsyncConnection, after: int) -> tuple[list[JournalEntry], list[TailEntry]]:
    """The entries after sequence `after` (the last checkpoint's size), and those of them the writer
    must have sealed, with their seals."""
    start = await conn.scalar(text(SEALED_FROM_SQL))
    rows = await conn.execute(
        text(
            "SELECT sequence, recorded_at, kind, body, previous_hash, entry_hash, seal FROM journal "
            "WHERE sequence > :after ORDER BY sequence"
        ),
        {"after": after},
    )
    entries: list[JournalEntry] = []
    tail: list[TailEntry] = []
    for r in rows:
        entries.append(JournalEntry(r[0], r[1], r[2], r[3], bytes(r[4]), bytes(r[5])))
        if start is not None and r[0] >= start:
            tail.append(TailEntry(r[0], bytes(r[5]), r[6]))
    return entries, tail


async def transaction_records_in(conn: AsyncConnection) -> dict[int, tuple[Any, ...]]:
    """Each transaction record by its journal sequence, as `record_of` would make it from the entry."""
    rows = await conn.execute(
        text(
            "SELECT journal_sequence, id::text, kind, request_hash, outcome, initiator, on_behalf_of, input, result, "
            "recorded_at FROM transactions"
        )
    )
    return {row[0]: (row[1], row[2], bytes(row[3]), *row[4:]) for row in rows}


class MalformedRecord(ValueError):
    """A record on the journal topic that is not a journal event: someone else put it there."""


_JOURNAL_EVENTS = ("ledger.JournalEntryAppended", "ledger.JournalCheckpointSigned")


def _journal_event(offset: int, value: bytes | None) -> JournalEntry | Checkpoint:
    """One record of the journal topic as the entry or checkpoint it publishes."""
    try:
        envelope = EventEnvelope.from_bytes(value or b"")
        if envelope.type not in _JOURNAL_EVENTS:
            raise ValueError(f"an event of type {envelope.type!r}")
        validate_payload(envelope.type, envelope.schema_version, envelope.payload)
        p = envelope.payload
        if envelope.type == "ledger.JournalCheckpointSigned":
            return Checkpoint.from_payload(p)
        return JournalEntry(
            p["sequence"],
            _instant(p["recorded_at"]),
            p["kind"],
            p["body"],
            bytes.fromhex(p["previous_hash"] or GENESIS_HASH.hex()),
            bytes.fromhex(p["entry_hash"]),
        )
    except (ValueError, KeyError, TypeError, UnknownEventType) as exc:
        reason = f"the record at offset {offset} of the journal topic is not a journal event: {exc}"
        raise MalformedRecord(reason) from exc


async def _journal_topic(
    bootstrap: str, topic: str, wanted: Callable[[], bool] = lambda: False, patience: float = 30.0
) -> AsyncGenerator[JournalEntry | Checkpoint | MalformedRecord, None]:
    """Every entry and checkpoint on the (single-partition) journal topic, up to its current end;
    past it while `wanted()` says more is awaited (the relay publishing what was just committed),
    until nothing new came for `patience` seconds. A record that is none is given as MalformedRecord."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        end = (await consumer.end_offsets([partition]))[partition]
        waited = 0.0
        while await consumer.position(partition) < end or (wanted() and waited < patience):
            batch = await consumer.getmany(partition, timeout_ms=1000)
            records = batch.get(partition, [])
            waited = 0.0 if records else waited + 1.0
            for record in records:
                try:
                    yield _journal_event(record.offset, record.value)
                except MalformedRecord as exc:
                    yield exc
    finally:
        await consumer.stop()


def _instant(text: str) -> datetime:
    return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


async def entries_from_topic(bootstrap: str, topic: str, through: int | None = None) -> AsyncIterator[JournalEntry]:
    """Every entry on the journal topic; with `through`, up to that sequence, waiting for the relay
    to publish it. The relay may publish an entry twice (after a crash); later copies of a sequence
    are skipped. Raises MalformedRecord at a record that is no journal event."""
    expected = 1

    def short() -> bool:
        return through is not None and expected <= through

    async with aclosing(_journal_topic(bootstrap, topic, short)) as events:
        async for event in events:
            if isinstance(event, MalformedRecord):
                raise event
            if not isinstance(event, JournalEntry):
                continue
            if through is not None and event.sequence > through:
                return
            if event.sequence < expected:
                continue
            expected = event.sequence + 1
            yield event


async def published_journal(bootstrap: str, topic: str) -> PublishedJournal:
    """What the journal topic holds, for `verify --against-topic`: each entry's hash (a relay's
    republication is the same; another hash for a sequence is kept aside), each distinct
    checkpoint (another for the same size is kept too, for `verify` to name), and what is neither."""
    entries: dict[int, bytes] = {}
    conflicting: set[int] = set()
    checkpoints: dict[Checkpoint, None] = {}
    malformed: list[str] = []
    async with aclosing(_journal_topic(bootstrap, topic)) as events:
        async for event in events:
            if isinstance(event, MalformedRecord):
                malformed.append(str(event))
            elif isinstance(event, Checkpoint):
                checkpoints.setdefault(event, None)
            elif entries.setdefault(event.sequence, event.entry_hash) != event.entry_hash:
                conflicting.add(event.sequence)
    return PublishedJournal(
        entries, sorted(checkpoints, key=lambda c: c.tree_size), frozenset(conflicting), tuple(malformed)
    )
