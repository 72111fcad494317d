"""Reading the journal back: from the ledger's own table, or from the journal topic."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.domain.journal import Checkpoint, JournalEntry
from ledger.domain.publication import PublishedJournal
from registry_contracts.envelope import EventEnvelope
from registry_contracts.signing import Signature
from registry_contracts.timestamps import as_utc


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


async def transaction_records_in(conn: AsyncConnection) -> dict[int, tuple[Any, ...]]:
    """Each transaction record by its journal sequence, as `record_of` would make it from the entry."""
    rows = await conn.execute(
        text(
            "SELECT journal_sequence, id::text, kind, request_hash, outcome, initiator, on_behalf_of, input, result, "
            "recorded_at FROM transactions"
        )
    )
    return {row[0]: (row[1], row[2], bytes(row[3]), *row[4:]) for row in rows}


async def _journal_topic(
    bootstrap: str, topic: str, wanted: Callable[[], bool] = lambda: False, patience: float = 30.0
) -> AsyncGenerator[EventEnvelope, None]:
    """Every event on the (single-partition) journal topic, up to its current end; past it while
    `wanted()` says more is awaited (the relay publishing what was just committed), until nothing
    new came for `patience` seconds."""
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
                yield EventEnvelope.from_bytes(record.value)
    finally:
        await consumer.stop()


def _instant(text: str) -> datetime:
    return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


async def entries_from_topic(bootstrap: str, topic: str, through: int | None = None) -> AsyncIterator[JournalEntry]:
    """Every JournalEntryAppended on the journal topic; with `through`, up to that sequence, waiting
    for the relay to publish it. The relay may publish an entry twice (after a crash); later copies
    of a sequence are skipped."""
    expected = 1

    def short() -> bool:
        return through is not None and expected <= through

    async with aclosing(_journal_topic(bootstrap, topic, short)) as events:
        async for envelope in events:
            if envelope.type != "ledger.JournalEntryAppended":
                continue
            p = envelope.payload
            if through is not None and p["sequence"] > through:
                return
            if p["sequence"] < expected:
                continue
            expected = p["sequence"] + 1
            yield JournalEntry(
                p["sequence"],
                _instant(p["recorded_at"]),
                p["kind"],
                p["body"],
                bytes.fromhex(p["previous_hash"]),
                bytes.fromhex(p["entry_hash"]),
            )


async def published_journal(bootstrap: str, topic: str) -> PublishedJournal:
    """What the journal topic holds, for `verify --against-topic`: each entry's hash (a relay's
    republication is the same; another hash for a sequence is kept aside), and each distinct
    checkpoint (another for the same size is kept too, for `verify` to name)."""
    entries: dict[int, bytes] = {}
    conflicting: set[int] = set()
    checkpoints: dict[Checkpoint, None] = {}
    async for envelope in _journal_topic(bootstrap, topic):
        if envelope.type == "ledger.JournalEntryAppended":
            sequence, entry_hash = envelope.payload["sequence"], bytes.fromhex(envelope.payload["entry_hash"])
            if entries.setdefault(sequence, entry_hash) != entry_hash:
                conflicting.add(sequence)
        elif envelope.type == "ledger.JournalCheckpointSigned":
            checkpoints.setdefault(Checkpoint.from_payload(envelope.payload), None)
    return PublishedJournal(entries, sorted(checkpoints, key=lambda c: c.tree_size), frozenset(conflicting))
