"""A running descriptors service (real HTTP, PostgreSQL and broker) with a controlled clock, next to the
real ledger (without the rules service: `rules_verdicts=False`), whose accounts, units and transfers the
tests create through its API. The ledger stamps `recorded_at` with real time, so tests compare marker
instants with the `recorded_at` the ledger returns. `Bus` plays the ledger's side of the topic only
where the real ledger cannot produce the case (a transaction consumed later than the settle delay)."""

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

from descriptors.bootstrap import build_definition
from descriptors.settings import DescriptorsSettings
from ledger.bootstrap import DEFINITION as LEDGER
from ledger.settings import LedgerSettings
from registry_contracts.envelope import EventEnvelope
from registry_platform.auth import Grant, dev_signing_key, issue_token
from registry_platform.events import new_envelope
from registry_platform.service import create_app
from registry_platform.settings import DEV_TOKEN_SECRET
from registry_platform.testing.infra import serve_app, wait_ready

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
APPROACH = "CA0001"
# The accounts the `ledger` fixture opens, in this order (the ledger numbers them by a counter).
ISSUANCE, GHA, GHA2, CHE, CHE_USE, PROXY = "GHA-100001", "GHA-100002", "GHA-100003", "CHE-100004", "CHE-100005", \
    "REG-100006"  # fmt: skip
ACCOUNTS = [
    (ISSUANCE, "GHA", "issuance", APPROACH),
    (GHA, "GHA", "holding", None),
    (GHA2, "GHA", "holding", None),
    (CHE, "CHE", "holding", None),
    (CHE_USE, "CHE", "use_ndc", None),
    (PROXY, None, "proxy", None),
]


# Refusals an authorization gets while the service has not caught up with the ledger yet.
RETRIED = ("unknown_units", "markers_pending")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


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
        """PUT an authorization, retrying while the units' issuance is still on its way to the service,
        and, for one marking the units, while a transaction moving them is still settling."""
        id = id or uuid.uuid4()
        for _ in range(100):
            response = await self.call("PUT", f"/authorizations/{id}", body, grants)
            if response.status_code != 409 or response.json()["error"]["code"] not in RETRIED:
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
    await wait_ready(url)
    return Client(http, url, clock)


def recorded_at(result: dict[str, Any]) -> datetime:
    """When the ledger recorded a transaction (real time), from its answer."""
    return datetime.fromisoformat(result["recorded_at"])


class Ledger:
    """The real ledger's API, called as a registry administrator."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self.http, self.url = http, url

    async def ok(self, command: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.put(f"{self.url}/transactions/{uuid.uuid4()}", json=command, headers=headers(ADMIN))
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    async def open_registry(self) -> None:
        """Sections GHA and CHE, approach CA0001 of both, and the ACCOUNTS, all active."""
        for party, name in (("GHA", "Ghana"), ("CHE", "Switzerland")):
            await self.ok({"kind": "create_section", "party": party, "name": name})
        await self.ok({"kind": "create_cooperative_approach", "id": APPROACH, "name": "GHA-CHE",
                       "parties": ["CHE", "GHA"]})  # fmt: skip
        for number, section, type_, approach in ACCOUNTS:
            opened = await self.ok({"kind": "open_account", "holder": number, "section": section, "type": type_,
                                    "cooperative_approach": approach})  # fmt: skip
            assert opened["account"] == number
            await self.ok({"kind": "change_account_status", "account": number, "status": "active", "reason": "test"})

    async def issue(self, first: int, last: int, account: str = ISSUANCE) -> dict[str, Any]:
        return await self.ok({"kind": "issue_units", "account": account, "scope": SCOPE, "first_serial": first,
                              "quantity": last - first + 1, "cooperative_approach": APPROACH,
                              "first_transferring_party": "GHA"})  # fmt: skip

    async def transfer(self, source: str, destination: str, first: int, last: int) -> dict[str, Any]:
        return await self.ok({"kind": "transfer_units", "source": source, "destination": destination,
                              "units": {"ranges": [{"scope": SCOPE, "first": first, "last": last}]}})  # fmt: skip

    async def external_out(self, source: str, first: int, last: int) -> dict[str, Any]:
        """To another registry: the units move into the proxy account (A6R-54)."""
        return await self.ok({"kind": "external_transfer_out", "source": source, "destination_registry": "CHE01",
                              "destination_account": "CH-9", "units": {"ranges": [{"scope": SCOPE, "first": first,
                              "last": last}]}})  # fmt: skip

    async def reverse(self, transfer: dict[str, Any]) -> dict[str, Any]:
        """A corrective transfer moving a transfer's units back (A6R-55 a)."""
        return await self.ok({"kind": "corrective_transfer", "correction": "reversal",
                              "corrects": transfer["transaction_id"], "reason": "entered in error"})  # fmt: skip


