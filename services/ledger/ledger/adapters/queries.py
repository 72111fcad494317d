"""Read views for the API: paginated with keyset cursors, never through the writer."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
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


@dataclass(frozen=True)
class Listing:
    """A listing's sortable columns (name -> expression over the listing's rows `v`, SQL type) and
    its unique key, which breaks ties and keeps keyset pagination exact under any sort."""

    columns: dict[str, tuple[str, str]]
    key: str

    def order(self, sort: str | None) -> tuple[str, bool]:
        """`name` ascending or `-name` descending, from the whitelist; 422 unknown_sort otherwise."""
        wanted = sort or self.key
        name = wanted.removeprefix("-")
        if name not in self.columns:
            raise RegistryError(
                422,
                "unknown_sort",
                f"Cannot sort by {name!r}; sort by one of {', '.join(sorted(self.columns))}, '-' first for descending.",
                sort=wanted,
                allowed=sorted(self.columns),
            )
        return name, wanted.startswith("-")

    def page_sql(self, sort: str | None, after: str | None, params: dict[str, Any]) -> tuple[str, str, str]:
        """The sort expression to select as `sort_value`, the keyset condition (or '') and ORDER BY."""
        name, descending = self.order(sort)
        expr, sql_type = self.columns[name]
        key_expr, key_type = self.columns[self.key]
        direction, compare = ("DESC", "<") if descending else ("ASC", ">")
        condition = ""
        if after:
            if name == self.key:
                params["after_key"] = _typed(after, key_type)
                condition = f"{key_expr} {compare} :after_key"
            else:
                value, key = _decode_cursor(after)
                params["after_value"], params["after_key"] = _typed(value, sql_type), _typed(key, key_type)
                condition = f"({expr}, {key_expr}) {compare} (CAST(:after_value AS {sql_type}), :after_key)"
        order = f"{expr} {direction}" + ("" if name == self.key else f", {key_expr} {direction}")
        return expr, condition, order

    async def page(
        self,
        engine: AsyncEngine,
        source: str,
        *,
        sort: str | None,
        after: str | None,
        limit: int,
        clauses: list[str],
        params: dict[str, Any],
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the rows of `source` (a SELECT, its rows named `v`) meeting `clauses`,
        sorted, after the cursor; and the next page's cursor."""
        params = {**params, "limit": limit + 1}
        expr, condition, order = self.page_sql(sort, after, params)
        where = [*clauses, condition] if condition else clauses
        rows = await _rows(
            engine,
            f"SELECT v.*, {expr} AS sort_value, {self.columns[self.key][0]} AS sort_key FROM ({source}) v"
            + (f" WHERE {' AND '.join(where)}" if where else "")
            + f" ORDER BY {order} LIMIT :limit",
            **params,
        )
        page = rows[:limit]
        return page, (self.cursor(sort, page[-1]) if len(rows) > limit else None)

    def cursor(self, sort: str | None, row: dict[str, Any]) -> str:
        """The `next` of a page ending with `row`: the key alone when sorting by it (the cursors
        clients already keep), else the sort value and the key, opaque."""
        name, _ = self.order(sort)
        key = row["sort_key"]
        if name == self.key:
            return str(key)
        raw = json.dumps([_iso(row["sort_value"]), _iso(key)], default=str).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_BAD_CURSOR = "'after' must be the 'next' value of a previous page."
_BIGINT = range(-(2**63), 2**63)


def _decode_cursor(after: str) -> tuple[Any, Any]:
    try:
        value, key = json.loads(base64.urlsafe_b64decode(after + "=" * (-len(after) % 4)))
    # RecursionError: a deeply nested array, which no page ever gave.
    except (ValueError, binascii.Error, TypeError, RecursionError) as exc:
        raise RegistryError(422, "bad_cursor", _BAD_CURSOR) from exc
    return value, key


