"""The server-side session store on real PostgreSQL: only a hash of the id is stored, sessions
expire when idle and in any case, and a stale request never writes older tokens back."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from registry_platform import db, migrations
from web.adapters.sessions import SessionStore

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SessionStore]:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, database_url, "web")
    engine = db.create_engine(database_url, "web", pool_size=2)
    try:
        yield SessionStore(engine, idle_seconds=60, absolute_seconds=3600)
    finally:
        await engine.dispose()


async def test_only_the_hash_of_the_session_id_is_stored(store: SessionStore) -> None:
    session = store.new({"auth": {"access": "token"}})
    await store.save(session)
    async with store.engine.connect() as conn:
        stored = (await conn.execute(text("SELECT id_hash FROM sessions"))).scalar_one()
    assert bytes(stored) == hashlib.sha256(session.id.encode()).digest()
    loaded, expired = await store.load(session.id)
    assert loaded is not None and not expired and loaded.data == {"auth": {"access": "token"}}
    assert loaded.csrf == session.csrf


async def test_expired_sessions_are_gone(store: SessionStore) -> None:
    session = store.new()
    await store.save(session)
    async with store.engine.begin() as conn:
        await conn.execute(text("UPDATE sessions SET expires_at = now() - interval '1 second'"))
    assert await store.load(session.id) == (None, True)
    assert await store.load(session.id) == (None, False), "and removed"


async def test_signing_in_rotates_the_id_and_the_csrf_token(store: SessionStore) -> None:
    anonymous = store.new()
    await store.save(anonymous)
    signed_in = await store.rotate(anonymous, {"auth": {"access": "a"}})
    assert signed_in.id != anonymous.id and signed_in.csrf != anonymous.csrf
    assert (await store.load(anonymous.id))[0] is None
    assert (await store.load(signed_in.id))[0] is not None


async def test_a_stale_request_does_not_write_older_tokens_back(store: SessionStore) -> None:
    session = store.new({"auth": {"refresh": "r1", "minted_at": 1.0}})
    await store.save(session)
    stale, _ = await store.load(session.id)
    fresh, _ = await store.load(session.id)
    assert stale is not None and fresh is not None
    fresh.data["auth"] = {"refresh": "r2", "minted_at": 2.0}
    await store.save(fresh)
    stale.flash("saved by a slower request")
    await store.save(stale)
    final, _ = await store.load(session.id)
    assert final is not None
    assert final.data["auth"]["refresh"] == "r2"
    assert final.data["flash"] == [{"message": "saved by a slower request", "kind": "info"}]


async def test_a_request_still_running_when_its_session_ended_does_not_bring_it_back(store: SessionStore) -> None:
    """Signed out in another tab while a page was still being built: that page's write of its
    session (a flash, a refreshed token) used to insert the row again, signed in once more."""
    session = store.new({"auth": {"access": "a"}})
    await store.save(session)
    running, _ = await store.load(session.id)
    assert running is not None
    ended, _ = await store.load(session.id)
    assert ended is not None
    await store.delete(ended)
    running.flash("Saved.")
    await store.save(running)
    assert running.ended
    assert await store.load(session.id) == (None, False)
