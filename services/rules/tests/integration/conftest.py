"""A running rules service (real HTTP, PostgreSQL and broker) with a controlled clock, clients with
verified tokens, and the ledger's side of the topics played by the test."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from registry_contracts.envelope import EventEnvelope
from registry_platform.auth import Grant, dev_signing_key, issue_token
from registry_platform.events import new_envelope
from registry_platform.service import create_app
from registry_platform.settings import DEV_TOKEN_SECRET
from registry_platform.testing.infra import serve_app
from rules.bootstrap import build_definition
from rules.settings import RulesSettings

T0 = datetime(2030, 1, 1, tzinfo=UTC)
ADMIN = [Grant("registry_administrator")]
KEY = dev_signing_key(DEV_TOKEN_SECRET)


class Clock:
    """The service's clock, moved by the test (A6R-39: retirements at an instant)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class RulesClient:
    def __init__(self, http: httpx.AsyncClient, base_url: str, clock: Clock, prefix: str, bootstrap: str) -> None:
        self.http = http
        self.base_url = base_url
        self.clock = clock
        self.prefix = prefix
        self.bootstrap = bootstrap

    def headers(self, grants: list[Grant] = ADMIN, subject: str = "admin", *, step_up: bool = True) -> dict[str, str]:
        auth_time = None if step_up else int(time.time()) - 3600
        token = issue_token(KEY, subject, grants, lifetime=3600, auth_time=auth_time)
        return {"Authorization": f"Bearer {token}"}

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, Any] | None = None,
        *,
        key: str | None = None,
        **kw: Any,
    ) -> httpx.Response:
        """`key`: the request's Idempotency-Key."""
        url = f"{self.base_url}{path}"
        headers = self.headers(**kw) | ({"Idempotency-Key": key} if key is not None else {})
        return await self.http.request(method, url, json=body, params=params, headers=headers)

    async def ok(
        self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None, **kw: Any
    ) -> Any:
        response = await self.call(method, path, body, params, **kw)
        assert response.status_code in (200, 201), response.text
        return response.json()

    async def preview(self, proposal: dict[str, Any]) -> dict[str, Any]:
        body = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in proposal.items()}
        result: dict[str, Any] = await self.ok("POST", "/evaluations", body)
        return result


@pytest.fixture
async def rules(service_settings, infra, topic_prefix) -> AsyncIterator[RulesClient]:  # type: ignore[no-untyped-def]
    clock = Clock(T0)
    app = create_app(build_definition(clock=clock), service_settings("rules", RulesSettings))
    async with serve_app(app) as url, httpx.AsyncClient(timeout=30) as http:
        for _ in range(400):
            if (await http.get(f"{url}/ready")).status_code == 200:
                break
            await asyncio.sleep(0.05)
        yield RulesClient(http, url, clock, topic_prefix, infra.kafka_bootstrap)


@pytest.fixture
async def bus(rules: RulesClient) -> AsyncIterator[Bus]:
    bus = Bus(rules.bootstrap, rules.prefix)
    await bus.start()
    try:
        yield bus
    finally:
        await bus.stop()


class Bus:
    """The ledger's end of the saga: publishes its events, reads what the rules service publishes."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.prefix = prefix
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
        self.seen: list[EventEnvelope] = []

    async def start(self) -> None:
        await self.producer.start()
        await self.consumer.start()
        partitions = []
        for topic in ("rules.verdicts", "rules.compliance", "rules.configuration"):
            name = f"{self.prefix}.{topic}"
            partitions += [TopicPartition(name, p) for p in self.consumer.partitions_for_topic(name) or (0,)]
        self.consumer.assign(partitions)
        await self.consumer.seek_to_beginning(*partitions)

    async def stop(self) -> None:
        await self.consumer.stop()
        await self.producer.stop()

    async def publish(self, topic: str, type: str, key: str, payload: dict[str, Any]) -> EventEnvelope:
        plain = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in payload.items()}
        envelope = new_envelope(type=type, payload=plain, key=key, producer="ledger")
        await self.producer.send_and_wait(f"{self.prefix}.{topic}", envelope.to_bytes(), key=key.encode())
        return envelope

    async def wait_for_all(
        self, match: Callable[[EventEnvelope], bool], count: int, timeout: float = 15.0
    ) -> list[EventEnvelope]:
        """The first `count` events published by the rules service that `match`."""
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.seen if match(e)]
            if len(found) >= count:
                return found[:count]
            assert time.monotonic() < deadline, f"no matching event; seen {[e.type for e in self.seen]}"
            batch = await self.consumer.getmany(timeout_ms=100)
            for records in batch.values():
                self.seen += [EventEnvelope.from_bytes(r.value) for r in records]

    async def wait_for(self, match: Callable[[EventEnvelope], bool], timeout: float = 15.0) -> EventEnvelope:
        return (await self.wait_for_all(match, 1, timeout))[0]


async def add_rule(rules: RulesClient, name: str, **version: Any) -> dict[str, Any]:
    body = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in version.items()}
    result: dict[str, Any] = await rules.ok("POST", f"/rules/{name}/versions", body)
    return result


async def bind(rules: RulesClient, rule: str, target_type: str = "registry", target: str = "*", **params: Any) -> str:
    body = {"rule": rule, "target_type": target_type, "target": target, "params": params}
    binding: dict[str, Any] = await rules.ok("POST", "/bindings", body)
    return str(binding["id"])


CAP = {
    "expression": "proposal.quantity > params.max_quantity",
    "params": {"max_quantity": {"type": "int"}},
    "section_bindable": True,
    "effect": {"type": "deny", "code": "quantity_above_cap", "message": "Too many units in one transfer."},
}
