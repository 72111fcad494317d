"""Reading the journal back: from the ledger's own table, or from the journal topic."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger.domain.journal import Checkpoint, JournalEntry
from registry_contracts.envelope import EventEnvelope
from registry_contracts.signing import Signature
from registry_contracts.timestamps import as_utc


async def entries_from_database(engine: AsyncEngine) -> AsyncIterator[JournalEntry]:
    async with engine.connect() as conn:
        async for entry in entries_in(conn):
            yield entry


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


async def _journal_topic(bootstrap: str, topic: str) -> AsyncIterator[EventEnvelope]:
    """Every event on the (single-partition) journal topic, up to its current end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        end = (await consumer.end_offsets([partition]))[partition]
        while await consumer.position(partition) < end:
            batch = await consumer.getmany(partition, timeout_ms=1000)
            for record in batch.get(partition, []):
                yield EventEnvelope.from_bytes(record.value)
    finally:
        await consumer.stop()


def _instant(text: str) -> datetime:
    return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


async def entries_from_topic(bootstrap: str, topic: str) -> AsyncIterator[JournalEntry]:
    """Every JournalEntryAppended on the journal topic. The relay may publish an entry twice (after
    a crash); later copies of a sequence are skipped."""
    expected = 1
    async for envelope in _journal_topic(bootstrap, topic):
        if envelope.type != "ledger.JournalEntryAppended":
            continue
        p = envelope.payload
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


async def checkpoints_from_topic(bootstrap: str, topic: str) -> list[Checkpoint]:
    """Every checkpoint published on the journal topic (JournalCheckpointSigned), each distinct one
    once: a relay's republication is the same; another for the same size is kept for `verify`."""
    published: dict[Checkpoint, None] = {}
    async for envelope in _journal_topic(bootstrap, topic):
        if envelope.type == "ledger.JournalCheckpointSigned":
            published.setdefault(Checkpoint.from_payload(envelope.payload), None)
    return sorted(published, key=lambda c: c.tree_size)
