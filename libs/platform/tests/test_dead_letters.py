"""Malformed events are parked with their reason and never block the events behind them."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from registry_platform import kafka
from registry_platform.inbox import Handler, InboxConsumer, RefusedEvent, dlq_topic
from registry_platform.kafka import TopicSpec

from .conftest import count_rows, heartbeat

pytestmark = pytest.mark.integration


@pytest.fixture
async def engine(make_schema):  # type: ignore[no-untyped-def]
    """A service schema with a table where the handlers record the events they handled."""
    engine = await make_schema("svc_b")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE received (instance text NOT NULL)"))
    return engine


async def _consume(
    engine: AsyncEngine,
    bootstrap: str,
    topic: str,
    group_prefix: str,
    handle: Handler,
    messages: list[bytes],
    *,
    batch: bool,
) -> None:
    """Send `messages` to `topic` (one partition) and consume them with `handle` until three events
    are received; the consumer must keep running meanwhile."""
    await kafka.declare_topics(bootstrap, [TopicSpec(topic, partitions=1)])
    producer = await kafka.start_producer(bootstrap, idempotent=False)
    for value in messages:
        await producer.send_and_wait(topic, value=value, key=b"k")
    stop = asyncio.Event()
    consumer = InboxConsumer(
        name="svc_b.test",
        engine=engine,
        bootstrap=bootstrap,
        topics=[TopicSpec(topic, partitions=1)],
        handlers={"platform.ServiceHeartbeat": handle},
        producer=producer,
        group_prefix=group_prefix,
        batch=batch,
    )
    task = asyncio.create_task(consumer.run(stop))
    try:
        for _ in range(200):
            if await count_rows(engine, "SELECT count(*) FROM received") == 3:
                break
            await asyncio.sleep(0.05)
        assert not task.done(), "the consumer must keep running"
    finally:
        stop.set()
        await task
        await producer.stop()
    async with engine.connect() as conn:
        assert sorted((await conn.execute(text("SELECT instance FROM received"))).scalars()) == ["0", "1", "2"]


@pytest.mark.parametrize("batch", [False, True], ids=["event_by_event", "batched"])
async def test_malformed_events_go_to_dead_letter_topic_and_consumer_continues(engine, infra, topic_prefix, batch):
    """Batched, the fetched events are handled in one transaction; one bad event rolls that back and
    the batch is handled again event by event: the good ones exactly once, the bad ones parked."""
    topic = f"{topic_prefix}.events"

    async def handle(conn, envelope):  # type: ignore[no-untyped-def]
        if envelope.payload["instance_id"] == "refuse-me":
            raise RefusedEvent("instance 'refuse-me' is not acceptable")
        await conn.execute(text("INSERT INTO received VALUES (:i)"), {"i": envelope.payload["instance_id"]})

    good = [heartbeat("k", i) for i in range(3)]
    unknown = json.loads(heartbeat("k", 9).to_bytes())
    unknown["type"] = "platform.NoSuchEvent"
    violating = json.loads(heartbeat("k", 9).to_bytes())
    violating["payload"] = {"service": "k"}
    messages = [
        b"{not json",
        good[0].to_bytes(),
        json.dumps(unknown).encode(),
        good[1].to_bytes(),
        json.dumps(violating).encode(),
        heartbeat("k", 0).model_copy(update={"payload": {**good[0].payload, "instance_id": "refuse-me"}}).to_bytes(),
        good[2].to_bytes(),
    ]
    await _consume(engine, infra.kafka_bootstrap, topic, topic_prefix, handle, messages, batch=batch)

    reader = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap, auto_offset_reset="earliest")
    await reader.start()
    try:
        reader.assign([TopicPartition(dlq_topic(topic), 0)])
        parked = []
        for _ in range(50):
            batch = await reader.getmany(timeout_ms=200)
            parked += [r for rs in batch.values() for r in rs]
            if len(parked) >= 4:
                break
    finally:
        await reader.stop()
    reasons = [dict(r.headers)["dlq.reason"].decode() for r in parked]
    assert len(reasons) == 4
    assert reasons[0].startswith("MalformedEvent")
    assert reasons[1].startswith("UnknownEventType") and "platform.NoSuchEvent" in reasons[1]
    assert reasons[2].startswith("MalformedEvent")
    assert reasons[3] == "RefusedEvent: instance 'refuse-me' is not acceptable"
    assert parked[0].value == b"{not json"


@pytest.mark.parametrize("batch", [False, True], ids=["event_by_event", "batched"])
@pytest.mark.parametrize("error", [sa_exc.TimeoutError, sa_exc.PendingRollbackError])
async def test_a_connection_pool_running_dry_is_retried_not_dead_lettered(engine, infra, topic_prefix, batch, error):
    """No connection free in time (SQLAlchemy's TimeoutError, not a DBAPI error) is transient: the
    event is handled again. Before, it was parked on the dead-letter topic and its offset committed."""
    topic = f"{topic_prefix}.events"
    failures = {"1": 2}

    async def handle(conn, envelope):  # type: ignore[no-untyped-def]
        instance = envelope.payload["instance_id"]
        if failures.get(instance, 0) > 0:
            failures[instance] -= 1
            raise error("QueuePool limit reached, connection timed out")
        await conn.execute(text("INSERT INTO received VALUES (:i)"), {"i": instance})

    messages = [heartbeat("k", i).to_bytes() for i in range(3)]
    await _consume(engine, infra.kafka_bootstrap, topic, topic_prefix, handle, messages, batch=batch)
