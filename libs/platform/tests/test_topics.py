"""Declaring topics and finding empty ones, asking the broker about the named topics only; and the
test harness deleting each test's topics (ARCHITECTURE.md §5: one broker for the whole test run)."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.metadata import MetadataRequest

from registry_platform import kafka
from registry_platform.kafka import TopicSpec

pytestmark = pytest.mark.integration


async def _topics(bootstrap: str) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(await admin.list_topics())}
    finally:
        await admin.close()


@pytest.fixture
def metadata_requests(monkeypatch: pytest.MonkeyPatch) -> list[list[str] | None]:
    """The topics each metadata request sent through an admin client named (None: every topic)."""
    seen: list[list[str] | None] = []
    send = AIOKafkaAdminClient._send_request

    async def spy(self, request, node_id=None):  # type: ignore[no-untyped-def]
        if isinstance(request, MetadataRequest):
            seen.append(request._topics)
        return await send(self, request, node_id)

    monkeypatch.setattr(AIOKafkaAdminClient, "_send_request", spy)
    return seen


async def test_declare_creates_only_the_missing_topics_and_asks_about_its_own_alone(
    infra, topic_prefix, metadata_requests
):
    """A relay declares its topics every few seconds: asking for every topic on the broker cost about
    0.6 s of decoding per call with 3,000 topics. Only the declared topics are named, and a broker
    that creates topics on a metadata request does not create one with its own partition count."""
    old, new = f"{topic_prefix}.old", f"{topic_prefix}.new"
    assert await kafka.declare_topics(infra.kafka_bootstrap, [TopicSpec(old, partitions=2)]) == {old}
    declared = [TopicSpec(old, partitions=2), TopicSpec(new, partitions=1)]
    assert await kafka.declare_topics(infra.kafka_bootstrap, declared) == {new}
    assert await kafka.declare_topics(infra.kafka_bootstrap, declared) == set()
    assert metadata_requests == [[old], [old, new], [old, new]]
    assert {n: c for n, c in (await _topics(infra.kafka_bootstrap)).items() if n.startswith(topic_prefix)} == {
        old: 2,
        new: 1,
    }


async def test_empty_topics_reads_the_named_topics_only_and_creates_none(infra, topic_prefix, metadata_requests):
    written, unwritten, missing = (f"{topic_prefix}.{n}" for n in ("written", "unwritten", "missing"))
    await kafka.declare_topics(infra.kafka_bootstrap, [TopicSpec(written), TopicSpec(unwritten)])
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(written, b"x", key=b"k")
    finally:
        await producer.stop()
    metadata_requests.clear()
    names = [written, unwritten, missing]
    assert await kafka.empty_topics(infra.kafka_bootstrap, names) == {unwritten, missing}
    assert metadata_requests == [names]
    assert missing not in await _topics(infra.kafka_bootstrap), "asking about a topic must not create it"


async def test_the_harness_deletes_a_prefix_topics_and_no_other(infra):
    prefix, other = f"t{uuid.uuid4().hex[:10]}", f"t{uuid.uuid4().hex[:10]}"
    mine = [TopicSpec(f"{prefix}.a"), TopicSpec(f"{prefix}b.c")]
    await kafka.declare_topics(infra.kafka_bootstrap, [*mine, TopicSpec(f"{other}.a")])
    infra.delete_topics(prefix)
    left = set(await _topics(infra.kafka_bootstrap))
    assert not {t.name for t in mine} & left
    assert f"{other}.a" in left
    infra.delete_topics(other)
