"""PostgreSQL's limits on a service's sessions (A6R-36: a stuck statement or a transaction a defect
left open must not hold a request, and everything queued behind its locks, for ever): a statement
or a lock wait past its limit ends, and its request is answered 503 `database_timeout` with
Retry-After; a transaction left idle is ended by the server, its locks with it; a consumer retries
an event whose transaction was ended so; what is long by design lifts the limits for its own
transaction and is not cut off."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from psycopg.errors import IdleInTransactionSessionTimeout
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from registry_platform import db, kafka
from registry_platform.authz import public
from registry_platform.service import ConsumerSpec, ServiceDefinition, create_app
from registry_platform.settings import ServiceSettings
from registry_platform.testing.infra import serve_app, wait_ready

from .conftest import MIGRATIONS, heartbeat

pytestmark = pytest.mark.integration

LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('timeouts-test', 0))"
STATEMENT, LOCK_WAIT, IDLE = 1.0, 0.5, 0.5


def test_a6r36_the_limits_come_from_registry_settings_and_reach_every_session(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("REGISTRY_DB_STATEMENT_TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("REGISTRY_DB_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS", "0")
    limits = ServiceSettings(service_name="crm").db_timeouts
    assert limits == db.Timeouts(statement=2.5, lock=10.0, idle_in_transaction=0)
    assert limits.options() == " -c statement_timeout=2500 -c lock_timeout=10000"
    assert db.Timeouts(statement=0.0001).options() == " -c statement_timeout=1", "never rounded down to none"
    monkeypatch.setenv("REGISTRY_DB_LOCK_TIMEOUT_SECONDS", "-1")
    with pytest.raises(ValidationError):
        ServiceSettings(service_name="crm")


def _router() -> APIRouter:
    router = APIRouter()

    def engine(request: Request) -> AsyncEngine:
        return request.app.state.runtime.engine  # type: ignore[no-any-return]

    @router.get("/sleep", dependencies=[public()])
    async def sleep(request: Request, seconds: float) -> dict[str, str]:
        async with engine(request).connect() as conn:
            await conn.execute(text("SELECT pg_sleep(:s)"), {"s": seconds})
        return {"status": "done"}

    @router.get("/locked", dependencies=[public()])
    async def locked(request: Request) -> dict[str, str]:
        async with engine(request).begin() as conn:
            await conn.execute(text(LOCK))
        return {"status": "done"}

    @router.get("/long-by-design", dependencies=[public()])
    async def long_by_design(request: Request, seconds: float) -> dict[str, Any]:
        async with engine(request).connect() as conn:
            await db.lift_timeouts(conn)
            await conn.execute(text(LOCK))
            await asyncio.sleep(IDLE * 2)  # idle in the transaction past the limit
            await conn.execute(text("SELECT pg_sleep(:s)"), {"s": seconds})
            await conn.commit()
            # The lift ended with its transaction: the session's limit is back.
            restored = await conn.scalar(text("SHOW statement_timeout"))
        return {"status": "done", "statement_timeout": restored}

    return router


@pytest.fixture
async def service(service_settings) -> AsyncIterator[tuple[str, FastAPI]]:  # type: ignore[no-untyped-def]
    settings = service_settings(
        "crm",
        db_statement_timeout_seconds=STATEMENT,
        db_lock_timeout_seconds=LOCK_WAIT,
        db_idle_in_transaction_timeout_seconds=IDLE,
    )
    definition = ServiceDefinition(name="crm", version="0", migrations_dir=MIGRATIONS, routers=[_router()])
    app = create_app(definition, settings)
    async with serve_app(app) as url:
        await wait_ready(url)
        yield url, app


@pytest.fixture
async def holder(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine without limits, as tools make them: it holds the locks the service waits for."""
    engine = db.create_engine(database_url, "public")
    yield engine
    await engine.dispose()


def _assert_database_timeout(answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "database_timeout"
    assert answer.headers["Retry-After"] == "5"


async def test_a6r36_a_statement_past_its_limit_is_cancelled_and_answered_503_database_timeout(service, caplog) -> None:  # type: ignore[no-untyped-def]
    url, _ = service
    caplog.set_level(logging.WARNING, logger="registry_platform.errors")
    async with httpx.AsyncClient(timeout=30) as http:
        started = time.monotonic()
        answer = await http.get(f"{url}/sleep", params={"seconds": 10})
        took = time.monotonic() - started
        _assert_database_timeout(answer)
        assert took < 5, f"cancelled at the limit ({STATEMENT} s), not after the statement ({took:.1f} s)"
        # Below the limit the same statement completes.
        assert (await http.get(f"{url}/sleep", params={"seconds": 0.1})).status_code == 200
    assert "database timeout in GET /sleep: canceling statement due to statement timeout" in caplog.text


async def test_a6r36_a_lock_wait_past_its_limit_ends_and_is_answered_503_database_timeout(
    service, holder: AsyncEngine, caplog
) -> None:  # type: ignore[no-untyped-def]
    url, _ = service
    caplog.set_level(logging.WARNING, logger="registry_platform.errors")
    async with holder.begin() as conn, httpx.AsyncClient(timeout=10) as http:
        await conn.execute(text(LOCK))
        answer = await http.get(f"{url}/locked")
    _assert_database_timeout(answer)
    # Ended by the lock limit, not the longer statement limit.
    assert "database timeout in GET /locked: canceling statement due to lock timeout" in caplog.text
    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.get(f"{url}/locked")).status_code == 200, "free again once the holder committed"


