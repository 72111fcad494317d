"""The rules service's verdicts, decided in batches (issue 5 saga).

Not through the inbox: a decision is idempotent by transaction id (a verdict read again finds its
proposal decided and changes nothing), so the feed needs no inbox rows. It reads what the broker
has, hands every verdict of the batch to the writer at once, so that they share one commit, and
commits the offsets only after the decisions committed: a crash in between reads them again.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import TopicPartition

from registry_contracts.envelope import EventEnvelope, MalformedEvent
from registry_contracts.events import UnknownEventType, validate_payload
from registry_platform.kafka import REQUEST_PATH_FETCH_WAIT_MS, TopicSpec, declare_topics, new_consumer

log = logging.getLogger(__name__)

Decide = Callable[[uuid.UUID, dict[str, Any]], Awaitable[Any]]


class VerdictFeed:
    def __init__(self, *, bootstrap: str, topic: str, group: str, decide: Decide, replication_factor: int = 1) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._group = group
        self._decide = decide
        self._replication_factor = replication_factor
        self.ready = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        await declare_topics(self._bootstrap, [TopicSpec(self._topic)], self._replication_factor)
        # A client waits on each verdict.
        consumer = new_consumer(self._bootstrap, self._group, fetch_max_wait_ms=REQUEST_PATH_FETCH_WAIT_MS)
        await consumer.start()
        try:
            partitions = consumer.partitions_for_topic(self._topic) or range(3)
            consumer.assign([TopicPartition(self._topic, p) for p in partitions])
            self.ready.set()
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=10, max_records=500)
                verdicts = [v for records in batch.values() for r in records if (v := _verdict(r.value))]
                if verdicts and not await self._decide_all(verdicts, stop):
                    # Stopping with verdicts undecided: their offsets stay uncommitted, so the next
                    # run reads them again (and finds the others of the batch decided already).
                    return
                if batch:
                    await consumer.commit()
        finally:
            await consumer.stop()

    async def _decide_all(self, verdicts: list[dict[str, Any]], stop: asyncio.Event) -> bool:
        """Whether every verdict was decided: retried until they are, unless stopping."""
        delay = 0.2
        while True:
            outcomes = await asyncio.gather(
                *(self._decide(uuid.UUID(v["transaction_id"]), v) for v in verdicts), return_exceptions=True
            )
            failed = [v for v, o in zip(verdicts, outcomes, strict=True) if isinstance(o, Exception)]
            if not failed:
                return True
            if stop.is_set():
                return False
            # The database is away or the writer is restarting: decide the rest again, in order.
            log.warning("%d verdicts not decided yet; retrying in %.1fs", len(failed), delay)
            verdicts = failed
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def _verdict(value: bytes | None) -> dict[str, Any] | None:
    try:
        envelope = EventEnvelope.from_bytes(value or b"")
        validate_payload(envelope.type, envelope.schema_version, envelope.payload)
    except (MalformedEvent, UnknownEventType) as exc:
        log.error("verdict feed: skipping a malformed event: %s", exc)
        return None
    if envelope.type != "rules.VerdictGiven":
        return None
    try:
        uuid.UUID(envelope.payload["transaction_id"])
    except (ValueError, TypeError, AttributeError):
        # No proposal has such an id; raised later, it would stop the feed on this event for ever.
        log.error(
            "verdict feed: skipping a verdict for %r, which is no transaction id",
            envelope.payload.get("transaction_id"),
        )
        return None
    return envelope.payload
