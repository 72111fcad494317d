"""Idempotent consumption: the inbox row and the consumer's effects commit together.

The consumer reads its topics' partitions (assigned explicitly: joining a group on the local broker
takes seconds, ARCHITECTURE.md §5), and commits offsets only after the events' transactions
committed. A consumer killed between the two reprocesses the batch; the inbox drops the duplicates.

Malformed events (bad JSON, unknown type, schema violation) and events a handler refuses are
parked in `<topic>.dlq` with the reason, and the consumer moves on: one bad event never blocks the
events behind it. Transient failures (database away) are retried in place, keeping per-key order;
a consumer that has retried one event for long is named in its service's `/ready`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from itertools import groupby
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.trace import Link
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, PendingRollbackError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from registry_contracts.envelope import EventEnvelope, MalformedEvent
from registry_contracts.events import UnknownEventType, validate_payload
from registry_platform import metrics
from registry_platform.kafka import TopicSpec, declare_topics, new_consumer

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

INBOX_DDL = (
    """
    CREATE TABLE inbox (
        consumer text NOT NULL,
        event_id uuid NOT NULL,
        event_type text NOT NULL,
        topic text NOT NULL,
        kafka_partition int NOT NULL,
        kafka_offset bigint NOT NULL,
        processed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (consumer, event_id)
    )
    """,
)

Handler = Callable[[AsyncConnection, EventEnvelope], Awaitable[None]]
ManyHandler = Callable[[AsyncConnection, list[EventEnvelope]], Awaitable[None]]


@dataclass(frozen=True)
class Together:
    """A handler that takes a run of consecutive events of its type at once, in a batch consumer's
    transaction: one set of statements for many events instead of one per event. Called with one
    event (the consumer's event-by-event fallback), it handles a run of one."""

    handle_many: ManyHandler

    async def __call__(self, conn: AsyncConnection, envelope: EventEnvelope) -> None:
        await self.handle_many(conn, [envelope])


# The inbox rows of a whole batch in one statement; those returned are new, the rest redeliveries.
_CLAIM_ALL = text(
    "INSERT INTO inbox (consumer, event_id, event_type, topic, kafka_partition, kafka_offset) "
    "SELECT :c, e, t, topic, p, o FROM json_to_recordset(CAST(:rows AS json)) "
    "AS r(e uuid, t text, topic text, p int, o bigint) ON CONFLICT DO NOTHING RETURNING event_id"
)


class RetryLater(Exception):
    """Raised by a handler that depends on something away for now (another service): the event is
    retried in place, like a database outage, keeping per-key order."""


class RefusedEvent(Exception):
    """Raised by a handler for an event it can never process; the event goes to the dead-letter topic."""


# Failures that pass: the database or network away, no pooled connection free in time (not a DBAPI
# error), a connection invalidated mid-transaction, a service the handler needs away. A statement or
# lock wait past its limit (db.Timeouts) is an OperationalError too: it is retried in place, and
# `/ready` names the consumer once that lasts.
TRANSIENT = (OperationalError, InterfaceError, OSError, PoolTimeout, PendingRollbackError, RetryLater)


def transient(exc: BaseException) -> bool:
    """Whether retrying the event may succeed. A session the server ended fails as the error it
    sent, whatever its class: ended for idling in a transaction past its limit, it is an
    InternalError (25P03), and SQLAlchemy marks the connection invalidated."""
    return isinstance(exc, TRANSIENT) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)


def dlq_topic(topic: str) -> str:
    return f"{topic}.dlq"


@dataclass
class Stuck:
    """The event a consumer has been retrying in place since `since` (time.monotonic()): nothing
    behind it on its partition is handled meanwhile."""

    topic: str
    partition: int
    offset: int
    since: float
    tries: int = 1

    def is_at(self, record: ConsumerRecord[Any, Any]) -> bool:
        return (self.topic, self.partition, self.offset) == (record.topic, record.partition, record.offset)

    def describe(self, consumer: str) -> str:
        return (
            f"consumer {consumer} on {self.topic}[{self.partition}]@{self.offset} "
            f"for {time.monotonic() - self.since:.0f} s ({self.tries} tries)"
        )


