"""Child processes for the crash tests: a relay, or a consumer, that the test SIGKILLs.

Run as `python -m ...crash_worker relay|consumer <database_url> <bootstrap> <topic> [kill_after]`.
The consumer kills itself with SIGKILL right after the Nth event's transaction committed and
before the offsets are committed: the window in which a real crash loses the offset commit.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from registry_contracts.envelope import EventEnvelope
from registry_platform import db, kafka
from registry_platform.inbox import InboxConsumer
from registry_platform.kafka import TopicSpec
from registry_platform.outbox import OutboxRelay


async def record(conn: AsyncConnection, envelope: EventEnvelope) -> None:
    await conn.execute(text("INSERT INTO received (event_id) VALUES (:e)"), {"e": envelope.event_id})


class SlowToMark(OutboxRelay):
    """A relay that waits a moment between the broker's acknowledgement and marking the rows
    published: the window in which a real crash republishes a batch, wide enough for the test to
    kill it there."""

    async def _send(self, rows: Any) -> Any:
        sent = await super()._send(rows)
        await asyncio.gather(*sent)
        await asyncio.sleep(0.05)
        return sent


class KillAfter(InboxConsumer):
    def __init__(self, kill_after: int, **kw: Any) -> None:
        super().__init__(**kw)
        self._left = kill_after

    async def _handle_once(self, record: Any, envelope: EventEnvelope, handler: Any) -> str:
        outcome = await super()._handle_once(record, envelope, handler)
        self._left -= 1
        if self._left == 0:
            os.kill(os.getpid(), signal.SIGKILL)
        return outcome


async def main(role: str, url: str, bootstrap: str, topic: str, kill_after: int) -> None:
    stop = asyncio.Event()
    producer = await kafka.start_producer(bootstrap, idempotent=False)
    if role == "relay":
        engine = db.create_engine(url, "svc_a")
        relay = SlowToMark(
            engine=engine,
            schema="svc_a",
            producer=producer,
            bootstrap=bootstrap,
            topics=[TopicSpec(topic)],
            batch_size=200,
            poll_interval=0.01,
        )
        await relay.run(stop)
    else:
        engine = db.create_engine(url, "svc_b")
        consumer = KillAfter(
            kill_after,
            name="svc_b.crash",
            engine=engine,
            bootstrap=bootstrap,
            topics=[TopicSpec(topic)],
            handlers={"platform.ServiceHeartbeat": record},
            producer=producer,
            group_prefix=topic,
        )
        await consumer.run(stop)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]) if len(sys.argv) > 5 else 0))
