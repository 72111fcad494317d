"""`/ready` names what keeps a service from doing its work, and is ready again once it gets past."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

from registry_platform import kafka
from registry_platform.inbox import RetryLater
from registry_platform.service import ConsumerSpec, ServiceDefinition, create_app
from registry_platform.testing.infra import serve_app, wait_ready

from .conftest import MIGRATIONS, heartbeat

pytestmark = pytest.mark.integration


async def _ready_until(url: str, done: Any, timeout: float = 30.0) -> httpx.Response:
    """Ask `/ready` until `done(answer)` holds, or fail when the time is up."""
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient(timeout=5) as http:
        while True:
            answer = await http.get(f"{url}/ready")
            if done(answer):
                return answer
            assert asyncio.get_running_loop().time() < deadline, f"/ready still answers {answer.text}"
            await asyncio.sleep(0.1)


async def test_a_consumer_retrying_one_event_is_not_ready_until_it_gets_past(
    service_settings, topic_prefix: str, infra
) -> None:  # type: ignore[no-untyped-def]
    """A handler waiting for a service that is away retries its event in place, and nothing behind it
    on the partition moves. Before, the service answered ready all along."""
    tries, back = [], asyncio.Event()

    async def handle(conn, envelope):  # type: ignore[no-untyped-def]
        tries.append(envelope.event_id)
        if not back.is_set():
            raise RetryLater("the rules service is away")

    handlers = {"platform.ServiceHeartbeat": handle}
    consumer = ConsumerSpec(name="crm.verdicts", topics=["rules.verdicts"], handlers=handlers)
    definition = ServiceDefinition(name="crm", version="0", migrations_dir=MIGRATIONS, consumers=[consumer])
    settings = service_settings("crm", consumer_stuck_after_seconds=0.5)
    topic = f"{topic_prefix}.rules.verdicts"
    async with serve_app(create_app(definition, settings)) as url:
        await wait_ready(url)
        producer = await kafka.start_producer(infra.kafka_bootstrap, idempotent=False)
        try:
            await producer.send_and_wait(topic, value=heartbeat("k", 0).to_bytes(), key=b"k")
        finally:
            await producer.stop()
        stuck = await _ready_until(url, lambda answer: answer.status_code == 503)
        background = stuck.json()["checks"]["background"]
        assert re.fullmatch(rf"stuck: consumer crm\.verdicts on {topic}\[\d\]@0 for \d+ s \(\d+ tries\)", background)
        assert len(tries) >= 2
        back.set()
        await _ready_until(url, lambda answer: answer.status_code == 200)
    assert len(set(tries)) == 1, "one event, retried"
