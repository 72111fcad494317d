"""Feeds every service's decision point from identity's `identity.access` topic.

Each service instance reads the whole topic from the beginning without a consumer group (grant
changes are few, and every instance needs all of them), and is ready once it has read up to the end
offsets it found at start. It polls with a short wait, so a change reaches the decision point well
within the one second A6R-51's issue asks for.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition

from registry_contracts.envelope import EventEnvelope, MalformedEvent
from registry_contracts.events import UnknownEventType, validate_payload
from registry_platform.authz import AccessState
from registry_platform.kafka import TopicSpec, declare_topics

log = logging.getLogger(__name__)

ACCESS_TOPIC = "identity.access"
# The events the decision points apply; any other type on the topic is not theirs to read.
WITHDRAWALS = frozenset({"identity.GrantChanged", "identity.SessionRevoked", "identity.UserAccessChanged"})


def access_topic_spec(name: str) -> TopicSpec:
    # Kept forever: a service started later must learn every withdrawal still in force.
    return TopicSpec(name, partitions=3, retention_ms=-1)


class AccessFeed:
    def __init__(self, *, bootstrap: str, topic: str, state: AccessState, replication_factor: int = 1) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._state = state
        self._replication_factor = replication_factor
        self.ready = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        spec = access_topic_spec(self._topic)
        await declare_topics(self._bootstrap, [spec], self._replication_factor)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,
        )
        await consumer.start()
        try:
            # Every partition: identity keys events by user, so one user's changes may be on any.
            # A consumer without a group has no metadata yet; `topics()` loads it.
            await consumer.topics()
            found = consumer.partitions_for_topic(self._topic) or range(spec.partitions)
            partitions = [TopicPartition(self._topic, p) for p in sorted(found)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            # Read from the beginning into a state of its own, taken over once up to date: a feed
            # restarted after a failure must not replay a grant's "active" over its later
            # "suspended" in the state requests are decided on.
            into, caught_up = AccessState(current=False), False
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=100, max_records=1000)
                for records in batch.values():
                    for record in records:
                        self._apply(into, record.value)
                if not caught_up and all([await consumer.position(tp) >= end for tp, end in ends.items()]):
                    self._state.adopt(into)
                    into, caught_up = self._state, True
                    self.ready.set()
        finally:
            await consumer.stop()

    @staticmethod
    def _apply(state: AccessState, value: bytes | None) -> None:
        try:
            envelope = EventEnvelope.from_bytes(value or b"")
        except MalformedEvent as exc:
            log.error("access feed: skipping an event that is no event envelope: %s", exc)
            return
        try:
            validate_payload(envelope.type, envelope.schema_version, envelope.payload)
        except UnknownEventType as exc:
            if envelope.type in WITHDRAWALS:
                # A newer schema of a withdrawal (identity upgraded first): skipped, a withdrawn grant
                # or ended session would pass here. Refuse instead, until this service is upgraded.
                state.unreadable = f"{envelope.type} v{envelope.schema_version}"
                log.critical("access feed: cannot read %s; refusing bearer requests: %s", state.unreadable, exc)
            return
        except MalformedEvent as exc:
            log.error("access feed: skipping a malformed event: %s", exc)
            return
        p = envelope.payload
        if envelope.type == "identity.GrantChanged":
            state.grant_changed(p["grant_id"], p["status"])
        elif envelope.type == "identity.SessionRevoked":
            state.session_revoked(p["session_id"])
        elif envelope.type == "identity.UserAccessChanged":
            state.user_access_changed(p["user_id"], p["status"])
