"""The identity service's kernel: one unit of work = one database transaction in which the state
change, its log entry (A6R-48) and its events (transactional outbox) commit together or not at all.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from identity.adapters.hashing import Passwords
from identity.adapters.keys import SigningKeys
from identity.adapters.notifier import Notifier, OutboundMessages
from identity.adapters.sealing import Sealer
from identity.domain.clock import Clock, system_clock
from identity.domain.journal import CHAIN, Entry
from identity.domain.throttle import ThrottlePolicy
from identity.settings import IdentitySettings
from registry_contracts.chain import GENESIS_HASH
from registry_contracts.envelope import EventEnvelope
from registry_platform.access_feed import ACCESS_TOPIC
from registry_platform.auth import Grant
from registry_platform.events import new_envelope
from registry_platform.outbox import add_events

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    """Who performs an operation: the user acted for, the impersonating administrator if any, and
    the active grants the request's token carried (for scope checks)."""

    subject: str
    grants: tuple[Grant, ...] = ()
    impersonator: str | None = None
    session: str | None = None

    @property
    def initiator(self) -> str:
        return self.impersonator or self.subject

    @property
    def on_behalf_of(self) -> str | None:
        return self.subject if self.impersonator else None

    def has(self, role: str, section: str | None = None) -> bool:
        return any(g.role == role and (section is None or g.section == section) for g in self.grants)


SYSTEM = Actor("system")


@dataclass
class Unit:
    conn: AsyncConnection
    now: datetime
    topic: Callable[[str], str]
    _events: list[tuple[str, EventEnvelope]] = field(default_factory=list)

    async def record(self, kind: str, actor: Actor, /, *, subject: str | None = None, **data: Any) -> int:
        """Append to identity's hash-chained log. `data` holds ids, roles and statuses: never
        personal data (it lives in the profile history) and never a secret."""
        await self.conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('identity-log', 0))"))
        last = (
            await self.conn.execute(text("SELECT sequence, hash FROM identity_log ORDER BY sequence DESC LIMIT 1"))
        ).first()
        sequence, previous = (last[0] + 1, bytes(last[1])) if last else (1, GENESIS_HASH)
        plain = json.loads(json.dumps(data, default=str))
        entry = Entry(sequence, self.now, kind, actor.initiator, actor.on_behalf_of, subject, plain)
        await self.conn.execute(
            text(
                "INSERT INTO identity_log (sequence, at, kind, actor, on_behalf_of, subject, data, hash) "
                "VALUES (:s, :at, :k, :a, :o, :sub, CAST(:d AS jsonb), :h)"
            ),
            {
                "s": sequence,
                "at": self.now,
                "k": kind,
                "a": entry.actor,
                "o": entry.on_behalf_of,
                "sub": subject,
                "d": json.dumps(plain),
                "h": CHAIN.hash(entry.body(), previous),
            },
        )
        log.info("identity operation %s on %s (log entry %d)", kind, subject or "-", sequence)
        return sequence

    def publish(self, event_type: str, payload: dict[str, Any], key: str) -> None:
        envelope = new_envelope(type=event_type, payload=payload, key=key, producer="identity")
        self._events.append((self.topic(ACCESS_TOPIC), envelope))

    async def flush(self) -> bool:
        await add_events(self.conn, self._events)
        return bool(self._events)


class Identity:
    """Everything the identity operations need, built once per service instance."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: IdentitySettings,
        *,
        topic: Callable[[str], str],
        clock: Clock = system_clock,
        notifier: Notifier | None = None,
        on_commit: Callable[[], None] = lambda: None,
        passwords: Passwords | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.topic = topic
        self.clock = clock
        self.notifier: Notifier = notifier or OutboundMessages()
        self.on_commit = on_commit
        self.keys = SigningKeys.from_settings(settings)
        self.sealer = Sealer(settings.sealing_seed.get_secret_value())
        self.passwords = passwords or Passwords(settings.argon2_time_cost, settings.argon2_memory_kib)
        self.throttle = ThrottlePolicy(
            free=settings.client_free_failures,
            max_delay=settings.client_max_delay_seconds,
            lock_threshold=settings.account_lock_threshold,
        )
        self.external_throttle = ThrottlePolicy(
            free=settings.external_system_free_failures, max_delay=settings.external_system_max_delay_seconds
        )

    @contextlib.asynccontextmanager
    async def unit(self) -> AsyncIterator[Unit]:
        async with self.engine.begin() as conn:
            unit = Unit(conn, self.clock(), self.topic)
            yield unit
            published = await unit.flush()
        if published:
            self.on_commit()

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn

    async def session_running(self, session_id: str, user_id: str, actor: str | None) -> bool:
        """Whether this session of this user (acted in by `actor`, when impersonating) is active."""
        async with self.engine.connect() as conn:
            found = await conn.scalar(
                text(
                    "SELECT 1 FROM sessions WHERE id = CAST(:s AS uuid) AND user_id = CAST(:u AS uuid) "
                    "AND actor IS NOT DISTINCT FROM CAST(:a AS uuid) AND status = 'active' AND expires_at > :now"
                ),
                {"s": session_id, "u": user_id, "a": actor, "now": self.clock()},
            )
        return found is not None


def new_id() -> str:
    return str(uuid.uuid4())