def _typed(value: Any, sql_type: str) -> Any:
    """A cursor's value as the driver needs it for the column's type: anything else a cursor may
    hold (null, a list, 1e400, a number PostgreSQL's bigint cannot take, a NUL that no text
    column holds, a lone surrogate that is no text at all) is a 422, not a 500."""
    try:
        if sql_type == "bigint":
            number = int(value)
            if number not in _BIGINT:
                raise ValueError(f"{number} is out of the bigint range")
            return number
        if sql_type == "timestamptz":
            return datetime.fromisoformat(str(value))
        if "\x00" in str(value):
            raise ValueError("PostgreSQL text holds no NUL")
        str(value).encode()
    except (ValueError, TypeError, OverflowError) as exc:
        raise RegistryError(422, "bad_cursor", _BAD_CURSOR) from exc
    return str(value)


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


_ACCOUNT_KEYS = ("source", "destination", "account")


_SUPPLEMENTARY_KEYS = ("from_account", "to_account")
# The accounts of a recorded transaction's supplementary operations (a share of proceeds, an OMGE
# cancellation): units arrive in them too, so their holders see the transaction.
_IN_SUPPLEMENTARY = (
    "jsonb_path_exists(v.result, '$.supplementary[*] ? (@.from_account == $a || @.to_account == $a)', "
    "jsonb_build_object('a', CAST(:account AS text)))"
)


def named_accounts(tx: dict[str, Any]) -> set[str]:
    """The accounts a transaction (as `transaction` shows it) names, in its request or its result,
    its supplementary operations included."""
    parts = [p for p in (tx.get("command"), tx.get("result")) if isinstance(p, dict)]
    named = {p[k] for p in parts for k in _ACCOUNT_KEYS if isinstance(p.get(k), str)}
    operations = (tx.get("result") or {}).get("supplementary") or []
    return named | {op[k] for op in operations if isinstance(op, dict) for k in _SUPPLEMENTARY_KEYS if k in op}


TRANSACTIONS = Listing(
    {
        "recorded": ("v.journal_sequence", "bigint"),
        "kind": ("v.kind", "text"),
        "outcome": ("v.outcome", "text"),
        "initiator": ("v.initiator", "text"),
    },
    key="recorded",
)


async def transactions(
    engine: AsyncEngine,
    *,
    limit: int,
    after: str | None,
    kind: str | None,
    user: str | None,
    sort: str | None = None,
    account: str | None = None,
    window: tuple[datetime | None, datetime | None] = (None, None),
    recorded_too: bool = False,
) -> tuple[list[dict[str, Any]], str | None]:
    """Transactions, only those of `user` if given (initiated by them, or for them by an
    administrator acting on their behalf) and, with `recorded_too`, every recorded one."""
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if kind:
        clauses.append("v.kind = :kind")
        params["kind"] = kind
    if user:
        mine = "(v.initiator = :user OR v.on_behalf_of = :user)"
        clauses.append(f"({mine} OR v.outcome = 'recorded')" if recorded_too else mine)
        params["user"] = user
    if account:
        # Where a transaction names its accounts: in the request, and in the result once recorded.
        named = [f"v.{part}->>'{key}'" for part in ("input->'command'", "result") for key in _ACCOUNT_KEYS]
        clauses.append(f"(:account IN ({', '.join(named)}) OR {_IN_SUPPLEMENTARY})")
        params["account"] = account
    if window[0] is not None:
        clauses.append("v.recorded_at >= :recorded_from")
        params["recorded_from"] = window[0]
    if window[1] is not None:
        clauses.append("v.recorded_at < :recorded_before")
        params["recorded_before"] = window[1]
    source = (
        "SELECT id, kind, outcome, initiator, on_behalf_of, input, result, journal_sequence, recorded_at "
        "FROM transactions"
    )
    rows, nxt = await TRANSACTIONS.page(
        engine, source, sort=sort, after=after, limit=limit, clauses=clauses, params=params
    )
    return [_transaction_view(r) for r in rows], nxt


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
    row = {k: v for k, v in row.items() if k not in ("sort_value", "sort_key")}
    return {**row, "opened_at": _iso(row["opened_at"]), "balance": int(row["balance"]), "blocks": int(row["blocks"])}


