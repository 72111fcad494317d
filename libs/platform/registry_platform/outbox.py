"""Transactional outbox and its relay.

Writing: `add_events(conn, [(topic, envelope), ...])` in the same transaction as the state change.
It first takes a transaction-scoped advisory lock per aggregate key, in sorted key order, and only
then draws outbox ids. So for one key, ids are drawn in commit order: a second writer of the same
key waits for the first to commit before it gets its id. Call it once per transaction, at the end
(the unit of work collects events), so that the key locks are held for as short as possible.

Publishing: the relay reads `published_at IS NULL` rows in id order rather than `id > last_seen`,
so a row whose id was drawn before another transaction committed is never skipped. One relay per
service publishes at a time (a session advisory lock on the connection it keeps), which keeps
per-key order across relay instances. Each step is one statement: it marks the rows the step
before sent and reads the next ones, so a sent batch stays unmarked until the next step (at most a
poll interval later). A relay killed in between republishes that batch; consumers' inboxes drop
the duplicates.

An event larger than MAX_EVENT_BYTES is refused when written, so its whole transaction rolls back:
the broker would refuse it, and the relay, which publishes in id order, would retry it for ever and
publish nothing after it.

Published rows are kept for a retention period. When a topic had to be re-created (an in-memory
broker restarted), the relay marks that topic's retained rows unpublished and sends them again.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from opentelemetry import trace
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, TEXT
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from registry_contracts.envelope import EventEnvelope
from registry_platform import db, metrics
from registry_platform.errors import RegistryError
from registry_platform.kafka import TopicSpec, declare_topics, empty_topics

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

OUTBOX_DDL = (
    """
    CREATE TABLE outbox (
        id bigserial PRIMARY KEY,
        event_id uuid NOT NULL UNIQUE,
        topic text NOT NULL,
        key text NOT NULL,
        event_type text NOT NULL,
        body bytea NOT NULL,
        traceparent text,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        published_at timestamptz
    )
    """,
    "CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL",
    "CREATE INDEX outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL",
)


# One statement: first every key's lock, in key order (a fixed order cannot deadlock), then the
# rows, ids drawn in the call's order (ordinality). The locks are the InitPlan of the insert's
# one-time filter (EXPLAIN shows it), which PostgreSQL runs before the first row: before any id.
ADD_EVENTS_SQL = (
    "WITH locks AS (SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) "
    "FROM (SELECT DISTINCT unnest(CAST(:keys AS text[])) AS k ORDER BY 1) AS keys) "
    "INSERT INTO outbox (event_id, topic, key, event_type, body, traceparent) "
    "SELECT e, t, k, y, decode(b, 'base64'), tp FROM ROWS FROM (json_to_recordset(CAST(:rows AS json)) "
    "AS (e uuid, t text, k text, y text, b text, tp text)) WITH ORDINALITY AS o(e, t, k, y, b, tp, n) "
    "WHERE (SELECT count(*) FROM locks) > 0 ORDER BY n"
)


_ADD_EVENTS = text(ADD_EVENTS_SQL)


# The broker's default limit on a record batch is 1 MiB; this leaves room for the key, headers and
# the batch's own framing.
MAX_EVENT_BYTES = 900 * 1024


class EventTooLarge(RegistryError):
    def __init__(self, event_type: str, size: int) -> None:
        super().__init__(
            413,
            "event_too_large",
            f"The change would publish a {event_type} event of {size:,} bytes, more than the {MAX_EVENT_BYTES:,} "
            "the broker carries; nothing was changed. Send it in smaller parts.",
        )


def _row(topic: str, env: EventEnvelope) -> dict[str, Any]:
    body = env.to_bytes()
    if len(body) > MAX_EVENT_BYTES:
        raise EventTooLarge(env.type, len(body))
    return {
        "e": env.event_id,
        "t": topic,
        "k": env.key,
        "y": env.type,
        "b": base64.b64encode(body).decode(),
        "tp": env.traceparent,
    }


def add_events_params(batch: Sequence[tuple[str, EventEnvelope]]) -> dict[str, Any]:
    """The parameters of ADD_EVENTS_SQL for `batch`, for callers that send the statement
    themselves (the ledger's writer, in a pipeline with its other writes). Raises EventTooLarge."""
    return {
        "keys": sorted({env.key for _, env in batch}),
        "rows": orjson.dumps([_row(topic, env) for topic, env in batch]).decode(),
    }


async def add_events(conn: AsyncConnection, events: Iterable[tuple[str, EventEnvelope]]) -> None:
    batch = list(events)
    if batch:
        await conn.execute(_ADD_EVENTS, add_events_params(batch))


_LEADER_SQL = "SELECT pg_try_advisory_lock(hashtextextended(%(k)s, 0))"
_MARK_SQL = "UPDATE outbox SET published_at = clock_timestamp() WHERE id = ANY(%(sent)s::bigint[])"
# The read runs on the statement's snapshot, which does not see the mark: hence the exclusion.
_STEP_SQL = (
    f"WITH marked AS ({_MARK_SQL}) "
    "SELECT id, topic, key, event_type, body, traceparent FROM outbox "
    "WHERE published_at IS NULL AND id <> ALL(%(sent)s::bigint[]) ORDER BY id LIMIT %(n)s"
)


async def _plain_index_scans(conn: AsyncConnection) -> None:
    # Until `outbox` is first analyzed (a fresh database's first minute or two), PostgreSQL reads
    # the unpublished rows with a bitmap scan, which walks the partial index's entries of every
    # row marked since the last vacuum and never marks them dead: 2,600 entries per step in a
    # fresh registry. A plain index scan stops after the few unpublished rows and marks the dead
    # entries it passes, so later steps skip them (docs/ledger-performance.md, session 14).
    await conn.execute(text("SET enable_bitmapscan = off"))


class OutboxRelay:
    def __init__(
        self,
        *,
        engine: AsyncEngine,
        schema: str,
        producer: AIOKafkaProducer,
        bootstrap: str,
        topics: Sequence[TopicSpec],
        batch_size: int = 500,
        poll_interval: float = 0.05,
        retention_seconds: int = 7 * 24 * 3600,
        topic_check_interval: float = 5.0,
        replication_factor: int = 1,
    ) -> None:
        self._engine = engine
        self._schema = schema
        self._producer = producer
        self._bootstrap = bootstrap
        self._topics = list(topics)
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._retention_seconds = retention_seconds
        self._topic_check_interval = topic_check_interval
        self._replication_factor = replication_factor
        self._wakeup = asyncio.Event()
        # (topic, key) -> (partition count when computed, partition).
        self._partitions: dict[tuple[str, bytes], tuple[int, int]] = {}
        # Ids the broker has acknowledged and the outbox does not yet mark: the next step marks them.
        self._unmarked: list[int] = []
        # The connection whose session holds the leader lock (it dies with the connection).
        self._leading: Any = None
        # Topics this relay published to, and whether it checked its topics once: see check_topics.
        self._published_to: set[str] = set()
        self._checked = False

    def wake(self) -> None:
        """Publish now: called after a commit that added outbox rows, so events leave at once
        even when the relay has backed off."""
        self._wakeup.set()

    async def check_topics(self) -> int:
        """Declare our topics; requeue the retained rows of any that lost its records.

        A topic lost them if it holds none now, yet this relay published to it, or had to create it,
        or (at the first check) the outbox says it was published to: another service consuming the
        topic may have declared it again before this relay looked (an in-memory broker restarted)."""
        created = await declare_topics(self._bootstrap, self._topics, self._replication_factor)
        # Only the topics that could have lost records are read (a relay that never published reads none).
        suspects = sorted(self._published_to | created) if self._checked else [t.name for t in self._topics]
        self._checked = True
        lost = await empty_topics(self._bootstrap, suspects) if suspects else set()
        if not lost:
            return 0
        async with self._engine.begin() as conn:
            # Up to the whole retention period's rows, once: cut off at the statement limit, it
            # would fail the same way at every later check, and nothing would be republished.
            await db.lift_timeouts(conn)
            result = await conn.execute(
                text(
                    "UPDATE outbox SET published_at = NULL WHERE topic = ANY(:topics) AND published_at IS NOT NULL"
                ).bindparams(bindparam("topics", type_=ARRAY(TEXT))),
                {"topics": sorted(lost)},
            )
        requeued = result.rowcount or 0
        if requeued:
            log.warning("topics %s lost their records; republishing %d retained events", sorted(lost), requeued)
        return requeued

    async def publish_batch(self) -> int:
        """Publish one batch and mark it before returning (tests and tools; `run` marks each batch
        with its next step). Returns how many rows were published."""
        own = self.kept_connection()
        try:
            raw = await db.driver_of(await own.get())
            published = await self.step(raw)
            await self._mark(raw)
            return published
        finally:
            await own.discard()

    def kept_connection(self) -> db.KeptConnection:
        """The connection a relay keeps between steps, its session set for the step's read."""
        return db.KeptConnection(self._engine, setup=_plain_index_scans)

    async def step(self, raw: Any) -> int:
        """One step of `run` on the psycopg connection it keeps (autocommit): take the leader lock
        if this connection does not hold it yet, then in one statement mark what the last step sent
        and read the next rows in id order, and hand them to the broker. Returns how many were sent;
        they are marked by the next step."""
        if self._leading is not raw:
            leader = await raw.execute(_LEADER_SQL, {"k": f"outbox-relay:{self._schema}"})
            if not (await leader.fetchone())[0]:
                return 0
            self._leading = raw
        pending = await raw.execute(_STEP_SQL, {"sent": self._unmarked, "n": self._batch_size})
        self._unmarked = []
        rows = await pending.fetchall()
        if not rows:
            return 0
        with tracer.start_as_current_span("outbox.publish", attributes={"batch.size": len(rows)}):
            await asyncio.gather(*await self._send(rows))
        self._published_to.update(row[1] for row in rows)
        self._unmarked = [row[0] for row in rows]
        metrics.OUTBOX_PUBLISHED.add(len(rows), {"schema": self._schema})
        return len(rows)

    async def _mark(self, raw: Any) -> None:
        if self._unmarked and self._leading is raw:
            await raw.execute(_MARK_SQL, {"sent": self._unmarked})
            self._unmarked = []

    async def _send(self, rows: Sequence[Any]) -> list[asyncio.Future[Any]]:
        """Hand `rows` to the producer as record batches, one per partition, in id order within
        each (a batch built by the caller costs a fraction of one `send` per record)."""
        open_batches: dict[tuple[str, int], Any] = {}
        partitions: dict[str, list[int]] = {}
        sent = []
        for _, topic, key, event_type, body, traceparent in rows:
            headers = [("event_type", event_type.encode())]
            if traceparent:
                headers.append(("traceparent", traceparent.encode()))
            record = {"timestamp": None, "key": key.encode(), "value": bytes(body), "headers": headers}
            if topic not in partitions:
                partitions[topic] = sorted(await self._producer.partitions_for(topic))
            partition = self._partition(topic, record["key"], partitions[topic])
            batch = open_batches.get((topic, partition))
            if batch is None or batch.append(**record) is None:
                if batch is not None:
                    # Full: it goes first, so the partition keeps the rows' order.
                    sent.append(await self._producer.send_batch(batch, topic, partition=partition))
                batch = open_batches[(topic, partition)] = self._producer.create_batch()
                batch.append(**record)  # an empty batch takes any record (MAX_EVENT_BYTES bounds it)
        for (topic, partition), batch in open_batches.items():
            sent.append(await self._producer.send_batch(batch, topic, partition=partition))
        return sent

    def _partition(self, topic: str, key: bytes, partitions: list[int]) -> int:
        """The partition `send(key=...)` would choose (the Java client's murmur2 of the key), cached:
        aggregate keys repeat, and aiokafka's murmur2 is pure Python."""
        cached = self._partitions.get((topic, key))
        if cached is not None and cached[0] == len(partitions):
            return cached[1]
        if len(self._partitions) >= 100_000:
            self._partitions.clear()
        partition = DefaultPartitioner()(key, partitions, [])
        self._partitions[(topic, key)] = (len(partitions), partition)
        return partition

    async def purge_expired(self) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                text(
                    "DELETE FROM outbox WHERE published_at IS NOT NULL "
                    "AND published_at < clock_timestamp() - make_interval(secs => :s)"
                ),
                {"s": self._retention_seconds},
            )
        return result.rowcount or 0

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        next_check = 0.0
        idle = 0
        kept = self.kept_connection()
        try:
            while not stop.is_set():
                try:
                    if loop.time() >= next_check:
                        if await self.check_topics():
                            # Requeued: what was sent last may be on a topic the broker lost.
                            self._unmarked = []
                        await self.purge_expired()
                        next_check = loop.time() + self._topic_check_interval
                    published = await self.step(await db.driver_of(await kept.get()))
                except Exception:
                    # The broker or database is away: the rows stay unpublished and are sent later,
                    # over a new connection (this one may be what failed).
                    log.exception("outbox relay iteration failed; retrying")
                    await kept.discard()
                    published = 0
                    await asyncio.sleep(1.0)
                idle = idle + 1 if published == 0 else 0
                await self._pause(published, idle)
            if self._unmarked:
                with contextlib.suppress(Exception):
                    # A clean stop leaves nothing to send again.
                    await self._mark(await db.driver_of(await kept.get()))
        finally:
            await kept.discard()

    async def _pause(self, published: int, idle: int) -> None:
        # Poll fast while there is traffic, back off to a second when idle: an idle service should
        # not keep the database busy.
        if published < self._batch_size:
            delay = min(self._poll_interval * 2 ** min(idle, 10), 1.0)
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout=delay)
            except TimeoutError:
                pass
            self._wakeup.clear()
