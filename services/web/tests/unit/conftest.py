"""What the web's unit tests share: the session store without PostgreSQL."""

from __future__ import annotations

from web.adapters.sessions import SessionStore, WebSession


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
