"""Read views for the API: paginated with keyset cursors, never through the writer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from registry_contracts.serials import HumanBlock, MalformedSerial, SerialRange, format_block
from registry_platform.errors import RegistryError


async def _rows(engine: AsyncEngine, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(text(sql), params)).mappings()]


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


async def transaction(engine: AsyncEngine, tx: uuid.UUID) -> dict[str, Any] | None:
    rows = await _rows(
        engine,
        "SELECT id, kind, outcome, initiator, on_behalf_of, input, result, journal_sequence, recorded_at "
        "FROM transactions WHERE id = :id",
        id=tx,
    )
    if rows:
        return _transaction_view(rows[0])
    proposed = await _rows(
        engine,
        "SELECT id, command, identity, proposed_at, deadline FROM proposals WHERE id = :id AND decided_at IS NULL",
        id=tx,
    )
    return _proposal_view(proposed[0]) if proposed else None


def _proposal_view(row: dict[str, Any]) -> dict[str, Any]:
    """A unit transaction still awaiting the rules service's verdict (issue 5 saga)."""
    identity = row["identity"]
    return {
        "transaction_id": str(row["id"]),
        "kind": row["command"]["kind"],
        "outcome": "proposed",
        "initiator": identity.get("actor") or identity["subject"],
        "on_behalf_of": identity["subject"] if identity.get("actor") else None,
        "command": row["command"],
        "proposed_at": _iso(row["proposed_at"]),
        "deadline": _iso(row["deadline"]),
    }


def _transaction_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "transaction_id": str(row["id"]),
        "kind": row["kind"],
        "outcome": row["outcome"],
        "initiator": row["initiator"],
        "on_behalf_of": row["on_behalf_of"],
        "command": row["input"]["command"],
        "result": row["result"],
        "journal_sequence": row["journal_sequence"],
        "recorded_at": _iso(row["recorded_at"]),
    }


