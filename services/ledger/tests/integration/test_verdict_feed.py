"""The ledger's verdict feed over the real broker (A6R-47): a verdict whose decision failed is read
again after a restart, never skipped, so no proposal the rules accepted expires as "no verdict"."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from ledger.adapters.verdicts import VerdictFeed
from registry_platform.events import new_envelope
from registry_platform.kafka import TopicSpec, declare_topics

pytestmark = pytest.mark.integration


def _verdict(tx: uuid.UUID) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    return {
        "transaction_id": str(tx),
        "outcome": "accept",
        "rules": [],
        "denials": [],
        "broken_rules": [],
        "supplementary_operations": [],
        "proposed_at": now,
        "evaluated_at": now,
        "catalogue_sequence": 0,
    }


async def test_a6r47_a_verdict_undecided_when_the_feed_stops_is_read_again(infra: Any, topic_prefix: str) -> None:
    """The database goes away while the ledger shuts down: the verdict it could not decide keeps its
    offset uncommitted, and the next run decides it."""
    topic, group = f"{topic_prefix}.rules.verdicts", f"{topic_prefix}.ledger-verdicts"
    await declare_topics(infra.kafka_bootstrap, [TopicSpec(topic)], 1)
    accepted, failing = uuid.uuid4(), uuid.uuid4()
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for tx in (accepted, failing):
            envelope = new_envelope(type="rules.VerdictGiven", payload=_verdict(tx), key=str(tx), producer="rules")
            await producer.send_and_wait(topic, envelope.to_bytes(), key=str(tx).encode(), partition=0)
    finally:
        await producer.stop()

    stopping = asyncio.Event()

    async def database_away(tx: uuid.UUID, verdict: dict[str, Any]) -> None:
        if tx == failing:
            stopping.set()
            raise ConnectionRefusedError("the database is unavailable")

    first = VerdictFeed(bootstrap=infra.kafka_bootstrap, topic=topic, group=group, decide=database_away)
    await asyncio.wait_for(first.run(stopping), 30)

    decided: list[uuid.UUID] = []
    stop = asyncio.Event()

    async def decide(tx: uuid.UUID, verdict: dict[str, Any]) -> None:
        decided.append(tx)
        if tx == failing:
            stop.set()

    again = VerdictFeed(bootstrap=infra.kafka_bootstrap, topic=topic, group=group, decide=decide)
    running = asyncio.create_task(again.run(stop))
    try:
        await asyncio.wait_for(stop.wait(), 15)
    except TimeoutError:
        pass
    finally:
        stop.set()
        await running
    assert failing in decided, "the verdict whose decision failed was read again"


async def test_a6r47_a_verdict_naming_no_transaction_id_is_skipped_not_a_stalled_feed(
    infra: Any, topic_prefix: str
) -> None:
    """The verdict schema asks only for a non-empty text: a verdict whose transaction_id is no UUID
    stopped the feed on that event for good (every restart read it again), and every proposal
    waiting behind it expired."""
    topic, group = f"{topic_prefix}.rules.verdicts", f"{topic_prefix}.ledger-verdicts"
    await declare_topics(infra.kafka_bootstrap, [TopicSpec(topic)], 1)
    after = uuid.uuid4()
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for payload in ({**_verdict(after), "transaction_id": "not-a-transaction"}, _verdict(after)):
            envelope = new_envelope(type="rules.VerdictGiven", payload=payload, key="k", producer="rules")
            await producer.send_and_wait(topic, envelope.to_bytes(), key=b"k", partition=0)
    finally:
        await producer.stop()
    decided: list[uuid.UUID] = []
    stop = asyncio.Event()

    async def decide(tx: uuid.UUID, verdict: dict[str, Any]) -> None:
        decided.append(tx)
        stop.set()

    feed = VerdictFeed(bootstrap=infra.kafka_bootstrap, topic=topic, group=group, decide=decide)
    await asyncio.wait_for(feed.run(stop), 30)
    assert decided == [after]