async def _backend_alive(engine: AsyncEngine, pid: int) -> bool:
    async with engine.connect() as conn:
        return bool(await conn.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p"), {"p": pid}))


async def test_a6r36_a_transaction_left_idle_is_ended_by_the_server_and_its_locks_go(
    service, holder: AsyncEngine
) -> None:  # type: ignore[no-untyped-def]
    """A transaction a defect leaves open holds its locks only until the idle limit."""
    _, app = service
    engine: AsyncEngine = app.state.runtime.engine
    async with engine.connect() as leaked:
        pid = await leaked.scalar(text("SELECT pg_backend_pid()"))
        await leaked.execute(text(LOCK))
        deadline = time.monotonic() + 10
        while await _backend_alive(holder, pid):
            assert time.monotonic() < deadline, "the idle transaction was not ended"
            await asyncio.sleep(0.1)
        async with holder.begin() as conn:
            free = await conn.scalar(text("SELECT pg_try_advisory_xact_lock(hashtextextended('timeouts-test', 0))"))
        assert free, "the ended transaction's lock is released"
        with pytest.raises(DBAPIError) as ended:
            await leaked.execute(text("SELECT 1"))
        assert isinstance(ended.value.orig, IdleInTransactionSessionTimeout)


async def test_a6r36_a_wait_and_a_run_long_by_design_lift_the_limits_for_their_transaction_only(
    service, holder: AsyncEngine
) -> None:  # type: ignore[no-untyped-def]
    """Waiting for a lock longer than the lock limit, idling past the idle limit and a statement
    past the statement limit, all in one transaction that lifted them (as the ledger's writer does
    for its leader lock and its load)."""
    url, _ = service

    async def hold_for(seconds: float, held: asyncio.Event) -> None:
        async with holder.begin() as conn:
            await conn.execute(text(LOCK))
            held.set()
            await asyncio.sleep(seconds)

    held = asyncio.Event()
    holding = asyncio.create_task(hold_for(LOCK_WAIT * 3, held))
    await held.wait()
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.get(f"{url}/long-by-design", params={"seconds": STATEMENT * 1.5})
    await holding
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "done", "statement_timeout": "1s"}


async def _wait_for(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


async def test_a6r36_a_consumer_whose_transaction_the_server_ended_retries_the_event(
    service_settings, topic_prefix: str, infra
) -> None:  # type: ignore[no-untyped-def]
    """Supervision of background work: an event whose handler's transaction outlasted a limit is
    retried in place like any database failure, not parked as if it could never be handled."""
    tries: list[str] = []
    handled: list[str] = []

    async def handle(conn: AsyncConnection, envelope: Any) -> None:
        tries.append(envelope.event_id)
        if len(tries) == 1:
            await conn.execute(text("SELECT 1"))
            await asyncio.sleep(IDLE * 3)  # idle in the consumer's transaction past the limit
        elif len(tries) == 2:
            await conn.execute(text("SELECT pg_sleep(:s)"), {"s": STATEMENT * 2})
        await conn.execute(text("SELECT 1"))
        handled.append(envelope.event_id)

    consumer = ConsumerSpec(name="crm.timeouts", topics=["timeouts"], handlers={"platform.ServiceHeartbeat": handle})
    definition = ServiceDefinition(name="crm", version="0", migrations_dir=MIGRATIONS, consumers=[consumer])
    settings = service_settings(
        "crm",
        db_statement_timeout_seconds=STATEMENT,
        db_lock_timeout_seconds=LOCK_WAIT,
        db_idle_in_transaction_timeout_seconds=IDLE,
    )
    async with serve_app(create_app(definition, settings)) as url:
        await wait_ready(url)
        producer = await kafka.start_producer(infra.kafka_bootstrap, idempotent=False)
        try:
            await producer.send_and_wait(f"{topic_prefix}.timeouts", value=heartbeat("k", 0).to_bytes(), key=b"k")
        finally:
            await producer.stop()
        await _wait_for(lambda: handled)
    assert len(tries) == 3 and len(set(tries)) == 1, "one event: ended idle, then cut off, then handled"
    assert handled == tries[:1]
