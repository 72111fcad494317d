"""Transactional outbox and relay (ARCHITECTURE.md §2; issue: platform foundation)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import defaultdict

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy import text

from registry_contracts.envelope import EventEnvelope
from registry_platform import db, kafka
from registry_platform.kafka import TopicSpec
from registry_platform.outbox import MAX_EVENT_BYTES, EventTooLarge, OutboxRelay, add_events

from .conftest import count_rows, heartbeat, read_topic

pytestmark = pytest.mark.integration


async def _relay(engine, infra, topic, producer, **kw):  # type: ignore[no-untyped-def]
    return OutboxRelay(
        engine=engine,
        schema="svc_a",
        producer=producer,
        bootstrap=infra.kafka_bootstrap,
        topics=[TopicSpec(topic)],
        **kw,
    )


async def test_rolled_back_transaction_publishes_nothing(make_schema, infra, topic_prefix):
    engine = await make_schema("svc_a")
    topic = f"{topic_prefix}.events"
    with pytest.raises(RuntimeError):
        async with engine.begin() as conn:
            await add_events(conn, [(topic, heartbeat("k", 1))])
            raise RuntimeError("the state change failed")
    async with engine.begin() as conn:
        await add_events(conn, [(topic, heartbeat("k", 2))])
    producer = await kafka.start_producer(infra.kafka_bootstrap, idempotent=False)
    try:
        relay = await _relay(engine, infra, topic, producer)
        await relay.check_topics()
        assert await relay.publish_batch() == 1
        assert await relay.publish_batch() == 0
    finally:
        await producer.stop()
    seen = await read_topic(infra.kafka_bootstrap, topic, expected=1)
    assert [e.payload["instance_id"] for e in seen] == ["2"]


def _event_of(size: int) -> EventEnvelope:
    event = heartbeat("k", 0)
    pad = size - len(event.to_bytes())
    event.payload["instance_id"] = "0" * (pad + 1)
    assert len(event.to_bytes()) == size
    return event


async def test_an_event_too_large_for_the_broker_is_refused_when_written(make_schema, infra, topic_prefix):
    """The largest event the outbox takes crosses the broker; one byte more is refused in the writing
    transaction, which then changes nothing. Before, it was stored, the broker refused it, and the
    relay retried it for ever: no later event of the service was ever published."""
    engine = await make_schema("svc_a")
    topic = f"{topic_prefix}.events"
    with pytest.raises(EventTooLarge) as refused:
        async with engine.begin() as conn:
            await add_events(conn, [(topic, heartbeat("k", 1)), (topic, _event_of(MAX_EVENT_BYTES + 1))])
    assert (refused.value.status, refused.value.code) == (413, "event_too_large")
    assert await count_rows(engine, "SELECT count(*) FROM outbox") == 0
    largest = _event_of(MAX_EVENT_BYTES)
    async with engine.begin() as conn:
        await add_events(conn, [(topic, largest), (topic, heartbeat("k", 2))])
    producer = await kafka.start_producer(infra.kafka_bootstrap, idempotent=False)
    try:
        relay = await _relay(engine, infra, topic, producer)
        await relay.check_topics()
        assert await relay.publish_batch() == 2
    finally:
        await producer.stop()
    seen = await read_topic(infra.kafka_bootstrap, topic, expected=2)
    assert [e.to_bytes() for e in seen] == [largest.to_bytes(), seen[1].to_bytes()]
    assert seen[1].payload["instance_id"] == "2"


async def test_fifty_concurrent_writers_none_skipped_none_duplicated_in_order_per_key(make_schema, infra, topic_prefix):
    """50 writers commit out of id order while the relay runs; every row is published once, and
    each key's events arrive in the order their transactions committed."""
    engine = await make_schema("svc_a")
    topic = f"{topic_prefix}.events"
    keys = [f"key-{i}" for i in range(8)]
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE key_commits (key text PRIMARY KEY, n int NOT NULL)"))
        await conn.execute(text("INSERT INTO key_commits SELECT unnest(CAST(:k AS text[])), 0"), {"k": keys})

    rng = random.Random(7)
    per_writer = 12

    async def writer(w: int) -> None:
        for _ in range(per_writer):
            key = rng.choice(keys)
            async with engine.begin() as conn:
                # The event is added first (its id drawn), the commit-order counter taken after, and
                # the commit delayed at random: without the outbox's per-key lock, ids and commit
                # order would disagree.
                placeholder = heartbeat(key, 0)
                await add_events(conn, [(topic, placeholder)])
                n = await conn.scalar(text("UPDATE key_commits SET n = n + 1 WHERE key = :k RETURNING n"), {"k": key})
                final = heartbeat(key, int(n))
                await conn.execute(
                    text("UPDATE outbox SET body = :b, event_id = :e WHERE event_id = :old"),
                    {"b": final.to_bytes(), "e": final.event_id, "old": placeholder.event_id},
                )
                await asyncio.sleep(rng.random() * 0.01)

    producer = await kafka.start_producer(infra.kafka_bootstrap, idempotent=False)
    stop = asyncio.Event()
    relay = await _relay(engine, infra, topic, producer, batch_size=37, poll_interval=0.005)
    relay_task = asyncio.create_task(relay.run(stop))
    try:
        await asyncio.gather(*(writer(w) for w in range(50)))
        total = 50 * per_writer
        for _ in range(400):
            if await count_rows(engine, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await relay_task
        await producer.stop()

    seen = await read_topic(infra.kafka_bootstrap, topic, expected=total)
    ids = [e.event_id for e in seen]
    assert len(ids) == total, "every committed row published"
    assert len(set(ids)) == total, "no row published twice"
    order: dict[str, list[int]] = defaultdict(list)
    for e in seen:
        order[e.key].append(int(e.payload["instance_id"]))
    for key, sequence in order.items():
        assert sequence == list(range(1, len(sequence) + 1)), f"{key} out of commit order: {sequence[:20]}"


async def test_relay_puts_each_key_where_send_would_and_keeps_its_order_across_full_batches(
    make_schema, infra, topic_prefix
):
    """The relay hands the producer whole record batches, one per partition: each key lands on the
    partition `send(key=...)` picks (the Java client's murmur2, so every Kafka client agrees), and
    when a partition's batch is full it is sent first, so each key's events keep their id order."""
    engine = await make_schema("svc_a")
    topic, probe = f"{topic_prefix}.events", f"{topic_prefix}.probe"
    keys = [f"account-{i}" for i in range(12)]
    async with engine.begin() as conn:
        await add_events(conn, [(topic, heartbeat(keys[i % len(keys)], i // len(keys))) for i in range(240)])
    # Small record batches: one relay batch fills several per partition.
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, max_batch_size=2048, linger_ms=2)
    await producer.start()
    try:
        await kafka.declare_topics(infra.kafka_bootstrap, [TopicSpec(probe)])
        expected = {k: (await producer.send_and_wait(probe, b"probe", key=k.encode())).partition for k in keys}
        assert len(set(expected.values())) > 1, "the keys should spread over partitions"
        relay = await _relay(engine, infra, topic, producer, batch_size=500)
        await relay.check_topics()
        assert await relay.publish_batch() == 240
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(3)])
        per_key: dict[str, list[int]] = defaultdict(list)
        for _ in range(100):
            for tp, records in (await consumer.getmany(timeout_ms=200)).items():
                for record in records:
                    event = EventEnvelope.from_bytes(record.value)
                    assert tp.partition == expected[event.key], f"{event.key} on partition {tp.partition}"
                    per_key[event.key].append(int(event.payload["instance_id"]))
            if sum(map(len, per_key.values())) == 240:
                break
    finally:
        await consumer.stop()
    assert per_key == {k: list(range(20)) for k in keys}


@contextlib.asynccontextmanager
async def _three_events_and_a_relay(make_schema, infra, topic_prefix):  # type: ignore[no-untyped-def]
    """Three committed events of key "k" in svc_a's outbox, and a relay for their topic; on the way
    out, each of them is on the topic exactly once."""
    engine = await make_schema("svc_a")
    topic = f"{topic_prefix}.events"
    async with engine.begin() as conn:
        await add_events(conn, [(topic, heartbeat("k", i)) for i in range(1, 4)])
    producer = await kafka.start_producer(infra.kafka_bootstrap, idempotent=False)
    try:
        relay = await _relay(engine, infra, topic, producer)
        await relay.check_topics()
        yield engine, relay, topic
    finally:
        await producer.stop()
    seen = await read_topic(infra.kafka_bootstrap, topic, expected=3)
    assert sorted(int(e.payload["instance_id"]) for e in seen) == [1, 2, 3]


async def _lose(bootstrap: str, topic: str) -> None:
    """What an in-memory broker's restart does to a topic."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.delete_topics([topic])
    await admin.close()


async def test_recreated_topic_gets_retained_events_again(make_schema, infra, topic_prefix):
    """An in-memory broker that lost a topic is refilled from the retained outbox rows."""
    async with _three_events_and_a_relay(make_schema, infra, topic_prefix) as (_, relay, topic):
        assert await relay.publish_batch() == 3
        await _lose(infra.kafka_bootstrap, topic)
        assert await relay.check_topics() == 3
        assert await relay.publish_batch() == 3


async def test_a_topic_another_service_declared_again_first_gets_retained_events_again(
    make_schema, infra, topic_prefix
):
    """The broker lost the topic and a consumer of it declared it again before the relay looked: the
    relay finds it empty, though it published to it, and refills it, both while running and when a
    restarted relay checks its topics the first time."""
    async with _three_events_and_a_relay(make_schema, infra, topic_prefix) as (engine, relay, topic):
        assert await relay.publish_batch() == 3
        await _lose(infra.kafka_bootstrap, topic)
        assert await kafka.declare_topics(infra.kafka_bootstrap, [TopicSpec(topic)]) == {topic}  # the consumer
        assert await relay.check_topics() == 3
        assert await relay.publish_batch() == 3
        assert await relay.check_topics() == 0, "a refilled topic is not refilled again"
        restarted = await _relay(engine, infra, topic, relay._producer)
        assert await restarted.check_topics() == 0, "nor at a restarted relay's first check"


async def test_one_call_keeps_its_events_in_order_and_their_bytes_exact(make_schema, topic_prefix):
    """add_events writes a whole batch in one statement: the ids follow the order of the call (the
    relay publishes in id order) and each row holds the envelope's canonical bytes unchanged."""
    engine = await make_schema("svc_a")
    topic = f"{topic_prefix}.events"
    envelopes = [heartbeat(f"k{n % 3}", n) for n in random.Random(5).sample(range(1, 200), 60)]
    async with engine.begin() as conn:
        await add_events(conn, [(topic, e) for e in envelopes])
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT event_id, key, event_type, body FROM outbox ORDER BY id"))).all()
    assert [r.event_id for r in rows] == [e.event_id for e in envelopes]
    assert [(r.key, r.event_type, bytes(r.body)) for r in rows] == [(e.key, e.type, e.to_bytes()) for e in envelopes]


async def _terminate_other_backends(engine) -> int:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        killed = await conn.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    return int(killed or 0)


async def test_relay_that_loses_its_connection_publishes_over_a_new_one(make_schema, infra, topic_prefix, caplog):
    """The running relay keeps one connection between batches; when the database drops it, the next
    iteration fails, and the relay carries on over a fresh connection, losing nothing."""
    engine = await make_schema("svc_a")
    topic = f"{topic_prefix}.events"
    producer = await kafka.start_producer(infra.kafka_bootstrap, idempotent=False)
    stop = asyncio.Event()
    relay = await _relay(engine, infra, topic, producer, poll_interval=0.01)
    relay_task = asyncio.create_task(relay.run(stop))

    async def all_published() -> None:
        for _ in range(300):
            if await count_rows(engine, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0:
                return
            await asyncio.sleep(0.02)
        raise AssertionError("outbox rows left unpublished")

    try:
        async with engine.begin() as conn:
            await add_events(conn, [(topic, heartbeat("k", 1))])
        await all_published()
        assert await _terminate_other_backends(engine) >= 1
        async with engine.begin() as conn:
            await add_events(conn, [(topic, heartbeat("k", 2))])
        relay.wake()
        await all_published()
    finally:
        stop.set()
        await relay_task
        await producer.stop()
    seen = await read_topic(infra.kafka_bootstrap, topic, expected=2)
    assert [e.payload["instance_id"] for e in seen] == ["1", "2"]
    # The kept connection was among those dropped: one iteration failed on it.
    assert any("outbox relay iteration failed" in r.getMessage() for r in caplog.records)


async def test_only_the_relay_holding_the_leader_lock_publishes(make_schema, infra, topic_prefix):
    """One relay per service publishes at a time (its per-key order depends on it): while another
    holds the leader lock, a relay publishes nothing and marks nothing, and it publishes every
    row once the lock is free."""
    async with _three_events_and_a_relay(make_schema, infra, topic_prefix) as (engine, relay, _):
        async with engine.connect() as other:
            # Another relay runs: the session of the connection it keeps holds the lock.
            await other.execute(text("SELECT pg_advisory_lock(hashtextextended('outbox-relay:svc_a', 0))"))
            await other.commit()
            assert await relay.publish_batch() == 0
            assert await count_rows(engine, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 3
            # It stops: its connection closes, and the lock goes with it.
            await other.invalidate()
        assert await relay.publish_batch() == 3
        assert await relay.publish_batch() == 0


async def test_a_relay_step_is_one_statement_that_marks_the_batch_before_and_reads_the_next(
    make_schema, infra, topic_prefix, monkeypatch
):
    """A step of the running relay, on the connection it keeps (autocommit): the leader lock once per
    connection, then one statement that marks the rows the step before sent and reads the next. A
    sent batch stays unmarked until that next step. The leader lock is held while the broker gets
    the rows."""
    from psycopg import AsyncConnection

    engine = await make_schema("svc_a")
    topic = f"{topic_prefix}.events"
    async with engine.begin() as conn:
        await add_events(conn, [(topic, heartbeat("k", n)) for n in range(3)])
    producer = await kafka.start_producer(infra.kafka_bootstrap, idempotent=False)
    kept = db.KeptConnection(engine)
    try:
        relay = await _relay(engine, infra, topic, producer)
        await relay.check_topics()
        raw = await db.driver_of(await kept.get())
        statements = 0
        execute = AsyncConnection.execute

        async def counting_execute(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            nonlocal statements
            if self is raw:
                statements += 1
            return await execute(self, *args, **kwargs)

        held: list[int] = []
        send = relay._send

        async def noting_send(rows):  # type: ignore[no-untyped-def]
            async with engine.connect() as other:
                held.append(
                    await other.scalar(
                        text(
                            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                            "AND ((classid::bigint << 32) | objid::bigint) = hashtextextended('outbox-relay:svc_a', 0)"
                        )
                    )
                )
            return await send(rows)

        monkeypatch.setattr(relay, "_send", noting_send)
        monkeypatch.setattr(AsyncConnection, "execute", counting_execute)
        unpublished = "SELECT count(*) FROM outbox WHERE published_at IS NULL"
        assert await relay.step(raw) == 3
        assert statements == 2, "the leader lock and the step"
        assert await count_rows(engine, unpublished) == 3, "sent, not yet marked"
        async with engine.begin() as conn:
            await add_events(conn, [(topic, heartbeat("k", n)) for n in range(3, 5)])
        assert await relay.step(raw) == 2
        assert statements == 3
        assert await count_rows(engine, unpublished) == 2, "the first three marked with the read of the next two"
        assert await relay.step(raw) == 0
        assert statements == 4
        assert await count_rows(engine, unpublished) == 0
        assert held == [1, 1]
    finally:
        await kept.discard()
        await producer.stop()
    seen = await read_topic(infra.kafka_bootstrap, topic, expected=5)
    assert [int(e.payload["instance_id"]) for e in seen] == [0, 1, 2, 3, 4]


async def test_a_relay_reads_a_never_analyzed_outbox_by_plain_index_scan(make_schema, infra, topic_prefix):
    """Until `outbox` is first analyzed, PostgreSQL would read the unpublished rows with a bitmap
    scan: every step walked the index entries of all the rows marked since the last vacuum (2,600
    per step in a fresh registry). The relay's own connection reads them with a plain index scan,
    which stops after the few unpublished rows."""
    from registry_platform.outbox import _STEP_SQL

    engine = await make_schema("svc_a")
    async with engine.begin() as conn:
        await conn.execute(text("ALTER TABLE outbox SET (autovacuum_enabled = off)"))
        await conn.execute(
            text(
                "INSERT INTO outbox (event_id, topic, key, event_type, body) "
                "SELECT gen_random_uuid(), 't', 'k', 'e', '\\x00' FROM generate_series(1, 5000)"
            )
        )
        # Marked as a relay leaves them, the last five still to send; no vacuum, no analyze.
        await conn.execute(text("UPDATE outbox SET published_at = clock_timestamp() WHERE id <= 4995"))
    producer = await kafka.start_producer(infra.kafka_bootstrap, idempotent=False)
    relay = await _relay(engine, infra, f"{topic_prefix}.events", producer)

    async def read_by(kept: db.KeptConnection) -> tuple[list[str], int]:
        """How the step's read uses the index of unpublished rows, and how many rows it returns."""
        raw = await db.driver_of(await kept.get())
        # A step with a batch to mark, as most are (no row has id 0).
        explained = await raw.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + _STEP_SQL, {"sent": [0], "n": 500})
        top = (await explained.fetchone())[0][0]["Plan"]
        scans, stack = [], [top]
        while stack:
            node = stack.pop()
            if node.get("Index Name") == "outbox_unpublished":
                scans.append(node["Node Type"])
            stack += node.get("Plans", [])
        return scans, top["Actual Rows"]

    try:
        for kept, scan in [(db.KeptConnection(engine), "Bitmap Index Scan"), (relay.kept_connection(), "Index Scan")]:
            try:
                assert await read_by(kept) == ([scan], 5)
            finally:
                await kept.discard()
    finally:
        await producer.stop()
