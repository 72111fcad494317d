"""What the web's unit tests share: the session store without PostgreSQL, and the web's own pages
signed in over stand-ins for the services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import httpx

from web.adapters.sessions import SessionStore, WebSession
from web.bootstrap import create_app
from web.settings import WebSettings


class MemoryStore(SessionStore):
    """The session store without PostgreSQL."""

    def __init__(self) -> None:
        super().__init__(None, idle_seconds=600, absolute_seconds=3600)  # type: ignore[arg-type]
        self.rows: dict[str, WebSession] = {}

    async def load(self, session_id: str) -> tuple[WebSession | None, bool]:
        return self.rows.get(session_id), False

    async def save(self, session: WebSession) -> None:
        self.rows[session.id] = session
        session.dirty = False

    async def delete(self, session: WebSession) -> None:
        self.rows.pop(session.id, None)
        session.ended = True


@asynccontextmanager
async def signed_in_browser(backends: Any, role: str) -> AsyncIterator[tuple[httpx.AsyncClient, WebSession]]:
    """A browser signed in to the web with `role`, whose pages call `backends` (anything with the
    `call` of web.adapters.backends.Backends) instead of the services."""
    app = create_app()
    store = MemoryStore()
    app.state.runtime.state["web"] = SimpleNamespace(
        settings=WebSettings(service_name="web", mode="test"), sessions=store, backends=backends
    )
    session = store.new({"auth": {"access": "a", "expires_at": 9e12, "grants": [{"role": role}]}})
    store.rows[session.id] = session
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        http.cookies.set("registry-session", session.id)
        yield http, session