class InboxConsumer:
    def __init__(
        self,
        *,
        name: str,
        engine: AsyncEngine,
        bootstrap: str,
        topics: list[TopicSpec],
        handlers: Mapping[str, Handler],
        producer: AIOKafkaProducer,
        group_prefix: str,
        replication_factor: int = 1,
        on_commit: Callable[[], None] = lambda: None,
        batch: bool = False,
        fetch_max_wait_ms: int = 100,
    ) -> None:
        self.name = name
        self._engine = engine
        self._bootstrap = bootstrap
        self._topics = topics
        self._handlers = dict(handlers)
        self._producer = producer
        self._group = f"{group_prefix}.{name}"
        self._replication_factor = replication_factor
        # Called after each handler's transaction commits: handlers add outbox rows, and the relay
        # should publish them now rather than at its next poll.
        self._on_commit = on_commit
        # Handle each fetched batch in one transaction (one commit for many events); on any
        # failure the batch is handled again event by event, so a bad event is still parked alone.
        self._batch = batch
        self._fetch_max_wait_ms = fetch_max_wait_ms
        self._consumer: AIOKafkaConsumer | None = None
        self.ready = asyncio.Event()
        # Set while an event fails transiently on every try; `/ready` names it once it lasts.
        self.stuck: Stuck | None = None

    async def start(self) -> None:
        specs = self._topics + [TopicSpec(dlq_topic(t.name), partitions=1) for t in self._topics]
        await declare_topics(self._bootstrap, specs, self._replication_factor)
        consumer = new_consumer(self._bootstrap, self._group, fetch_max_wait_ms=self._fetch_max_wait_ms)
        await consumer.start()
        partitions = []
        for spec in self._topics:
            for p in consumer.partitions_for_topic(spec.name) or range(spec.partitions):
                partitions.append(TopicPartition(spec.name, p))
        consumer.assign(partitions)
        self._consumer = consumer
        self.ready.set()

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def run(self, stop: asyncio.Event) -> None:
        await self.start()
        assert self._consumer is not None
        try:
            while not stop.is_set():
                batch = await self._consumer.getmany(timeout_ms=max(self._fetch_max_wait_ms, 10), max_records=500)
                records = [r for rs in batch.values() for r in rs]
                if not (self._batch and len(records) > 1 and await self._process_together(records)):
                    for record in records:
                        await self._process(record, stop)
                if batch:
                    await self._consumer.commit()
        finally:
            await self.stop()

    async def _process_together(self, records: list[ConsumerRecord[Any, Any]]) -> bool:
        """All records in one transaction; False (nothing committed) if any fails or is malformed.
        The inbox rows go in first, in one statement; then each run of consecutive events of one
        type goes to its handler, at once if it handles runs (`Together`)."""
        try:
            envelopes = []
            for record in records:
                envelope = EventEnvelope.from_bytes(record.value)
                validate_payload(envelope.type, envelope.schema_version, envelope.payload)
                envelopes.append((record, envelope))
            async with self._engine.begin() as conn:
                fresh = await self._claim_all(conn, [(r, e) for r, e in envelopes if e.type in self._handlers])
                todo = []
                for record, envelope in envelopes:
                    # A redelivery is not in `fresh`; an event fetched twice is handled once.
                    if envelope.event_id in fresh:
                        fresh.discard(envelope.event_id)
                        todo.append((record, envelope))
                for type_, run in groupby(todo, key=lambda item: item[1].type):
                    await self._handle_run(conn, self._handlers[type_], list(run))
        except Exception as exc:
            log.info("consumer %s: batch of %d handled one by one: %s", self.name, len(records), exc)
            return False
        self._on_commit()
        metrics.INBOX_PROCESSED.add(len(records), {"consumer": self.name, "outcome": "batch"})
        return True

    async def _claim_all(
        self, conn: AsyncConnection, items: list[tuple[ConsumerRecord[Any, Any], EventEnvelope]]
    ) -> set[Any]:
        if not items:
            return set()
        rows = [{"e": e.event_id, "t": e.type, "topic": r.topic, "p": r.partition, "o": r.offset} for r, e in items]
        claimed = await conn.execute(_CLAIM_ALL, {"c": self.name, "rows": orjson.dumps(rows).decode()})
        return {row.event_id for row in claimed}

    async def _handle_run(
        self, conn: AsyncConnection, handler: Handler, run: list[tuple[ConsumerRecord[Any, Any], EventEnvelope]]
    ) -> None:
        first = run[0][1]
        if isinstance(handler, Together):
            links = [Link(trace.get_current_span(extract(_carrier(r))).get_span_context()) for r, _ in run]
            with tracer.start_as_current_span(f"consume {first.type}", kind=trace.SpanKind.CONSUMER, links=links):
                await handler.handle_many(conn, [e for _, e in run])
            return
        for record, envelope in run:
            with tracer.start_as_current_span(
                f"consume {envelope.type}", kind=trace.SpanKind.CONSUMER, context=extract(_carrier(record))
            ):
                await handler(conn, envelope)

    async def _process(self, record: ConsumerRecord[Any, Any], stop: asyncio.Event) -> None:
        try:
            envelope = EventEnvelope.from_bytes(record.value)
            validate_payload(envelope.type, envelope.schema_version, envelope.payload)
        except (MalformedEvent, UnknownEventType) as exc:
            await self._dead_letter(record, f"{type(exc).__name__}: {exc}")
            return
        handler = self._handlers.get(envelope.type)
        if handler is None:
            metrics.INBOX_PROCESSED.add(1, {"consumer": self.name, "outcome": "ignored"})
            return
        parent = extract(_carrier(record))
        token = otel_context.attach(parent)
        try:
            with tracer.start_as_current_span(f"consume {envelope.type}", kind=trace.SpanKind.CONSUMER):
                await self._handle_with_retry(record, envelope, handler, stop)
        finally:
            otel_context.detach(token)

    async def _handle_with_retry(
        self, record: ConsumerRecord[Any, Any], envelope: EventEnvelope, handler: Handler, stop: asyncio.Event
    ) -> None:
        delay = 0.2
        while True:
            try:
                outcome = await self._handle_once(record, envelope, handler)
                metrics.INBOX_PROCESSED.add(1, {"consumer": self.name, "outcome": outcome})
                self.stuck = None
                return
            except Exception as exc:
                if not transient(exc):
                    # RefusedEvent, a constraint violation or a handler defect: retrying cannot help.
                    await self._dead_letter(record, f"{type(exc).__name__}: {exc}")
                    self.stuck = None
                    return
                # The database or network is away: retry in place so per-key order is kept.
                if stop.is_set():
                    raise
                self._failed_again(record)
                log.warning("consumer %s: transient failure, retrying in %.1fs: %s", self.name, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _failed_again(self, record: ConsumerRecord[Any, Any]) -> None:
        # Kept across a restart of the consumer, which comes back to the same event.
        if self.stuck is not None and self.stuck.is_at(record):
            self.stuck.tries += 1
        else:
            self.stuck = Stuck(record.topic, record.partition, record.offset, since=time.monotonic())

    async def _handle_once(self, record: ConsumerRecord[Any, Any], envelope: EventEnvelope, handler: Handler) -> str:
        async with self._engine.begin() as conn:
            if not await self._claim_all(conn, [(record, envelope)]):
                return "duplicate"
            await handler(conn, envelope)
        self._on_commit()
        return "processed"

    async def _dead_letter(self, record: ConsumerRecord[Any, Any], reason: str) -> None:
        log.error(
            "consumer %s: parking %s[%d]@%d: %s", self.name, record.topic, record.partition, record.offset, reason
        )
        headers = [
            *(record.headers or ()),
            ("dlq.reason", reason.encode()[:4000]),
            ("dlq.consumer", self.name.encode()),
            ("dlq.source", f"{record.topic}:{record.partition}:{record.offset}".encode()),
        ]
        await self._producer.send_and_wait(dlq_topic(record.topic), value=record.value, key=record.key, headers=headers)
        metrics.DEAD_LETTERED.add(1, {"consumer": self.name})


def _carrier(record: ConsumerRecord[Any, Any]) -> dict[str, str]:
    return {k: v.decode(errors="replace") for k, v in (record.headers or ()) if k in ("traceparent", "tracestate")}
