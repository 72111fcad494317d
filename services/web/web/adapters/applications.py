"""Account applications submitted through the web, so that section administrators can find the
pending ones: the ledger records applications but offers no listing of them yet. The ledger stays
the authority: deciding goes through its `decide_application` command, which refuses a decided or
unknown application whatever this list says."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


class ApplicationLog:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def record(
        self, *, application_id: str, command: dict[str, Any], applicant: str, applicant_name: str
    ) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO applications (application_id, section, holder, type, cooperative_approach, "
                    "applicant, applicant_name, submitted_at) VALUES (:id, :s, :h, :t, :c, :a, :n, :now) "
                    "ON CONFLICT (application_id) DO NOTHING"
                ),
                {
                    "id": uuid.UUID(application_id),
                    "s": command["section"],
                    "h": command["holder"],
                    "t": command["type"],
                    "c": command.get("cooperative_approach"),
                    "a": applicant,
                    "n": applicant_name,
                    "now": datetime.now(UTC),
                },
            )

    async def pending(self, sections: list[str] | None) -> list[dict[str, Any]]:
        """Undecided applications, oldest first; `sections` None means every section."""
        where = "decided_at IS NULL" + ("" if sections is None else " AND section = ANY(:s)")
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                text(f"SELECT * FROM applications WHERE {where} ORDER BY submitted_at LIMIT 500"),
                {"s": sections or []},
            )
            return [{**dict(r._mapping), "application_id": str(r.application_id)} for r in rows]

    async def get(self, application_id: str) -> dict[str, Any] | None:
        try:
            key = uuid.UUID(application_id)
        except ValueError:
            return None
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(text("SELECT * FROM applications WHERE application_id = :id"), {"id": key})
            ).first()
        return {**dict(row._mapping), "application_id": str(row.application_id)} if row else None

    async def decided(self, application_id: str, *, approved: bool | None, account: str | None) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE applications SET decided_at = :now, approved = :ok, account = :acc "
                    "WHERE application_id = :id AND decided_at IS NULL"
                ),
                {"now": datetime.now(UTC), "ok": approved, "acc": account, "id": uuid.UUID(application_id)},
            )