async def transactions(
    engine: AsyncEngine, *, limit: int, after: str | None, kind: str | None, initiator: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    clauses: list[str] = []
    params: dict[str, Any] = {"limit": limit + 1}
    if after:
        try:
            params["after"] = int(after)
        except ValueError as exc:
            raise RegistryError(422, "bad_cursor", "'after' must be the 'next' value of a previous page.") from exc
        clauses.append("journal_sequence > :after")
    if kind:
        clauses.append("kind = :kind")
        params["kind"] = kind
    if initiator:
        clauses.append("initiator = :initiator")
        params["initiator"] = initiator
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    rows = await _rows(
        engine,
        "SELECT id, kind, outcome, initiator, on_behalf_of, input, result, journal_sequence, recorded_at "
        f"FROM transactions{where} ORDER BY journal_sequence LIMIT :limit",
        **params,
    )
    page, more = rows[:limit], len(rows) > limit
    return [_transaction_view(r) for r in page], (str(page[-1]["journal_sequence"]) if more else None)


_ACCOUNT_SQL = (
    "SELECT a.number, a.holder, a.section, a.cooperative_approach, a.type, a.status, a.opened_at, "
    "COALESCE((SELECT sum(h.quantity) FROM holdings h WHERE h.account_number = a.number), 0) AS balance, "
    "(SELECT count(*) FROM holdings h WHERE h.account_number = a.number) AS blocks FROM accounts a"
)


@dataclass(frozen=True)
class Visibility:
    """The accounts a caller may see: those of these sections, these accounts, these approaches."""

    sections: list[str]
    accounts: list[str]
    approaches: list[str]

    def covers(self, account: dict[str, Any]) -> bool:
        return (
            account["section"] in self.sections
            or account["number"] in self.accounts
            or account["cooperative_approach"] in self.approaches
        )


def _account_view(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "opened_at": _iso(row["opened_at"]), "balance": int(row["balance"]), "blocks": int(row["blocks"])}


async def accounts(
    engine: AsyncEngine,
    *,
    limit: int,
    after: str | None,
    section: str | None,
    type: str | None,
    status: str | None,
    visible: Visibility | None,
) -> tuple[list[dict[str, Any]], str | None]:
    clauses: list[str] = []
    params: dict[str, Any] = {"limit": limit + 1}
    for column, value in (("number", after), ("section", section), ("type", type), ("status", status)):
        if value is not None:
            clauses.append(f"a.{column} {'>' if column == 'number' else '='} :{column}")
            params[column] = value
    if visible is not None:
        clauses.append("(a.section = ANY(:vs) OR a.number = ANY(:va) OR a.cooperative_approach = ANY(:vc))")
        params["vs"], params["va"], params["vc"] = visible.sections, visible.accounts, visible.approaches
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    rows = await _rows(engine, f"{_ACCOUNT_SQL}{where} ORDER BY a.number LIMIT :limit", **params)
    page = rows[:limit]
    return [_account_view(r) for r in page], (page[-1]["number"] if len(rows) > limit else None)


async def account(engine: AsyncEngine, number: str) -> dict[str, Any] | None:
    rows = await _rows(engine, f"{_ACCOUNT_SQL} WHERE a.number = :n", n=number)
    return _account_view(rows[0]) if rows else None


_BLOCK_COLUMNS = (
    "b.id AS block_id, b.first_serial, b.last_serial, s.originating_registry, s.issuing_party, s.activity_id, "
    "s.vintage, s.metric, i.cooperative_approach, i.first_transferring_party, i.sectors, i.activity_types, "
    "i.underlying_registry, i.underlying_first, i.underlying_last"
)


async def blocks(
    engine: AsyncEngine, number: str, *, limit: int, after: int | None, at: datetime | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Live blocks of an account, or (with `at`) the blocks it held at that instant: created by a
    transaction recorded by then and not retired by one recorded by then."""
    params: dict[str, Any] = {"n": number, "after": after or 0, "limit": limit + 1}
    joins = "JOIN issuances i ON i.id = b.issuance_id JOIN serial_scopes s ON s.id = i.scope_id"
    if at is None:
        sql = (
            f"SELECT {_BLOCK_COLUMNS} FROM holdings h JOIN unit_blocks b ON b.id = h.block_id {joins} "
            "WHERE h.account_number = :n AND b.id > :after ORDER BY b.id LIMIT :limit"
        )
    else:
        params["at"] = at
        sql = (
            f"SELECT {_BLOCK_COLUMNS} FROM unit_blocks b "
            f"JOIN transactions ct ON ct.id = b.created_tx AND ct.recorded_at <= :at {joins} "
            "WHERE b.account_number = :n AND b.id > :after AND NOT EXISTS (SELECT 1 FROM block_retirements r "
            "JOIN transactions rt ON rt.id = r.tx WHERE r.block_id = b.id AND rt.recorded_at <= :at) "
            "ORDER BY b.id LIMIT :limit"
        )
    rows = await _rows(engine, sql, **params)
    page = rows[:limit]
    return [_block_view(r) for r in page], (str(page[-1]["block_id"]) if len(rows) > limit else None)


def _block_view(row: dict[str, Any]) -> dict[str, Any]:
    human = None
    if row["cooperative_approach"]:
        try:
            human = format_block(
                HumanBlock(
                    row["cooperative_approach"],
                    row["originating_registry"],
                    row["first_transferring_party"],
                    SerialRange(row["first_serial"], row["last_serial"]),
                    row["vintage"],
                )
            )
        except MalformedSerial:
            human = None
    return {
        "block_id": row["block_id"],
        "first": row["first_serial"],
        "last": row["last_serial"],
        "quantity": row["last_serial"] - row["first_serial"] + 1,
        "serials": human,
        "scope": {k: row[k] for k in ("originating_registry", "issuing_party", "activity_id", "vintage", "metric")},
        "cooperative_approach": row["cooperative_approach"],
        "first_transferring_party": row["first_transferring_party"],
        "sectors": row["sectors"],
        "activity_types": row["activity_types"],
        "underlying": {
            "registry": row["underlying_registry"],
            "first": row["underlying_first"],
            "last": row["underlying_last"],
        }
        if row["underlying_registry"]
        else None,
    }


async def sections(engine: AsyncEngine) -> list[dict[str, Any]]:
    rows = await _rows(engine, "SELECT party, name, created_at FROM sections ORDER BY party")
    return [{**r, "created_at": _iso(r["created_at"])} for r in rows]


async def approaches(engine: AsyncEngine) -> list[dict[str, Any]]:
    rows = await _rows(engine, "SELECT id, name, parties, created_at FROM cooperative_approaches ORDER BY id")
    return [{**r, "created_at": _iso(r["created_at"])} for r in rows]


async def journal(engine: AsyncEngine, *, limit: int, after: int) -> tuple[list[dict[str, Any]], str | None]:
    rows = await _rows(
        engine,
        "SELECT sequence, recorded_at, kind, body, previous_hash, entry_hash FROM journal "
        "WHERE sequence > :after ORDER BY sequence LIMIT :limit",
        after=after,
        limit=limit + 1,
    )
    page = rows[:limit]
    items = [
        {
            **r,
            "recorded_at": _iso(r["recorded_at"]),
            "previous_hash": bytes(r["previous_hash"]).hex(),
            "entry_hash": bytes(r["entry_hash"]).hex(),
        }
        for r in page
    ]
    return items, (str(page[-1]["sequence"]) if len(rows) > limit else None)


async def checkpoints(engine: AsyncEngine) -> list[dict[str, Any]]:
    rows = await _rows(
        engine, "SELECT tree_size, root_hash, signature, signed_at FROM journal_checkpoints ORDER BY tree_size"
    )
    return [{**r, "root_hash": bytes(r["root_hash"]).hex(), "signed_at": _iso(r["signed_at"])} for r in rows]
