"""A service reads identity's withdrawals before it serves (A6R-51): a session ended before the
service (re)started is refused from its very first request."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter

from registry_platform.auth import REGISTRY_ADMINISTRATOR, Grant, dev_signing_key, issue_token
from registry_platform.authz import require
from registry_platform.events import new_envelope
from registry_platform.service import ServiceDefinition, create_app
from registry_platform.settings import DEV_TOKEN_SECRET, ServiceSettings
from registry_platform.testing.infra import serve_app

from .conftest import MIGRATIONS

pytestmark = pytest.mark.integration
ENDED = 30_000  # sessions ended before the start: enough that reading them takes a while


async def _end_sessions(bootstrap: str, topic: str, sessions: list[str]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        for start in range(0, len(sessions), 1000):
            sent = []
            for session in sessions[start : start + 1000]:
                payload = {"session_id": session, "user_id": "rada", "reason": "sign-out",
                           "revoked_at": datetime.now(UTC).isoformat()}  # fmt: skip
                envelope = new_envelope(
                    type="identity.SessionRevoked", payload=payload, key="rada", producer="identity"
                )
                sent.append(await producer.send(topic, envelope.to_bytes(), key=b"rada"))
            await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def test_a6r51_a_session_ended_before_the_start_is_refused_from_the_first_request(
    service_settings, topic_prefix: str, infra
) -> None:  # type: ignore[no-untyped-def]
    sessions = [f"s-{n}" for n in range(ENDED)]
    await _end_sessions(infra.kafka_bootstrap, f"{topic_prefix}.identity.access", sessions)
    router = APIRouter()

    @router.get("/sections", dependencies=[require(REGISTRY_ADMINISTRATOR)])
    async def sections() -> list[str]:
        return ["GHA"]

    definition = ServiceDefinition(name="crm", version="0", migrations_dir=Path(MIGRATIONS), routers=[router])
    token = issue_token(
        dev_signing_key(DEV_TOKEN_SECRET), "rada", [Grant(REGISTRY_ADMINISTRATOR)], session=sessions[-1]
    )
    async with serve_app(create_app(definition, service_settings("crm", ServiceSettings))) as url:
        async with httpx.AsyncClient(timeout=10) as http:
            first = await http.get(f"{url}/sections", headers={"Authorization": f"Bearer {token}"})
    assert first.status_code == 401, first.text
