"""Server-side sessions in the web service's own schema.

The browser's cookie holds only a random session id (256 bits); the row is keyed by its SHA-256, so
neither the database nor its backups hold a usable id. Access and refresh tokens live in the row,
never in the browser. A session ends after `idle` seconds without a request and after `absolute`
seconds in any case; signing in rotates the id (no session fixation). Only state that must outlive a
request makes a session: a visitor who merely views pages has none (web/entrypoints/page.py).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

# last_seen_at is written at most this often, so that reading pages does not write on every request.
TOUCH_SECONDS = 30


# A request that loaded the session before a concurrent one refreshed the tokens must not write the
# older tokens back: the rotated refresh token, presented again, would end the session at identity.
def _keep_newer_tokens(incoming: str) -> str:
    """The session data to store: `incoming`, but with the stored tokens if they were minted later
    (a stale request must not write older tokens back)."""
    return (
        "CASE WHEN (sessions.data->'auth'->>'minted_at')::float8 > (" + incoming + "->'auth'->>'minted_at')::float8 "
        "THEN jsonb_set(" + incoming + ", '{auth}', sessions.data->'auth') ELSE " + incoming + " END"
    )


def _hash(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode()).digest()


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass
class WebSession:
    id: str
    csrf: str
    created_at: datetime
    last_seen_at: datetime
    absolute_expires_at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    new: bool = False
    dirty: bool = False
    ended: bool = False
    # Whether the row exists (loaded, or written once): a later write only updates it, so a request
    # still running when its session ended (signed out elsewhere) cannot bring the session back.
    stored: bool = False

    def set(self, key: str, value: Any) -> None:
        self.data[key] = value
        self.dirty = True

    def pop(self, key: str, default: Any = None) -> Any:
        if key in self.data:
            self.dirty = True
        return self.data.pop(key, default)

    def flash(self, message: str, kind: str = "info") -> None:
        self.data.setdefault("flash", []).append({"message": message, "kind": kind})
        self.dirty = True

    def take_flashes(self) -> list[dict[str, str]]:
        return list(self.pop("flash", []) or [])


class SessionStore:
    def __init__(self, engine: AsyncEngine, *, idle_seconds: int, absolute_seconds: int) -> None:
        self.engine = engine
        self.idle = timedelta(seconds=idle_seconds)
        self.absolute = timedelta(seconds=absolute_seconds)

    def new(self, data: dict[str, Any] | None = None, *, csrf: str | None = None) -> WebSession:
        now = now_utc()
        return WebSession(
            id=secrets.token_urlsafe(32),
            csrf=csrf or secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
            absolute_expires_at=now + self.absolute,
            data=dict(data or {}),
            new=True,
            dirty=True,
        )

    async def load(self, session_id: str) -> tuple[WebSession | None, bool]:
        """The live session with this id, and whether an expired one was found (and removed)."""
        if not session_id or len(session_id) > 100:
            return None, False
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT csrf, data, created_at, last_seen_at, expires_at, absolute_expires_at "
                        "FROM sessions WHERE id_hash = :h"
                    ),
                    {"h": _hash(session_id)},
                )
            ).first()
            if row is None:
                return None, False
            now = now_utc()
            if row.expires_at <= now:
                await conn.execute(text("DELETE FROM sessions WHERE id_hash = :h"), {"h": _hash(session_id)})
                return None, True
            session = WebSession(
                id=session_id,
                csrf=row.csrf,
                created_at=row.created_at,
                last_seen_at=row.last_seen_at,
                absolute_expires_at=row.absolute_expires_at,
                data=dict(row.data),
                stored=True,
            )
            if (now - row.last_seen_at).total_seconds() > TOUCH_SECONDS:
                session.last_seen_at = now
                await conn.execute(
                    text("UPDATE sessions SET last_seen_at = :now, expires_at = :exp WHERE id_hash = :h"),
                    {"now": now, "exp": self._expiry(session, now), "h": _hash(session_id)},
                )
        return session, False

    def _expiry(self, session: WebSession, now: datetime) -> datetime:
        return min(now + self.idle, session.absolute_expires_at)

    async def save(self, session: WebSession) -> None:
        now = now_utc()
        session.last_seen_at = now
        async with self.engine.begin() as conn:
            await self._write(conn, session, now)
        session.dirty = False

    async def _write(self, conn: AsyncConnection, session: WebSession, now: datetime) -> None:
        params = {
            "h": _hash(session.id),
            "csrf": session.csrf,
            "data": json.dumps(session.data),
            "created": session.created_at,
            "now": now,
            "exp": self._expiry(session, now),
            "abs": session.absolute_expires_at,
        }
        if not session.stored:
            await conn.execute(
                text(
                    "INSERT INTO sessions (id_hash, csrf, data, created_at, last_seen_at, expires_at, "
                    "absolute_expires_at) VALUES (:h, :csrf, CAST(:data AS jsonb), :created, :now, :exp, :abs) "
                    "ON CONFLICT (id_hash) DO UPDATE SET data = " + _keep_newer_tokens("EXCLUDED.data") + ", "
                    "csrf = EXCLUDED.csrf, last_seen_at = EXCLUDED.last_seen_at, expires_at = EXCLUDED.expires_at"
                ),
                params,
            )
            session.stored = True
            return
        # An update only: a request still running when its session ended (signed out in another
        # tab, an impersonation ended) would otherwise bring the session back.
        result = await conn.execute(
            text(
                "UPDATE sessions SET data = " + _keep_newer_tokens("CAST(:data AS jsonb)") + ", csrf = :csrf, "
                "last_seen_at = :now, expires_at = :exp WHERE id_hash = :h"
            ),
            params,
        )
        if result.rowcount == 0:
            session.ended = True

    async def delete(self, session: WebSession) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(text("DELETE FROM sessions WHERE id_hash = :h"), {"h": _hash(session.id)})
        session.ended = True

    async def rotate(self, session: WebSession, data: dict[str, Any]) -> WebSession:
        """A new id and CSRF token for a session that changes privilege (sign-in)."""
        await self.delete(session)
        fresh = self.new(data)
        await self.save(fresh)
        return fresh

    async def locked_data(self, conn: AsyncConnection, session: WebSession) -> dict[str, Any] | None:
        """The session's stored data, row-locked until `conn`'s transaction ends (token refresh)."""
        row = (
            await conn.execute(
                text("SELECT data FROM sessions WHERE id_hash = :h FOR UPDATE"), {"h": _hash(session.id)}
            )
        ).first()
        return dict(row.data) if row is not None else None

    async def write_locked(self, conn: AsyncConnection, session: WebSession) -> None:
        await self._write(conn, session, now_utc())

    async def purge_expired(self) -> int:
        async with self.engine.begin() as conn:
            result = await conn.execute(text("DELETE FROM sessions WHERE expires_at <= now()"))
        return int(result.rowcount or 0)