ACCOUNTS = Listing(
    {
        "number": ("v.number", "text"),
        "holder": ("v.holder", "text"),
        "section": ("COALESCE(v.section, '')", "text"),
        "type": ("v.type", "text"),
        "status": ("v.status", "text"),
        "opened_at": ("v.opened_at", "timestamptz"),
        "balance": ("v.balance", "bigint"),
    },
    key="number",
)


async def accounts(
    engine: AsyncEngine,
    *,
    limit: int,
    after: str | None,
    section: str | None,
    type: str | None,
    status: str | None,
    visible: Visibility | None,
    sort: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    clauses: list[str] = []
    params: dict[str, Any] = {}
    for column, value in (("section", section), ("type", type), ("status", status)):
        if value is not None:
            clauses.append(f"v.{column} = :{column}")
            params[column] = value
    if visible is not None:
        clauses.append("(v.section = ANY(:vs) OR v.number = ANY(:va) OR v.cooperative_approach = ANY(:vc))")
        params["vs"], params["va"], params["vc"] = visible.sections, visible.accounts, visible.approaches
    rows, nxt = await ACCOUNTS.page(
        engine, _ACCOUNT_SQL, sort=sort, after=after, limit=limit, clauses=clauses, params=params
    )
    return [_account_view(r) for r in rows], nxt


async def account(engine: AsyncEngine, number: str) -> dict[str, Any] | None:
    rows = await _rows(engine, f"{_ACCOUNT_SQL} WHERE a.number = :n", n=number)
    return _account_view(rows[0]) if rows else None


_BLOCK_COLUMNS = (
    "b.id AS block_id, b.first_serial, b.last_serial, s.originating_registry, s.issuing_party, s.activity_id, "
    "s.vintage, s.metric, i.cooperative_approach, i.first_transferring_party, i.sectors, i.activity_types, "
    "i.underlying_registry, i.underlying_first, i.underlying_last"
)


BLOCKS = Listing(
    {
        "block": ("v.block_id", "bigint"),
        "serial": ("v.first_serial", "bigint"),
        "quantity": ("v.last_serial - v.first_serial", "bigint"),
        "activity": ("v.activity_id", "text"),
        "vintage": ("v.vintage", "bigint"),
    },
    key="block",
)
_BLOCK_JOINS = "JOIN issuances i ON i.id = b.issuance_id JOIN serial_scopes s ON s.id = i.scope_id"


async def blocks(
    engine: AsyncEngine, number: str, *, limit: int, after: str | None, at: datetime | None, sort: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """Live blocks of an account, or (with `at`) the blocks it held at that instant: created by a
    transaction recorded by then and not retired by one recorded by then."""
    params: dict[str, Any] = {"n": number}
    if at is None:
        source = (
            f"SELECT {_BLOCK_COLUMNS} FROM holdings h JOIN unit_blocks b ON b.id = h.block_id {_BLOCK_JOINS} "
            "WHERE h.account_number = :n"
        )
    else:
        params["at"] = at
        source = (
            f"SELECT {_BLOCK_COLUMNS} FROM unit_blocks b "
            f"JOIN transactions ct ON ct.id = b.created_tx AND ct.recorded_at <= :at {_BLOCK_JOINS} "
            "WHERE b.account_number = :n AND NOT EXISTS (SELECT 1 FROM block_retirements r "
            "JOIN transactions rt ON rt.id = r.tx WHERE r.block_id = b.id AND rt.recorded_at <= :at)"
        )
    rows, nxt = await BLOCKS.page(engine, source, sort=sort, after=after, limit=limit, clauses=[], params=params)
    return [_block_view(r) for r in rows], nxt


async def pieces(engine: AsyncEngine, chosen: Sequence[tuple[int, int, int]]) -> list[dict[str, Any]]:
    """Views of parts of live blocks, (block id, first, last) each, with their blocks' metadata."""
    if not chosen:
        return []
    rows = await _rows(
        engine,
        f"SELECT {_BLOCK_COLUMNS} FROM unit_blocks b {_BLOCK_JOINS} WHERE b.id = ANY(:ids)",
        ids=sorted({block for block, _, _ in chosen}),
    )
    by_id = {r["block_id"]: r for r in rows}
    return [_block_view({**by_id[block], "first_serial": first, "last_serial": last}) for block, first, last in chosen]


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
    rows = await _rows(engine, "SELECT party, name, status, created_at FROM sections ORDER BY party")
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


async def checkpoints(
    engine: AsyncEngine, *, limit: int, before: int | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Signed checkpoints, newest first (one every few seconds while the ledger works: paginated)."""
    rows = await _rows(
        engine,
        "SELECT tree_size, root_hash, signature, signed_at FROM journal_checkpoints "
        "WHERE tree_size < :before ORDER BY tree_size DESC LIMIT :limit",
        before=before if before is not None else 2**62,
        limit=limit + 1,
    )
    page = rows[:limit]
    items = [{**r, "root_hash": bytes(r["root_hash"]).hex(), "signed_at": _iso(r["signed_at"])} for r in page]
    return items, (str(page[-1]["tree_size"]) if len(rows) > limit else None)


APPLICATION_STATES = ("pending", "approved", "rejected")


async def applications(
    engine: AsyncEngine,
    *,
    limit: int,
    after: str | None,
    state: str | None,
    section: str | None,
    sections: list[str] | None,
    applicant: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Account applications (A6R-41) in the order they were recorded. `sections` None means every
    section's; otherwise those of these sections and those `applicant` made."""
    clauses = ["t.kind = 'apply_for_account'", "t.outcome = 'recorded'"]
    params: dict[str, Any] = {"limit": limit + 1}
    if after:
        params["after"] = _typed(after, "bigint")
        clauses.append("t.journal_sequence > :after")
    if state == "pending":
        clauses.append("d.application_id IS NULL")
    elif state is not None:
        clauses.append("d.approved = :approved")
        params["approved"] = state == "approved"
    if section:
        clauses.append("t.input->'command'->>'section' = :section")
        params["section"] = section
    if sections is not None:
        clauses.append("(t.input->'command'->>'section' = ANY(:sections) OR t.input->'identity'->>'subject' = :me)")
        params["sections"], params["me"] = sections, applicant or ""
    rows = await _rows(
        engine,
        "SELECT t.id, t.input, t.journal_sequence, t.recorded_at, d.approved, d.account_number, "
        "dt.recorded_at AS decided_at FROM transactions t "
        "LEFT JOIN application_decisions d ON d.application_id = t.id LEFT JOIN transactions dt ON dt.id = d.tx "
        f"WHERE {' AND '.join(clauses)} ORDER BY t.journal_sequence LIMIT :limit",
        **params,
    )
    page = rows[:limit]
    return [_application_view(r) for r in page], (str(page[-1]["journal_sequence"]) if len(rows) > limit else None)


def _application_view(row: dict[str, Any]) -> dict[str, Any]:
    command, identity = row["input"]["command"], row["input"]["identity"]
    state = "pending" if row["approved"] is None else ("approved" if row["approved"] else "rejected")
    return {
        "application_id": str(row["id"]),
        "state": state,
        "section": command["section"],
        "holder": command["holder"],
        "type": command["type"],
        "cooperative_approach": command.get("cooperative_approach"),
        "applicant": identity["subject"],
        "submitted_by": identity.get("actor") or identity["subject"],
        "submitted_at": _iso(row["recorded_at"]),
        "decided_at": _iso(row["decided_at"]),
        "account": row["account_number"],
    }
