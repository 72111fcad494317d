"""A batch consumer claims a fetched batch's events in one statement and hands each run of
consecutive events of one type to a `Together` handler at once, in order; events handled before
(redeliveries) and a second copy of an event in the same fetch are not handled again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from registry_platform import kafka
from registry_platform.events import new_envelope
from registry_platform.inbox import InboxConsumer, Together
from registry_platform.kafka import TopicSpec

from .conftest import count_rows, heartbeat

pytestmark = pytest.mark.integration


async def test_runs_of_one_type_are_handled_together_in_order_and_each_event_once(
    make_schema, infra, topic_prefix
) -> None:
    engine = await make_schema("svc_c")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE received (n bigserial PRIMARY KEY, instance text NOT NULL)"))
    topic = f"{topic_prefix}.runs"
    beats = [heartbeat("k", i) for i in range(5)]
    started = new_envelope(
        type="platform.ServiceStarted",
        payload={"service": "k", "instance_id": "s", "version": "1", "started_at": datetime.now(UTC).isoformat()},
        key="k",
        producer="platform-tests",
    )
    # Heartbeat 1 was handled before this consumer's last offset commit: a redelivery.
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO inbox (consumer, event_id, event_type, topic, kafka_partition, kafka_offset) "
                "VALUES ('svc_c.runs', :e, 'platform.ServiceHeartbeat', :t, 0, 1)"
            ),
            {"e": beats[1].event_id, "t": topic},
        )
    calls: list[Any] = []

    async def many(conn, envelopes):  # type: ignore[no-untyped-def]
        calls.append([e.payload["instance_id"] for e in envelopes])
        for e in envelopes:
            await conn.execute(text("INSERT INTO received (instance) VALUES (:i)"), {"i": e.payload["instance_id"]})

    async def one(conn, envelope):  # type: ignore[no-untyped-def]
        calls.append(envelope.payload["instance_id"])
        await conn.execute(text("INSERT INTO received (instance) VALUES (:i)"), {"i": envelope.payload["instance_id"]})

    sent = [beats[0], beats[1], beats[2], started, beats[3], beats[3], beats[4]]
    await kafka.declare_topics(infra.kafka_bootstrap, [TopicSpec(topic, partitions=1)])
    producer = await kafka.start_producer(infra.kafka_bootstrap, idempotent=False)
    for envelope in sent:
        await producer.send_and_wait(topic, value=envelope.to_bytes(), key=b"k")
    stop = asyncio.Event()
    consumer = InboxConsumer(
        name="svc_c.runs",
        engine=engine,
        bootstrap=infra.kafka_bootstrap,
        topics=[TopicSpec(topic, partitions=1)],
        handlers={"platform.ServiceHeartbeat": Together(many), "platform.ServiceStarted": one},
        producer=producer,
        group_prefix=topic_prefix,
        batch=True,
    )
    task = asyncio.create_task(consumer.run(stop))
    try:
        for _ in range(200):
            if await count_rows(engine, "SELECT count(*) FROM received") >= 5:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # anything handled twice would show by now
    finally:
        stop.set()
        await task
        await producer.stop()
    async with engine.connect() as conn:
        received = list((await conn.execute(text("SELECT instance FROM received ORDER BY n"))).scalars())
        claimed = await conn.scalar(text("SELECT count(*) FROM inbox WHERE consumer = 'svc_c.runs'"))
    assert received == ["0", "2", "s", "3", "4"]
    # All seven were fetched at once: two runs of heartbeats around the one other event.
    assert calls == [["0", "2"], "s", ["3", "4"]]
    assert claimed == 6  # five new events and the one handled before
