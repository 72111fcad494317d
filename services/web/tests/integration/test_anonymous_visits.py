"""Anonymous visitors store nothing on the server (A6R-51, A6R-8): the pages before sign-in, viewed
any number of times by clients without cookies (as a bot would), write no session row to
PostgreSQL; the first row is written by a POST that passed the CSRF check and keeps state (a
sign-in under way). The web's own routes and session store on real PostgreSQL; the services the
pages call are stand-ins."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from registry_platform import db, migrations
from registry_platform.matrix import rows_for
from web.adapters.sessions import SessionStore
from web.bootstrap import create_app
from web.settings import WebSettings

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
VISITS = 10


class Services:
    """Reporting's status board and identity's password step."""

    async def call(self, service: str, method: str, path: str, **_: Any) -> Any:
        if (service, method, path) == ("reporting", "GET", "/services"):
            return [{"service": "ledger", "last_seen_at": "2026-11-28T10:00:00+00:00"}]
        assert (service, method, path) == ("identity", "POST", "/sessions")
        return {"challenge_id": "challenge-1", "methods": ["totp"], "expires_in": 300}


@pytest.fixture
async def web(database_url: str) -> AsyncIterator[tuple[FastAPI, SessionStore]]:
    await asyncio.to_thread(migrations.upgrade, MIGRATIONS, database_url, "web")
    engine = db.create_engine(database_url, "web", pool_size=2)
    store = SessionStore(engine, idle_seconds=1800, absolute_seconds=3600)
    app = create_app()
    app.state.runtime.state["web"] = SimpleNamespace(
        settings=WebSettings(service_name="web", mode="test"), sessions=store, backends=Services()
    )
    try:
        yield app, store
    finally:
        await engine.dispose()


def browser(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def rows(store: SessionStore) -> int:
    async with store.engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM sessions"))).scalar_one())


def token_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


async def test_a6r51_anonymous_page_views_store_no_session_row(web: tuple[FastAPI, SessionStore]) -> None:
    """Every public page of the web, the landing and sign-in pages first, from fresh clients and
    from one that keeps its cookies: no row."""
    app, store = web
    pages = [r.path for r in rows_for("web", app) if r.method == "GET" and not r.session]
    pages = [p for p in pages if p not in ("/health", "/ready", "/metrics") and not p.startswith("/static/")]
    assert pages[:3] == ["/", "/status", "/sign-in"] and "/activate/enrol" in pages, pages
    async with browser(app) as kept:
        for _ in range(VISITS):
            for path in pages:
                async with browser(app) as bot:
                    assert (await bot.get(path)).status_code in (200, 303), path
                assert (await kept.get(path)).status_code in (200, 303), path
        assert await rows(store) == 0, "anonymous page views stored sessions"
        sign_in = await kept.get("/sign-in")
        assert sign_in.status_code == 200 and "registry-session" not in kept.cookies
        # POSTs that keep no state store nothing either: a refused password step, a second factor
        # or an enrolment with nothing under way (the page they are sent to says so).
        token = token_of(sign_in)
        refused = await kept.post("/sign-in", data={"csrf_token": token, "email": "a@example.org"})
        assert refused.status_code == 400 and "Enter your password." in refused.text
        late = await kept.post("/sign-in/second-factor", data={"csrf_token": token, "code": "123456"})
        assert late.status_code == 303 and late.headers["location"] == "/sign-in?expired=1"
        enrol = await kept.post("/activate/enrol", data={"csrf_token": token, "code": "123456"})
        assert enrol.status_code == 303 and enrol.headers["location"] == "/activate?expired=1"
        assert "No activation is under way here" in (await kept.get(enrol.headers["location"])).text
    assert await rows(store) == 0


async def test_a6r51_a_sign_in_under_way_writes_the_first_row(web: tuple[FastAPI, SessionStore]) -> None:
    """The password step passed: the challenge must outlive the request, so the session is stored
    now, with the token the visitor's forms carry."""
    app, store = web
    async with browser(app) as http:
        token = token_of(await http.get("/sign-in"))
        forged = await http.post("/sign-in", data={"csrf_token": "forged", "email": "a@example.org", "password": "p"})
        assert forged.status_code == 400 and "This form has expired" in forged.text
        assert await rows(store) == 0
        started = await http.post("/sign-in", data={"csrf_token": token, "email": "a@example.org", "password": "p"})
        assert started.status_code == 303 and started.headers["location"] == "/sign-in/second-factor"
        assert "registry-session" in http.cookies and await rows(store) == 1
        session, _ = await store.load(http.cookies["registry-session"])
        assert session is not None and session.data["sign_in"]["challenge_id"] == "challenge-1"
        assert session.csrf == token
        assert token_of(await http.get("/sign-in/second-factor")) == token