@pytest.fixture
async def ledger(service_settings) -> AsyncIterator[Ledger]:  # type: ignore[no-untyped-def]
    settings = service_settings("ledger", LedgerSettings, rules_verdicts=False)
    async with serve_app(create_app(LEDGER, settings)) as url, httpx.AsyncClient(timeout=30) as http:
        await wait_ready(url)
        ledger = Ledger(http, url)
        await ledger.open_registry()
        yield ledger


@pytest.fixture
async def descriptors(service_settings, ledger: Ledger) -> AsyncIterator[Client]:  # type: ignore[no-untyped-def]
    settings = service_settings("descriptors", DescriptorsSettings, ledger_url=ledger.url, marker_settle_seconds=SETTLE)
    async with contextlib.AsyncExitStack() as stack, httpx.AsyncClient(timeout=30) as http:
        yield await start_descriptors(stack, settings, Clock(T0), http)


class Bus:
    """The ledger's end of the topics: reads what is on them, and publishes hand-made recorded
    transactions where a case cannot be produced by the real ledger."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.prefix = prefix
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        self.bootstrap = bootstrap

    async def recorded(self, tx: str, kind: str, operations: list[dict[str, Any]], at: datetime) -> EventEnvelope:
        payload = {"transaction_id": tx, "kind": kind, "status": "recorded", "initiator": "tester",
                   "on_behalf_of": None, "operations": operations, "recorded_at": at.isoformat()}  # fmt: skip
        return await self.publish(payload)

    async def publish(self, payload: dict[str, Any]) -> EventEnvelope:
        """A recorded transaction under a new event id."""
        tx = payload["transaction_id"]
        envelope = new_envelope(type="ledger.TransactionRecorded", payload=payload, key=tx, producer="ledger")
        await self.producer.send_and_wait(f"{self.prefix}.ledger.transactions", envelope.to_bytes(), key=tx.encode())
        return envelope

    async def read(
        self, topic: str, enough: Callable[[list[EventEnvelope]], bool], timeout: float = 20.0
    ) -> list[EventEnvelope]:
        """A topic's events from its beginning, until `enough` of them were read (or the timeout)."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
        await consumer.start()
        try:
            name = f"{self.prefix}.{topic}"
            partitions = [TopicPartition(name, p) for p in consumer.partitions_for_topic(name) or (0,)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            seen: list[EventEnvelope] = []
            deadline = time.monotonic() + timeout
            while not enough(seen) and time.monotonic() < deadline:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    seen += [EventEnvelope.from_bytes(r.value) for r in records]
            return seen
        finally:
            await consumer.stop()

    async def outbound(self, expected: int) -> list[EventEnvelope]:
        return await self.read("descriptors.outbound", lambda seen: len(seen) >= expected)

    async def recorded_event(self, transaction_id: str) -> EventEnvelope:
        """The ledger's TransactionRecorded of a transaction, as it is on ledger.transactions."""

        def found(seen: list[EventEnvelope]) -> list[EventEnvelope]:
            return [e for e in seen if e.payload.get("transaction_id") == transaction_id]

        (event,) = found(await self.read("ledger.transactions", lambda seen: bool(found(seen))))
        return event


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
