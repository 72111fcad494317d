"""aiokafka factories with the registry's safe defaults, and explicit topic declaration.

- Producers always use acks=all. Idempotence is switched on only where the broker supports
  InitProducerId (Tansu does not; Apache Kafka does): durability rests on the outbox, not on it.
- Consumers never auto-commit: offsets are committed after the inbox transaction has committed.
- Topics are declared with their partition count up front, because a broker that auto-creates a
  topic on subscribe picks its own default.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.protocol.metadata import MetadataRequest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = 3
    # -1: unlimited; the journal topic is kept forever (ARCHITECTURE.md §2).
    retention_ms: int = 7 * 24 * 3600 * 1000


async def _partition_counts(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    """How many partitions each of these topics has; a topic that does not exist is left out.

    The metadata request names the topics and forbids auto-creation: `list_topics` fetches every
    topic on the broker (thousands on a shared broker: about 0.6 s of decoding per call at 3,000),
    and `describe_topics` lets a broker create a missing topic with its own partition count."""
    if not names:
        return {}
    response = await admin._send_request(MetadataRequest(names, allow_auto_topic_creation=False))
    return {t["topic"]: len(t["partitions"]) for t in response.to_object()["topics"] if t["error_code"] == 0}


async def declare_topics(bootstrap: str, topics: list[TopicSpec], replication_factor: int = 1) -> set[str]:
    """Create the topics that do not exist yet; return the names this call created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = await _partition_counts(admin, [t.name for t in topics])
        missing = [t for t in topics if t.name not in existing]
        created: set[str] = set()
        for spec in missing:
            try:
                await admin.create_topics(
                    [
                        NewTopic(
                            spec.name,
                            spec.partitions,
                            replication_factor,
                            topic_configs={"retention.ms": str(spec.retention_ms)},
                        )
                    ]
                )
                created.add(spec.name)
            except TopicAlreadyExistsError:
                pass  # another service declared it between our list and create
        return created
    finally:
        await admin.close()


async def empty_topics(bootstrap: str, names: list[str]) -> set[str]:
    """Which of these topics hold no record and never did (every partition's end offset is 0): a
    topic an in-memory broker lost and someone declared again, or one never written to (or missing)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        counts = await _partition_counts(admin, names)
    finally:
        await admin.close()
    partitions = {n: [TopicPartition(n, p) for p in range(counts.get(n, 0))] for n in names}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        # The consumer asks the broker about these topics alone when it finds their leaders unknown.
        ends = await consumer.end_offsets([tp for tps in partitions.values() for tp in tps])
        return {n for n, tps in partitions.items() if all(ends[tp] == 0 for tp in tps)}
    finally:
        await consumer.stop()


async def broker_supports_idempotence(bootstrap: str) -> bool:
    """Probe InitProducerId once: an idempotent producer that cannot start means no support."""
    probe = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    try:
        await probe.start()
    except KafkaError:
        return False
    except Exception:  # brokers without the API answer with assorted protocol errors
        log.info("broker refused InitProducerId; producer idempotence stays off")
        return False
    else:
        return True
    finally:
        await probe.stop()


async def start_producer(bootstrap: str, *, idempotent: bool) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=idempotent,
        linger_ms=2,
        # A partition's share of an outbox relay batch fits one record batch, well below the
        # broker's message size limit (1 MiB by default).
        max_batch_size=256 * 1024,
        request_timeout_ms=15_000,
    )
    await producer.start()
    return producer


# How long the broker may hold a fetch of a consumer on a request's path (the saga's proposals and
# verdicts). The broker answers a waiting fetch as soon as a record arrives, nearly always, so this
# is mostly the idle poll's period: at 5 ms, idle polling took about a quarter of the 2-core
# development machine; at 25 ms half that, and the saga's p99 was no worse (docs/ledger-performance.md).
REQUEST_PATH_FETCH_WAIT_MS = 25


def new_consumer(bootstrap: str, group_id: str, *, fetch_max_wait_ms: int = 100) -> AIOKafkaConsumer:
    """`fetch_max_wait_ms`: how long the broker may hold a fetch that found too little. Consumers on
    a request's path pass REQUEST_PATH_FETCH_WAIT_MS."""
    # Short session/rebalance timeouts: group joins on Tansu wait these out (ARCHITECTURE.md §5).
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6_000,
        heartbeat_interval_ms=2_000,
        rebalance_timeout_ms=6_000,
        max_poll_records=500,
        fetch_max_wait_ms=fetch_max_wait_ms,
    )
