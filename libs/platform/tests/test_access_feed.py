"""A service reads identity's withdrawals before it serves (A6R-51): a session ended before the
service (re)started is refused from its very first request."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter

from registry_contracts.envelope import EventEnvelope
from registry_platform.access_feed import AccessFeed
from registry_platform.auth import REGISTRY_ADMINISTRATOR, Grant, Principal, dev_signing_key, issue_token
from registry_platform.authz import AccessState, require
from registry_platform.errors import RegistryError
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


async def _crm_after_sessions_ended(bootstrap: str, topic_prefix: str) -> tuple[ServiceDefinition, str]:
    """A service with an endpoint for registry administrators, and the token of an administrator
    whose session identity ended (the last of ENDED sessions ended before the service starts)."""
    sessions = [f"s-{n}" for n in range(ENDED)]
    await _end_sessions(bootstrap, f"{topic_prefix}.identity.access", sessions)
    router = APIRouter()

    @router.get("/sections", dependencies=[require(REGISTRY_ADMINISTRATOR)])
    async def sections() -> list[str]:
        return ["GHA"]

    definition = ServiceDefinition(name="crm", version="0", migrations_dir=Path(MIGRATIONS), routers=[router])
    ended = issue_token(
        dev_signing_key(DEV_TOKEN_SECRET), "rada", [Grant(REGISTRY_ADMINISTRATOR)], session=sessions[-1]
    )
    return definition, ended


async def test_a6r51_a_session_ended_before_the_start_is_refused_from_the_first_request(
    service_settings, topic_prefix: str, infra
) -> None:  # type: ignore[no-untyped-def]
    definition, ended = await _crm_after_sessions_ended(infra.kafka_bootstrap, topic_prefix)
    async with serve_app(create_app(definition, service_settings("crm", ServiceSettings))) as url:
        async with httpx.AsyncClient(timeout=10) as http:
            first = await http.get(f"{url}/sections", headers={"Authorization": f"Bearer {ended}"})
    assert first.status_code == 401, first.text


async def test_a6r51_a_service_serving_before_its_feed_caught_up_refuses_bearer_requests(
    service_settings, topic_prefix: str, infra
) -> None:  # type: ignore[no-untyped-def]
    """Started without waiting for the feed (a broker too slow), a service answers bearer requests
    503 until the withdrawals are read: before, it served them, and an ended session passed."""
    definition, ended = await _crm_after_sessions_ended(infra.kafka_bootstrap, topic_prefix)
    settings = service_settings("crm", ServiceSettings, access_feed_wait_seconds=0)
    answers = []
    async with serve_app(create_app(definition, settings)) as url:
        async with httpx.AsyncClient(timeout=10) as http:
            for _ in range(400):
                answer = await http.get(f"{url}/sections", headers={"Authorization": f"Bearer {ended}"})
                answers.append(answer.status_code)
                if answer.status_code != 503:
                    break
                assert answer.json()["error"]["code"] == "access_state_catching_up"
    assert set(answers) <= {503, 401} and answers[-1] == 401, answers


async def test_a6r51_a_restarted_feed_never_shows_a_withdrawn_grant_as_active_while_it_reads_again(
    topic_prefix: str, infra
) -> None:  # type: ignore[no-untyped-def]
    """The feed is restarted after a failure and reads the topic from the beginning again: a grant
    made active, then suspended, stays withdrawn all along. Before, the replay went into the state
    requests are decided on, and between its fetches the grant was active again."""
    topic = f"{topic_prefix}.identity.access"
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        changes = ["active", *["active"] * 2500, "suspended"]
        sent = []
        for status in changes:
            payload = {"grant_id": "g-1", "user_id": "rada", "role": REGISTRY_ADMINISTRATOR, "status": status,
                       "changed_by": "root", "changed_at": datetime.now(UTC).isoformat()}  # fmt: skip
            envelope = new_envelope(type="identity.GrantChanged", payload=payload, key="rada", producer="identity")
            sent.append(await producer.send(topic, envelope.to_bytes(), key=b"rada"))
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    state = _Counting(current=False)
    for run in range(2):
        feed = AccessFeed(bootstrap=infra.kafka_bootstrap, topic=topic, state=state)
        stop = asyncio.Event()
        task = asyncio.create_task(feed.run(stop))
        await asyncio.wait_for(feed.ready.wait(), timeout=30)
        stop.set()
        await task
        assert "g-1" in state.withdrawn_grants
        if run == 0:
            state.changes = 0
    assert state.changes == 0, "the restarted feed replayed into the state requests are decided on"


class _Counting(AccessState):
    """Counts the changes applied to it."""

    changes = 0

    def grant_changed(self, grant_id: str, status: str) -> None:
        self.changes += 1
        super().grant_changed(grant_id, status)


def _event(type: str, schema_version: int, payload: dict[str, object]) -> bytes:
    envelope = EventEnvelope(
        type=type,
        schema_version=schema_version,
        occurred_at=datetime.now(UTC),
        producer="identity",
        correlation_id=uuid.uuid4(),
        key="k",
        payload=payload,
    )
    return envelope.to_bytes()


def test_a6r51_a_withdrawal_this_service_cannot_read_stops_it_deciding_instead_of_being_skipped() -> None:
    """Identity upgraded first publishes a session's end in a schema this service does not know:
    skipped, the ended session passed here. Now every bearer request is refused (503) until the
    service is upgraded; an event of a type that withdraws nothing is still skipped."""
    state = AccessState()
    AccessFeed._apply(state, _event("identity.SomethingNew", 1, {"x": 1}))
    assert state.unreadable is None
    state.apply(Principal("alice"))
    AccessFeed._apply(state, _event("identity.SessionRevoked", 2, {"session_id": "s-1", "reason": "ended"}))
    assert state.unreadable == "identity.SessionRevoked v2"
    with pytest.raises(RegistryError) as refused:
        state.apply(Principal("alice", session="s-2"))
    assert (refused.value.status, refused.value.code) == (503, "access_events_unreadable")
    replayed = AccessState(current=False)
    replayed.adopt(state)
    assert replayed.unreadable == state.unreadable, "a restarted feed's state keeps it"
