"""The writer's leader lock (one writer per database, so one hash chain, A6R-48) ends with the writer."""

from __future__ import annotations

import asyncio

import pytest

from ledger.service_layer.writer import LedgerWriter
from registry_platform import db

pytestmark = pytest.mark.integration


async def test_a6r48_a_closed_writer_leaves_no_leader_lock_on_a_pooled_connection(database_url: str) -> None:
    """A writer restarted in the same process (supervision) takes the lock at once, even while
    someone holds the connection the closed writer used."""
    engine = db.create_engine(database_url, "ledger", pool_size=1)
    try:
        first = LedgerWriter(engine, topic=str, signer=None)  # type: ignore[arg-type]
        await first.acquire_leadership()
        await first.close()
        async with engine.connect():
            second = LedgerWriter(engine, topic=str, signer=None)  # type: ignore[arg-type]
            await asyncio.wait_for(second.acquire_leadership(), timeout=10)
            await second.close()
    finally:
        await engine.dispose()
