"""How far each peer's feed was read, and the peer descriptors held for another try (A6R-53)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True)
class HeldDescriptor:
    """A peer's descriptor refused for a reason that may pass, with its latest refusal."""

    registry: str
    sequence: int
    descriptor_id: str
    jws: str
    code: str
    message: str
    attempts: int
    held_at: datetime
    tried_at: datetime

    def view(self, peer_configured: bool) -> dict[str, Any]:
        """As listed; one from a registry no longer configured as a peer is kept, but not tried."""
        return {
            "registry": self.registry,
            "peer_configured": peer_configured,
            "sequence": self.sequence,
            "descriptor_id": self.descriptor_id,
            "code": self.code,
            "message": self.message,
            "attempts": self.attempts,
            "held_at": self.held_at.isoformat(),
            "tried_at": self.tried_at.isoformat(),
        }


_HELD = (
    "SELECT registry, sequence, descriptor_id, jws, code, message, attempts, held_at, tried_at FROM held_descriptors"
)


class PeerFeeds:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def cursor(self, registry: str) -> int:
        after = await self.conn.scalar(
            text("SELECT after_sequence FROM peer_cursors WHERE registry = :r"), {"r": registry}
        )
        return int(after or 0)

    async def save_cursor(self, registry: str, cursor: int) -> None:
        await self.conn.execute(
            text(
                "INSERT INTO peer_cursors (registry, after_sequence) VALUES (:r, :c) ON CONFLICT (registry) "
                "DO UPDATE SET after_sequence = EXCLUDED.after_sequence, updated_at = clock_timestamp()"
            ),
            {"r": registry, "c": cursor},
        )

    async def held(
        self, *, registry: str | None = None, after: tuple[str, int] | None = None, limit: int = 1000
    ) -> list[HeldDescriptor]:
        """Held descriptors in (registry, sequence) order, of one registry or all, past `after`."""
        clauses: list[str] = []
        params: dict[str, Any] = {"limit": limit}
        if registry is not None:
            clauses.append("registry = :registry")
            params["registry"] = registry
        if after is not None:
            clauses.append("(registry, sequence) > (:after_registry, :after_sequence)")
            params.update(after_registry=after[0], after_sequence=after[1])
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self.conn.execute(text(f"{_HELD}{where} ORDER BY registry, sequence LIMIT :limit"), params)
        return [HeldDescriptor(*row) for row in rows]

    async def held_counts(self) -> dict[str, int]:
        """How many descriptors are held from each registry."""
        rows = await self.conn.execute(
            text("SELECT registry, count(*) FROM held_descriptors GROUP BY registry ORDER BY registry")
        )
        return {registry: int(count) for registry, count in rows}

    async def hold(self, registry: str, sequence: int, descriptor_id: str, jws: str, code: str, message: str) -> None:
        """Hold a descriptor, or record another refused try of one already held."""
        await self.conn.execute(
            text(
                "INSERT INTO held_descriptors (registry, sequence, descriptor_id, jws, code, message) "
                "VALUES (:r, :s, :d, :j, :c, :m) ON CONFLICT (registry, sequence) DO UPDATE "
                "SET code = EXCLUDED.code, message = EXCLUDED.message, "
                "attempts = held_descriptors.attempts + 1, tried_at = clock_timestamp()"
            ),
            {"r": registry, "s": sequence, "d": descriptor_id, "j": jws, "c": code, "m": message},
        )

    async def release(self, registry: str, sequence: int) -> None:
        await self.conn.execute(
            text("DELETE FROM held_descriptors WHERE registry = :r AND sequence = :s"), {"r": registry, "s": sequence}
        )
