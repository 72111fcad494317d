"""Effectively-once delivery through outbox, relay and inbox, across crashes (ARCHITECTURE.md §2)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import text

from registry_platform import kafka
from registry_platform.kafka import TopicSpec
from registry_platform.outbox import add_events

from .conftest import count_rows, heartbeat, read_topic

pytestmark = pytest.mark.integration
WORKER = [sys.executable, str(Path(__file__).with_name("crash_worker.py"))]


def spawn(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*WORKER, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class TopicSize:
    """End offsets of a topic's partitions: how many messages the broker holds (one client)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
        self._parts = [TopicPartition(topic, p) for p in range(3)]

    async def __aenter__(self) -> TopicSize:
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def __call__(self) -> int:
        try:
            return sum((await self._consumer.end_offsets(self._parts)).values())
        except Exception:  # the topic does not exist yet
            return 0


async def test_event_reaches_other_service_once_despite_relay_and_consumer_sigkill(
    make_schema, infra, database_url, topic_prefix
):
    async with contextlib.AsyncExitStack() as stack:
        await _scenario(stack, make_schema, infra, database_url, topic_prefix)


async def _scenario(stack, make_schema, infra, database_url, topic_prefix):  # type: ignore[no-untyped-def]
    source = await make_schema("svc_a")
    sink = await make_schema("svc_b")
    async with sink.begin() as conn:
        await conn.execute(text("CREATE TABLE received (event_id uuid NOT NULL)"))
    topic = f"{topic_prefix}.events"
    total = 3000
    async with source.begin() as conn:
        await add_events(conn, [(topic, heartbeat(f"k{i % 17}", i)) for i in range(total)])

    # 1. Relay killed mid-batch: messages on the broker that the outbox does not yet mark published.
    await kafka.declare_topics(infra.kafka_bootstrap, [TopicSpec(topic)])
    topic_size = await stack.enter_async_context(TopicSize(infra.kafka_bootstrap, topic))
    killed_mid_batch = False
    for _ in range(20):
        relay = spawn("relay", database_url, infra.kafka_bootstrap, topic)
        for _ in range(2000):
            on_broker = await topic_size()
            marked = await count_rows(source, "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL")
            if on_broker > marked:
                relay.send_signal(signal.SIGKILL)
                killed_mid_batch = True
                break
            if marked == total:
                break
            await asyncio.sleep(0.001)
        relay.send_signal(signal.SIGKILL)
        relay.wait()
        if killed_mid_batch:
            break
    assert killed_mid_batch, "the relay could not be caught mid-batch"
    relay = spawn("relay", database_url, infra.kafka_bootstrap, topic)
    try:
        for _ in range(600):
            if await count_rows(source, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0:
                break
            await asyncio.sleep(0.05)
        # Counted by reading the topic: the broker's end offsets (ListOffsets) can trail what it
        # holds by a whole produce batch, so they may show fewer messages than were acknowledged.
        on_wire = await read_topic(infra.kafka_bootstrap, topic, expected=total + 1)
        assert len(on_wire) > total, "a mid-batch kill republishes part of the batch"
        assert len({e.event_id for e in on_wire}) == total, "every event reached the broker"

        # 2. Consumer killed after its transaction committed, before the offset commit.
        consumer = spawn("consumer", database_url, infra.kafka_bootstrap, topic, "700")
        assert consumer.wait(timeout=60) == -signal.SIGKILL
        assert 0 < await count_rows(sink, "SELECT count(*) FROM received") <= total
        consumer = spawn("consumer", database_url, infra.kafka_bootstrap, topic, "0")
        try:
            for _ in range(600):
                if await count_rows(sink, "SELECT count(DISTINCT event_id) FROM received") == total:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
        finally:
            consumer.send_signal(signal.SIGTERM)
            consumer.wait(timeout=10)
    finally:
        relay.send_signal(signal.SIGKILL)
        relay.wait()
    assert await count_rows(sink, "SELECT count(*) FROM received") == total
    assert await count_rows(sink, "SELECT count(DISTINCT event_id) FROM received") == total
    redelivered = await count_rows(sink, "SELECT count(*) FROM inbox")
    assert redelivered == total
