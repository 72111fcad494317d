"""Async SQLAlchemy engines bound to one service's own schema.

A service's engine sets `search_path` to the service schema only, so an unqualified table name can
never reach another service's tables; the platform's roles (see devstack) back this with grants.

A service's engine also limits how long PostgreSQL lets one statement run, one lock wait last and
one transaction sit idle (`Timeouts`), so a stuck query or a transaction a defect left open cannot
hold its locks, and everything queued behind them, for ever. What waits or runs long by design
lifts the limits for its own transaction only (`lift_timeouts`); command-line tools make engines
without them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from psycopg.pq import TransactionStatus
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine


def async_url(url: str) -> str:
    """Accept plain `postgresql://` URLs too; the services always talk psycopg 3."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


@dataclass(frozen=True)
class Timeouts:
    """PostgreSQL's limits on each session of an engine, in seconds; 0 is no limit (PostgreSQL's
    default). A statement past `statement` is cancelled (SQLSTATE 57014), a lock wait past `lock`
    too (55P03), and a session idle in an open transaction past `idle_in_transaction` is ended by
    the server (25P03): its transaction rolls back and its locks go."""

    statement: float = 0
    lock: float = 0
    idle_in_transaction: float = 0

    def options(self) -> str:
        limits = {
            "statement_timeout": self.statement,
            "lock_timeout": self.lock,
            "idle_in_transaction_session_timeout": self.idle_in_transaction,
        }
        # Milliseconds, PostgreSQL's unit; a positive limit never rounds down to "none".
        return "".join(f" -c {name}={max(1, round(s * 1000))}" for name, s in limits.items() if s > 0)


# SET LOCAL for all three in one statement (one round trip): the session's values come back when
# the transaction ends, however it ends.
_LIFT_TIMEOUTS = text(
    "SELECT set_config('statement_timeout', '0', true), set_config('lock_timeout', '0', true), "
    "set_config('idle_in_transaction_session_timeout', '0', true)"
)


async def lift_timeouts(conn: AsyncConnection) -> None:
    """No statement, lock or idle limit for the rest of `conn`'s current transaction (SQLAlchemy
    opens one for this statement if none is open): for a wait or a run that is long by design,
    such as waiting for a leader's lock or loading a large state at start."""
    await conn.execute(_LIFT_TIMEOUTS)


def create_engine(url: str, schema: str, *, pool_size: int = 10, timeouts: Timeouts | None = None) -> AsyncEngine:
    """An engine whose sessions see `schema` only. A service's runtime passes its settings'
    `timeouts`; tools (replay, verify, digests) leave them out: they run as long as their data needs."""
    limits = timeouts.options() if timeouts is not None else ""
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        # Statement parameters (password hashes, sealed secrets) never reach exception messages or logs.
        hide_parameters=True,
        # Custom plans always: psycopg prepares repeated statements, and PostgreSQL's generic plan
        # for a parameterised range lookup can scan a million-row table where the custom plan
        # reads one index page (measured: 155 ms against 0.8 ms on the ledger's holdings).
        connect_args={"options": f"-c search_path={schema} -c plan_cache_mode=force_custom_plan{limits}"},
    )


@contextlib.asynccontextmanager
async def snapshot(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection that reads one state of the database (REPEATABLE READ) until it closes: what
    commits meanwhile is not seen, so parts read one after another are of one state."""
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="REPEATABLE READ")
        await conn.begin()
        yield conn


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def driver_of(conn: AsyncConnection) -> Any:
    """The psycopg connection under a SQLAlchemy one: for psycopg pipelines, which send several
    statements and wait for their answers once."""
    return (await conn.get_raw_connection()).driver_connection


async def queue_begin(driver: Any) -> None:
    """Open a transaction in the current pipeline, in the same round trip as the statements after
    it. Only on a connection in autocommit mode (a `KeptConnection`'s): on any other, psycopg opens
    the transaction itself before the first statement and waits for the answer, a round trip more
    (and a BEGIN of ours would then be a second one)."""
    if not driver.autocommit:
        raise RuntimeError("queue_begin needs a connection in autocommit mode (a KeptConnection's)")
    await driver.execute("BEGIN")


def in_transaction(driver: Any) -> bool:
    """Whether a statement sent now runs in an open transaction: always on a connection psycopg
    manages, on an autocommit one only after a BEGIN (anything queued in a pipeline counts)."""
    return not driver.autocommit or driver.info.transaction_status != TransactionStatus.IDLE


async def queue_commit(driver: Any) -> None:
    """End the transaction in the current pipeline, in the same round trip as the statements before
    it. As a statement: psycopg's `commit()` would sync on its own, a round trip more. psycopg reads
    the transaction's state from the server's answers, so a later `commit()` finds it ended and
    sends nothing."""
    await driver.execute("COMMIT")


class KeptConnection:
    """One connection kept from one unit of work to the next, for a loop that runs many short
    transactions (the ledger's writer, the outbox relay): no pool checkout and liveness ping each
    time. After any failure the owner `discard`s it, and the next `get` opens a fresh one.
    Discarded connections are invalidated, not returned to the pool: they may be broken, and what
    `setup` set on the session must not reach the pool's other users.

    The driver's connection is in autocommit mode: the owner opens each transaction with
    `queue_begin` in its first pipeline and ends it with `queue_commit`, so a short transaction
    waits for PostgreSQL once per pipeline and not also for its BEGIN. A statement sent outside
    such a transaction commits on its own; `in_transaction` lets writers refuse that."""

    def __init__(self, engine: AsyncEngine, setup: Callable[[AsyncConnection], Awaitable[None]] | None = None) -> None:
        self._engine = engine
        self._setup = setup
        self._conn: AsyncConnection | None = None

    async def get(self) -> AsyncConnection:
        if self._conn is None:
            conn = await self._engine.connect()
            await (await driver_of(conn)).set_autocommit(True)
            if self._setup is not None:
                await self._setup(conn)
                await conn.commit()
            self._conn = conn
        return self._conn

    async def discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.invalidate()
                await conn.close()
