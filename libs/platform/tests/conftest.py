from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from registry_contracts.envelope import EventEnvelope
from registry_platform import db, migrations
from registry_platform.events import new_envelope
from registry_platform.testing.infra import Infra

# The platform tables are created by the same migration every service runs first.
MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "crm" / "migrations"


def heartbeat(key: str, n: int) -> EventEnvelope:
    """A valid event whose payload carries the writer's own sequence number for key `key`."""
    return new_envelope(
        type="platform.ServiceHeartbeat",
        payload={"service": key, "instance_id": str(n), "sent_at": datetime.now(UTC).isoformat()},
        key=key,
        producer="platform-tests",
    )


@pytest.fixture
async def make_schema(database_url: str) -> AsyncIterator[Callable[[str], AsyncEngine]]:
    engines: list[AsyncEngine] = []

    async def make(schema: str) -> AsyncEngine:
        await asyncio.to_thread(migrations.upgrade, MIGRATIONS, database_url, schema)
        engine = db.create_engine(database_url, schema)
        engines.append(engine)
        return engine

    yield make  # type: ignore[misc]
    for engine in engines:
        await engine.dispose()


async def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 30.0) -> list[EventEnvelope]:
    """Read a topic from the beginning until `expected` messages arrived or the time is up."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or {0, 1, 2}
        consumer.assign([TopicPartition(topic, p) for p in parts])
        out: list[EventEnvelope] = []
        deadline = asyncio.get_running_loop().time() + timeout
        while len(out) < expected and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                out.extend(EventEnvelope.from_bytes(r.value) for r in records)
        # Linger briefly so that duplicates beyond `expected` would be seen too.
        batch = await consumer.getmany(timeout_ms=500)
        for records in batch.values():
            out.extend(EventEnvelope.from_bytes(r.value) for r in records)
        return out
    finally:
        await consumer.stop()


async def count_rows(engine: AsyncEngine, sql: str) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(text(sql)) or 0)


__all__ = ["Infra", "count_rows", "heartbeat", "read_topic"]
