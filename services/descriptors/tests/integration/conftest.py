"""A running descriptors service (real HTTP, PostgreSQL and broker) with a controlled clock, a stand-in
for the ledger's read API, and the ledger's side of the topics played by the test."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from fastapi import FastAPI, HTTPException

from descriptors.bootstrap import build_definition
from descriptors.settings import DescriptorsSettings
from registry_contracts.envelope import EventEnvelope
from registry_platform.auth import Grant, dev_signing_key, issue_token
from registry_platform.events import new_envelope
from registry_platform.service import create_app
from registry_platform.settings import DEV_TOKEN_SECRET
from registry_platform.testing.infra import serve_app

T0 = datetime(2026, 3, 10, 23, 0, tzinfo=UTC)
# Recorded transactions settle this long before their markers are decided (ledger order).
SETTLE = 2.0
KEY = dev_signing_key(DEV_TOKEN_SECRET)
GHA_ADMIN = [Grant("section_administrator", section="GHA")]
CHE_ADMIN = [Grant("section_administrator", section="CHE")]
ADMIN = [Grant("registry_administrator")]
SERVICE = [Grant("registry_service")]
SCOPE = {"originating_registry": "INT01", "issuing_party": "GHA", "activity_id": "GH-COOK-001", "vintage": 2024,
         "metric": "tCO2e"}  # fmt: skip
# The ledger's accounts, as GET /accounts/{number} describes them.
ACCOUNTS = {
    "GHA-100001": {"section": "GHA", "type": "issuance", "cooperative_approach": "CA0001"},
    "GHA-100002": {"section": "GHA", "type": "holding", "cooperative_approach": None},
    "GHA-100003": {"section": "GHA", "type": "holding", "cooperative_approach": None},
    "CHE-100004": {"section": "CHE", "type": "holding", "cooperative_approach": None},
    "CHE-100005": {"section": "CHE", "type": "use_ndc", "cooperative_approach": None},
    "REG-100006": {"section": None, "type": "proxy", "cooperative_approach": None},
}
APPROACHES = [{"id": "CA0001", "name": "GHA-CHE", "parties": ["CHE", "GHA"]}]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def fake_ledger() -> FastAPI:
    app = FastAPI()

    @app.get("/accounts/{number}")
    async def account(number: str) -> dict[str, Any]:
        if number not in ACCOUNTS:
            raise HTTPException(404)
        return {"number": number, **ACCOUNTS[number]}

    @app.get("/cooperative-approaches")
    async def approaches() -> list[dict[str, Any]]:
        return APPROACHES

    return app


def headers(grants: list[Grant], *, step_up: bool = True) -> dict[str, str]:
    auth_time = None if step_up else int(time.time()) - 3600
    return {"Authorization": f"Bearer {issue_token(KEY, 'tester', grants, lifetime=3600, auth_time=auth_time)}"}


class Client:
    def __init__(self, http: httpx.AsyncClient, url: str, clock: Clock) -> None:
        self.http, self.url, self.clock = http, url, clock

    async def call(
        self, method: str, path: str, body: Any = None, grants: list[Grant] = ADMIN, **kw: Any
    ) -> httpx.Response:
        params = kw.pop("params", None)
        return await self.http.request(
            method, f"{self.url}{path}", json=body, params=params, headers=headers(grants, **kw)
        )

    async def ok(self, method: str, path: str, body: Any = None, grants: list[Grant] = ADMIN, **kw: Any) -> Any:
        response = await self.call(method, path, body, grants, **kw)
        assert response.status_code in (200, 201), response.text
        return response.json()

    async def authorize(
        self, body: dict[str, Any], id: uuid.UUID | None = None, grants: list[Grant] = GHA_ADMIN
    ) -> httpx.Response:
        """PUT an authorization, retrying while the units' issuance is still on its way to the service."""
        id = id or uuid.uuid4()
        for _ in range(100):
            response = await self.call("PUT", f"/authorizations/{id}", body, grants)
            if response.status_code != 409 or response.json()["error"]["code"] != "unknown_units":
                return response
            await asyncio.sleep(0.1)
        return response

    async def eventually(self, check: Callable[[], Any], timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            result = await check()
            if result or time.monotonic() > deadline:
                return result
            await asyncio.sleep(0.1)


async def start_descriptors(
    stack: contextlib.AsyncExitStack, settings: DescriptorsSettings, clock: Clock, http: httpx.AsyncClient
) -> Client:
    url = await stack.enter_async_context(serve_app(create_app(build_definition(clock=clock), settings)))
    for _ in range(400):
        if (await http.get(f"{url}/ready")).status_code == 200:
            break
        await asyncio.sleep(0.05)
    return Client(http, url, clock)


@pytest.fixture
async def ledger_url() -> AsyncIterator[str]:
    async with serve_app(fake_ledger()) as url:
        yield url


@pytest.fixture
async def descriptors(service_settings, ledger_url) -> AsyncIterator[Client]:  # type: ignore[no-untyped-def]
    settings = service_settings("descriptors", DescriptorsSettings, ledger_url=ledger_url, marker_settle_seconds=SETTLE)
    async with contextlib.AsyncExitStack() as stack, httpx.AsyncClient(timeout=30) as http:
        yield await start_descriptors(stack, settings, Clock(T0), http)


class Bus:
    """The ledger's end: publishes its recorded transactions; reads the outbound descriptors."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.prefix = prefix
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        self.bootstrap = bootstrap

    async def recorded(self, tx: str, kind: str, operations: list[dict[str, Any]], at: datetime) -> EventEnvelope:
        payload = {"transaction_id": tx, "kind": kind, "status": "recorded", "initiator": "tester",
                   "on_behalf_of": None, "operations": operations, "recorded_at": at.isoformat()}  # fmt: skip
        envelope = new_envelope(type="ledger.TransactionRecorded", payload=payload, key=tx, producer="ledger")
        await self.producer.send_and_wait(f"{self.prefix}.ledger.transactions", envelope.to_bytes(), key=tx.encode())
        return envelope

    async def outbound(self, expected: int, timeout: float = 20.0) -> list[EventEnvelope]:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
        await consumer.start()
        try:
            topic = f"{self.prefix}.descriptors.outbound"
            partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or (0,)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            seen: list[EventEnvelope] = []
            deadline = time.monotonic() + timeout
            while len(seen) < expected and time.monotonic() < deadline:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    seen += [EventEnvelope.from_bytes(r.value) for r in records]
            return seen
        finally:
            await consumer.stop()


@pytest.fixture
async def bus(infra, topic_prefix) -> AsyncIterator[Bus]:  # type: ignore[no-untyped-def]
    bus = Bus(infra.kafka_bootstrap, topic_prefix)
    await bus.producer.start()
    try:
        yield bus
    finally:
        await bus.producer.stop()


def blocks(first: int, last: int, account: str, scope: dict[str, Any] = SCOPE) -> list[dict[str, Any]]:
    return [{"block_id": first, "account": account, "scope": scope, "first": first, "last": last,
             "quantity": last - first + 1}]  # fmt: skip


def issue_op(account: str, first: int, last: int) -> dict[str, Any]:
    return {"op": "issue", "account": account, "blocks": blocks(first, last, account)}


def transfer_op(source: str, destination: str, first: int, last: int) -> dict[str, Any]:
    return {"op": "transfer", "source": source, "destination": destination, "blocks": blocks(first, last, destination)}
