"""Read views for the API: paginated with keyset cursors, never through the writer."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger.adapters.repository import BATCH_LOCK
from registry_contracts.serials import HumanBlock, MalformedSerial, SerialRange, format_block
from registry_platform.errors import RegistryError


async def _rows(engine: AsyncEngine, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(text(sql), params)).mappings()]


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


@dataclass(frozen=True)
class Position:
    """Where the previous page ended, as its cursor carries it: the last row's sort value and key
    and, for a listing read as at one moment, the journal sequence its pages are read at."""

    value: Any
    key: Any
    pin: int | None = None


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

    def _sort_name(self, sort: str | None) -> str:
        name, descending = self.order(sort)
        return f"-{name}" if descending else name

    def resume(self, sort: str | None, after: str | None, filters: Mapping[str, Any]) -> Position | None:
        """Where a cursor continues, if it was made for this sort and these filters: under another
        sort or other filters its position means nothing (items would be skipped or repeated), so
        that is a 422 bad_cursor, not a page."""
        if not after:
            return None
        wanted = self._sort_name(sort)
        cursor = _decode_cursor(after)
        restart = "or leave out 'after' to start again from the first page"
        if cursor["sort"] != wanted:
            raise RegistryError(
                422,
                "bad_cursor",
                f"This cursor continues the listing sorted by {cursor['sort']!r}, not {wanted!r}: ask with "
                f"sort={cursor['sort']} and the filters of its first page, {restart}.",
                cursor_sort=cursor["sort"],
                sort=wanted,
            )
        if cursor["filters"] != _fingerprint(filters):
            raise RegistryError(
                422,
                "bad_cursor",
                "This cursor continues a listing with other filters: give the same "
                f"{', '.join(sorted(filters))} as its first page, {restart}.",
                filters=sorted(filters),
            )
        name, _ = self.order(sort)
        value = _typed(cursor["value"], self.columns[name][1])
        return Position(value, _typed(cursor["key"], self.columns[self.key][1]), cursor.get("pin"))

    def page_sql(self, sort: str | None, position: Position | None, params: dict[str, Any]) -> tuple[str, str, str]:
        """The sort expression to select as `sort_value`, the keyset condition (or '') and ORDER BY."""
        name, descending = self.order(sort)
        expr, sql_type = self.columns[name]
        key_expr, _ = self.columns[self.key]
        direction, compare = ("DESC", "<") if descending else ("ASC", ">")
        condition = ""
        if position is not None:
            params["after_key"] = position.key
            if name == self.key:
                condition = f"{key_expr} {compare} :after_key"
            else:
                params["after_value"] = position.value
                condition = f"({expr}, {key_expr}) {compare} (CAST(:after_value AS {sql_type}), :after_key)"
        # The key last in every order: rows with equal sort values keep one order across pages.
        order = f"{expr} {direction}" + ("" if name == self.key else f", {key_expr} {direction}")
        return expr, condition, order

    async def page(
        self,
        engine: AsyncEngine,
        source: str,
        *,
        sort: str | None,
        position: Position | None,
        filters: Mapping[str, Any],
        limit: int,
        clauses: list[str],
        params: dict[str, Any],
        pin: int | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the rows of `source` (a SELECT, its rows named `v`) meeting `clauses`,
        sorted, after `position`; and the next page's cursor, which carries `pin` (or, on a first
        page, the `pin` column `source` selects) for the following pages to be read at."""
        params = {**params, "limit": limit + 1}
        expr, condition, order = self.page_sql(sort, position, params)
        where = [*clauses, condition] if condition else clauses
        rows = await _rows(
            engine,
            f"SELECT v.*, {expr} AS sort_value, {self.columns[self.key][0]} AS sort_key FROM ({source}) v"
            + (f" WHERE {' AND '.join(where)}" if where else "")
            + f" ORDER BY {order} LIMIT :limit",
            **params,
        )
        page = rows[:limit]
        if len(rows) <= limit:
            return page, None
        last = page[-1]
        return page, self.cursor(sort, filters, last, pin if pin is not None else last.get("pin"))

    def cursor(self, sort: str | None, filters: Mapping[str, Any], row: dict[str, Any], pin: int | None) -> str:
        """The `next` of a page ending with `row`, opaque: the sort and filters it continues (the
        filters as a digest), the row's sort value and key, and the pin if any."""
        body: dict[str, Any] = {
            "sort": self._sort_name(sort),
            "filters": _fingerprint(filters),
            "value": _iso(row["sort_value"]),
            "key": _iso(row["sort_key"]),
        }
        if pin is not None:
            body["pin"] = int(pin)
        raw = json.dumps(body, default=str, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_BAD_CURSOR = "'after' must be the 'next' value of a previous page of this listing; leave it out for the first page."
_BIGINT = range(-(2**63), 2**63)


def _fingerprint(filters: Mapping[str, Any]) -> str:
    """A digest of a listing's filters, instants in UTC (the same instant written in another zone is
    the same filter)."""
    canonical = {
        name: value.astimezone(UTC).isoformat() if isinstance(value, datetime) and value.tzinfo else _iso(value)
        for name, value in filters.items()
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _decode_cursor(after: str) -> dict[str, Any]:
    try:
        cursor = json.loads(base64.urlsafe_b64decode(after + "=" * (-len(after) % 4)))
    # RecursionError: a deeply nested array, which no page ever gave.
    except (ValueError, binascii.Error, TypeError, RecursionError) as exc:
        raise RegistryError(422, "bad_cursor", _BAD_CURSOR) from exc
    pin = cursor.get("pin") if isinstance(cursor, dict) else None
    if not (
        isinstance(cursor, dict)
        and isinstance(cursor.get("sort"), str)
        and isinstance(cursor.get("filters"), str)
        and {"value", "key"} <= cursor.keys()
        and (pin is None or (type(pin) is int and pin in _BIGINT))
    ):
        raise RegistryError(422, "bad_cursor", _BAD_CURSOR)
    return cursor


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
    recorded = await _recorded_transaction(engine, tx)
    if recorded is not None:
        return recorded
    proposed = await _rows(
        engine,
        "SELECT id, command, requested, identity, proposed_at, deadline FROM proposals "
        "WHERE id = :id AND decided_at IS NULL",
        id=tx,
    )
    if proposed:
        return _proposal_view(proposed[0])
    # Decided between the two reads (the record and the decision commit together): it is recorded now.
    return await _recorded_transaction(engine, tx)


async def _recorded_transaction(engine: AsyncEngine, tx: uuid.UUID) -> dict[str, Any] | None:
    rows = await _rows(
        engine,
        "SELECT id, kind, outcome, initiator, on_behalf_of, input, result, journal_sequence, recorded_at "
        "FROM transactions WHERE id = :id",
        id=tx,
    )
    return _transaction_view(rows[0]) if rows else None


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
        # As the client sent it, when the registry has spelled out its choices in `command`.
        "requested": row["requested"],
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
        "requested": row["input"].get("requested"),
        "result": row["result"],
        "journal_sequence": row["journal_sequence"],
        "recorded_at": _iso(row["recorded_at"]),
    }


_ACCOUNT_KEYS = ("source", "destination", "account")


_SUPPLEMENTARY_KEYS = ("from_account", "to_account")
# The accounts of a recorded transaction's supplementary operations (a share of proceeds, an OMGE
# cancellation): units arrive in them too, so their holders see the transaction. Likewise the
# accounts a reversal takes units back from (`returned_from`): units leave them.
_IN_SUPPLEMENTARY = (
    "jsonb_path_exists(v.result, '$.supplementary[*] ? (@.from_account == $a || @.to_account == $a)', "
    "jsonb_build_object('a', CAST(:account AS text))) OR "
    "jsonb_path_exists(v.result, '$.returned_from[*] ? (@ == $a)', jsonb_build_object('a', CAST(:account AS text)))"
)


def named_accounts(tx: dict[str, Any]) -> set[str]:
    """The accounts a transaction (as `transaction` shows it) names, in its request or its result,
    its supplementary operations and the accounts a reversal took units back from included."""
    parts = [p for p in (tx.get("command"), tx.get("result")) if isinstance(p, dict)]
    named = {p[k] for p in parts for k in _ACCOUNT_KEYS if isinstance(p.get(k), str)}
    result = tx.get("result") or {}
    operations = result.get("supplementary") or []
    returned = {a for a in result.get("returned_from") or [] if isinstance(a, str)}
    return (
        named | returned | {op[k] for op in operations if isinstance(op, dict) for k in _SUPPLEMENTARY_KEYS if k in op}
    )


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
    filters = {"kind": kind, "account": account, "recorded_from": window[0], "recorded_before": window[1]}
    rows, nxt = await TRANSACTIONS.page(
        engine,
        source,
        sort=sort,
        position=TRANSACTIONS.resume(sort, after, filters),
        filters=filters,
        limit=limit,
        clauses=clauses,
        params=params,
    )
    return [_transaction_view(r) for r in rows], nxt


_ACCOUNT_SQL = (
    "SELECT a.number, a.holder, a.section, a.cooperative_approach, a.type, a.status, a.opened_at, "
    "COALESCE((SELECT sum(h.quantity) FROM holdings h WHERE h.account_number = a.number), 0) AS balance, "
    "(SELECT count(*) FROM holdings h WHERE h.account_number = a.number) AS blocks FROM accounts a"
)


@dataclass(frozen=True)
class Visibility:
    """The accounts a caller may see: those of these sections, these approaches, and these accounts
    (section, number): an account grant counts only for the account in the section it names, as the
    writer judges it (a grant naming no section names the account alone). An account grant naming
    one section and another section's account shows nothing (A6R-51)."""

    sections: list[str]
    accounts: list[tuple[str | None, str]]
    approaches: list[str]

    def covers(self, account: dict[str, Any]) -> bool:
        return (
            account["section"] in self.sections
            or account["cooperative_approach"] in self.approaches
            or any(
                number == account["number"] and section in (None, account["section"])
                for section, number in self.accounts
            )
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
        granted = (
            "EXISTS (SELECT 1 FROM unnest(CAST(:va_sections AS text[]), CAST(:va_numbers AS text[])) "
            "AS g(section, number) WHERE g.number = v.number AND (g.section IS NULL OR g.section = v.section))"
        )
        clauses.append(f"(v.section = ANY(:vs) OR v.cooperative_approach = ANY(:vc) OR {granted})")
        params["vs"], params["vc"] = visible.sections, visible.approaches
        params["va_sections"] = [section for section, _ in visible.accounts]
        params["va_numbers"] = [number for _, number in visible.accounts]
    filters = {"section": section, "type": type, "status": status}
    rows, nxt = await ACCOUNTS.page(
        engine,
        _ACCOUNT_SQL,
        sort=sort,
        position=ACCOUNTS.resume(sort, after, filters),
        filters=filters,
        limit=limit,
        clauses=clauses,
        params=params,
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


def _held(bound: str) -> str:
    """The blocks an account held at a moment: created by a transaction that meets `bound` (a
    condition on a transaction's column) and not retired by one that does."""
    return (
        f"SELECT {_BLOCK_COLUMNS} FROM unit_blocks b "
        f"JOIN transactions ct ON ct.id = b.created_tx AND ct.{bound} {_BLOCK_JOINS} "
        "WHERE b.account_number = :n AND NOT EXISTS (SELECT 1 FROM block_retirements r "
        f"JOIN transactions rt ON rt.id = r.tx WHERE r.block_id = b.id AND rt.{bound})"
    )


async def blocks(
    engine: AsyncEngine, number: str, *, limit: int, after: str | None, at: datetime | None, sort: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """Live blocks of an account, or (with `at`) the blocks it held at that instant.

    The live first page also reads the journal's last sequence, in the same statement (so in the
    same snapshot), and its cursor pins it: the following pages read the blocks held as at that
    entry, so a transfer splitting or moving blocks meanwhile neither repeats nor drops a unit."""
    # The account too: another account's cursor would skip this one's blocks up to its position.
    filters = {"account": number, "at": at}
    position = BLOCKS.resume(sort, after, filters)
    pin = position.pin if position is not None else None
    params: dict[str, Any] = {"n": number}
    if at is not None:
        params["at"] = at
        source = _held("recorded_at <= :at")
    elif pin is not None:
        params["pin"] = pin
        source = _held("journal_sequence <= :pin")
    else:
        source = (
            f"SELECT {_BLOCK_COLUMNS}, (SELECT max(sequence) FROM journal) AS pin FROM holdings h "
            f"JOIN unit_blocks b ON b.id = h.block_id {_BLOCK_JOINS} WHERE h.account_number = :n"
        )
    rows, nxt = await BLOCKS.page(
        engine,
        source,
        sort=sort,
        position=position,
        filters=filters,
        limit=limit,
        clauses=[],
        params=params,
        pin=pin,
    )
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


async def is_final(engine: AsyncEngine, instant: datetime) -> tuple[bool, datetime]:
    """Whether no journal entry can still come at or before `instant`, and the latest instant known
    to be final. Up to the newest committed entry's instant, yes: every later batch is stamped after
    it (`JournalHead.instant`). Later ones: the writer stamps a batch's instant while it holds BATCH_LOCK, before the
    batch commits; once this reader holds the lock too, the batch before has committed and the next
    is stamped after this reader's clock (the ledger's hosts keep their clocks in step)."""
    async with engine.connect() as conn:
        newest = await conn.scalar(text("SELECT recorded_at FROM journal ORDER BY sequence DESC LIMIT 1"))
        if newest is not None and instant <= newest:
            return True, newest
        await conn.execute(text(f"SELECT pg_advisory_xact_lock_shared({BATCH_LOCK})"))
        now = datetime.now(UTC)
        await conn.commit()
    return instant < now, now


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
