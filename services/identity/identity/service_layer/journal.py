"""Reading identity's log (A6R-48, A6R-49, A6R-50): pages of entries, the credential issuance log,
chain verification, and the replay of user authorizations from the log alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from identity.domain.journal import CHAIN, Entry
from identity.service_layer.unit import Identity
from registry_contracts.chain import Break, first_break


def _entry(row: Any) -> dict[str, Any]:
    return {**dict(row._mapping), "at": row.at.isoformat()}


async def page(
    identity: Identity,
    *,
    after: int,
    limit: int,
    kind_prefix: str | None = None,
    subject: str | None = None,
    newest_first: bool = False,
) -> tuple[list[dict[str, Any]], int | None]:
    """Entries after sequence `after` in order, or newest first before it (0: from the newest)."""
    where, params = [], {"after": after, "n": limit + 1}
    if newest_first:
        if after:
            where.append("sequence < :after")
    else:
        where.append("sequence > :after")
    if kind_prefix:
        where.append("starts_with(kind, :prefix)")
        params["prefix"] = kind_prefix  # type: ignore[assignment]
    if subject:
        where.append("subject = :subject")
        params["subject"] = subject  # type: ignore[assignment]
    async with identity.read() as conn:
        rows = await conn.execute(
            text(
                "SELECT sequence, at, kind, actor, on_behalf_of, subject, data FROM identity_log "
                f"WHERE {' AND '.join(where) or 'true'} "
                f"ORDER BY sequence {'DESC' if newest_first else ''} LIMIT :n"
            ),
            params,
        )
        items = [_entry(r) for r in rows]
    return items[:limit], (items[limit - 1]["sequence"] if len(items) > limit else None)


async def entries(engine: AsyncEngine, batch: int = 1000) -> AsyncIterator[tuple[Entry, bytes]]:
    after = 0
    while True:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT sequence, at, kind, actor, on_behalf_of, subject, data, hash FROM identity_log "
                        "WHERE sequence > :a ORDER BY sequence LIMIT :n"
                    ),
                    {"a": after, "n": batch},
                )
            ).all()
        if not rows:
            return
        for r in rows:
            yield Entry(r.sequence, r.at, r.kind, r.actor, r.on_behalf_of, r.subject, dict(r.data)), bytes(r.hash)
        after = rows[-1].sequence


async def verify_chain(engine: AsyncEngine) -> Break | None:
    """Where the hash chain first breaks, or None if it holds."""
    collected = [entry.link(stored) async for entry, stored in entries(engine)]
    return first_break(CHAIN, collected)


def replay_grants(log: list[Entry]) -> dict[str, dict[str, Any]]:
    """Every user authorization and its status, rebuilt from the log alone."""
    grants: dict[str, dict[str, Any]] = {}
    for entry in log:
        if not entry.kind.startswith("grant."):
            continue
        data = entry.data
        grant = grants.setdefault(data["id"], {"user_id": entry.subject})
        grant.update(
            role=data["role"],
            section=data["section"],
            account=data["account"],
            cooperative_approach=data["cooperative_approach"],
            status=data["status"],
        )
    return grants


async def live_grants(engine: AsyncEngine) -> dict[str, dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT id::text, user_id::text, role, section, account, cooperative_approach, status FROM grants")
        )
        return {r.id: {k: v for k, v in r._mapping.items() if k != "id"} for r in rows}
