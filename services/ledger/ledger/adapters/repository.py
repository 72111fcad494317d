"""SQL for the ledger's tables. Every method runs inside the writer's (or a reader's) transaction."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import TextClause

from ledger.domain.journal import Checkpoint, JournalEntry
from ledger.domain.model import Account, AccountStatus, AccountType, SectionStatus
from ledger.service_layer.commands import Selection, SerialScope


@dataclass(frozen=True)
class Holding:
    """A live block as the ledger stores it."""

    block_id: int
    account_number: str
    scope_id: int
    issuance_id: int
    first: int
    last: int

    @property
    def quantity(self) -> int:
        return self.last - self.first + 1


@dataclass(frozen=True)
class NewBlock:
    block_id: int
    issuance_id: int
    scope_id: int
    first: int
    last: int
    account_number: str
    parent_block: int | None


@functools.lru_cache(maxsize=512)
def _sql(statement: str) -> TextClause:
    """Parsed once per distinct statement: the writer runs the same few statements all day."""
    return text(statement)


@functools.lru_cache(maxsize=64)
def _native(statement: str) -> str:
    """`statement` with psycopg's own placeholders (%(name)s for :name)."""
    return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", statement.replace("%", "%%"))


_HOLDING_COLUMNS = "h.block_id, h.account_number, h.scope_id, h.issuance_id, h.first_serial, h.last_serial"
# Ends a LATERAL subquery looking up the blocks at one range. OFFSET 0 keeps PostgreSQL from
# flattening it into a join: with a few ranges of one big issuance it would hash-join a scan of
# the whole account (200 ms at 10^6 blocks) instead of probing the exclusion index once per range.
_PER_RANGE = "OFFSET 0"


def _holding(row: Any) -> Holding:
    return Holding(row[0], row[1], row[2], row[3], row[4], row[5])


def _account(row: Any) -> Account:
    return Account(
        number=row.number,
        holder=row.holder,
        party=row.section,
        cooperative_approach=row.cooperative_approach,
        type=AccountType(row.type),
        status=AccountStatus(row.status),
    )


_PENDING_SQL = (
    "SELECT id, request_hash, proposed_at, deadline FROM proposals WHERE id = ANY(:ids) AND decided_at IS NULL"
)


class LedgerRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        # Counts writes, so the writer knows whether a refused proposal left anything behind.
        self.writes = 0
        self._pending_transactions: list[dict[str, Any]] = []
        self._ahead: asyncio.Task[None] | None = None
        self._driver: Any = None

    async def _write(self, statement: Any, params: Any = None) -> Any:
        self.writes += 1
        return await self._execute(statement, params)

    async def _one(self, sql: str, **params: Any) -> Any:
        return (await self._execute(_sql(sql), params)).first()

    async def _execute(self, statement: Any, params: Any = None) -> Any:
        await self.settle()
        return await self.conn.execute(statement, params)

    async def _native_rows(self, statement: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Run a statement of the writer's per-transfer path on the driver's connection itself, in
        the same transaction: SQLAlchemy's compilation and result wrapping cost more than the
        statement does at PostgreSQL."""
        await self.settle()
        cursor = await self._native_execute(statement, params)
        return await cursor.fetchall()

    async def _native_execute(self, statement: str, params: dict[str, Any]) -> Any:
        if self._driver is None:
            self._driver = (await self.conn.get_raw_connection()).driver_connection
        return await self._driver.execute(_native(statement), params)

    async def settle(self) -> None:
        """Wait for the write sent ahead (see `move_blocks`); its failure surfaces here, and
        abandons the batch. Every statement on this connection waits for it first, so statements
        still run in the order they were issued; the writer settles before savepoints and commit."""
        if self._ahead is not None:
            ahead, self._ahead = self._ahead, None
            await ahead

    async def settle_quietly(self) -> None:
        """After a failure: let the write sent ahead end before the rollback, whatever its outcome."""
        with contextlib.suppress(Exception):
            await self.settle()

    # -- transactions and idempotency ---------------------------------------------------------

    async def known_transactions(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
        rows = await self._execute(
            _sql(
                "SELECT id, request_hash, outcome, result, journal_sequence, recorded_at FROM transactions "
                "WHERE id = ANY(:ids)"
            ),
            {"ids": list(ids)},
        )
        return {row.id: row for row in rows}

    # -- proposals awaiting the rules service's verdict (issue 5 saga) -----------------------

    async def add_proposal(
        self,
        tx: uuid.UUID,
        request_hash: bytes,
        command: Any,
        identity: dict[str, Any],
        proposed_at: datetime,
        deadline: datetime,
        reserved: dict[str, Any],
    ) -> None:
        await self._write(
            _sql(
                "INSERT INTO proposals (id, request_hash, command, identity, proposed_at, deadline, reserved) "
                "VALUES (:id, :h, CAST(:c AS jsonb), CAST(:i AS jsonb), :p, :d, CAST(:r AS jsonb))"
            ),
            {
                "id": tx,
                "h": request_hash,
                "c": json.dumps(command.model_dump(mode="json")),
                "i": json.dumps(identity),
                "p": proposed_at,
                "d": deadline,
                "r": json.dumps(reserved),
            },
        )

    async def reservations(self) -> list[tuple[uuid.UUID, dict[str, Any]]]:
        rows = await self._execute(_sql("SELECT id, reserved FROM proposals WHERE decided_at IS NULL"))
        return [(row.id, row.reserved) for row in rows]

    async def pending_proposals(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
        rows = await self._execute(
            _sql(_PENDING_SQL),
            {"ids": list(ids)},
        )
        return {row.id: row for row in rows}

    async def proposal(self, tx: uuid.UUID) -> Any:
        return await self._one(
            "SELECT id, request_hash, command, identity FROM proposals WHERE id = :id AND decided_at IS NULL", id=tx
        )

    async def overdue_proposals(self, now: datetime) -> list[uuid.UUID]:
        rows = await self._execute(
            _sql("SELECT id FROM proposals WHERE decided_at IS NULL AND deadline < :now ORDER BY deadline LIMIT 100"),
            {"now": now},
        )
        return [row.id for row in rows]

    async def close_proposal(self, tx: uuid.UUID, at: datetime) -> None:
        await self._write(_sql("UPDATE proposals SET decided_at = :at WHERE id = :id"), {"id": tx, "at": at})

    async def block_metadata(self, block_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """The issuance metadata of blocks (what rules look at besides the serial scope)."""
        rows = await self._execute(
            _sql(
                "SELECT b.id, i.cooperative_approach, i.first_transferring_party, i.sectors, i.activity_types "
                "FROM unit_blocks b JOIN issuances i ON i.id = b.issuance_id WHERE b.id = ANY(:ids)"
            ),
            {"ids": list(block_ids)},
        )
        return {
            row.id: {
                "cooperative_approach": row.cooperative_approach,
                "first_transferring_party": row.first_transferring_party.strip()
                if row.first_transferring_party
                else None,
                "sectors": list(row.sectors),
                "activity_types": list(row.activity_types),
            }
            for row in rows
        }

    def add_transaction(
        self,
        *,
        tx: uuid.UUID,
        kind: str,
        request_hash: bytes,
        outcome: str,
        initiator: str,
        on_behalf_of: str | None,
        input: dict[str, Any],
        result: dict[str, Any],
        journal_sequence: int,
        recorded_at: datetime,
    ) -> None:
        """Queue a transaction record; written by `flush_transactions`, one statement per batch."""
        self._pending_transactions.append(
            {
                "id": tx,
                "kind": kind,
                "h": request_hash,
                "outcome": outcome,
                "initiator": initiator,
                "obo": on_behalf_of,
                "input": json.dumps(input),
                "result": json.dumps(result),
                "seq": journal_sequence,
                "at": recorded_at,
            }
        )

    async def flush_transactions(self) -> None:
        if not self._pending_transactions:
            return
        rows, self._pending_transactions = self._pending_transactions, []
        await self._execute(
            _sql(
                "INSERT INTO transactions (id, kind, request_hash, outcome, initiator, on_behalf_of, input, result, "
                "journal_sequence, recorded_at) VALUES (:id, :kind, :h, :outcome, :initiator, :obo, "
                "CAST(:input AS jsonb), CAST(:result AS jsonb), :seq, :at)"
            ),
            rows,
        )

    async def transaction(self, tx: uuid.UUID) -> Any:
        await self.flush_transactions()
        return await self._one("SELECT * FROM transactions WHERE id = :id", id=tx)

    # -- configuration ------------------------------------------------------------------------

    async def section_exists(self, party: str) -> bool:
        return await self.section_status(party) is not None

    async def section_status(self, party: str) -> SectionStatus | None:
        row = await self._one("SELECT status FROM sections WHERE party = :p", p=party)
        return None if row is None else SectionStatus(row.status)

    async def add_section(self, party: str, name: str, tx: uuid.UUID, at: datetime) -> None:
        await self._write(
            _sql("INSERT INTO sections (party, name, created_tx, created_at) VALUES (:p, :n, :tx, :at)"),
            {"p": party, "n": name, "tx": tx, "at": at},
        )

    async def set_section_status(self, party: str, status: SectionStatus) -> None:
        await self._write(_sql("UPDATE sections SET status = :s WHERE party = :p"), {"s": status.value, "p": party})

    async def approach_parties(self, approach: str) -> list[str] | None:
        row = await self._one("SELECT parties FROM cooperative_approaches WHERE id = :id", id=approach)
        return None if row is None else list(row.parties)

    async def add_approach(self, approach: str, name: str, parties: list[str], tx: uuid.UUID, at: datetime) -> None:
        await self._write(
            _sql("INSERT INTO cooperative_approaches VALUES (:id, :n, :p, :tx, :at)"),
            {"id": approach, "n": name, "p": parties, "tx": tx, "at": at},
        )

    # -- accounts -----------------------------------------------------------------------------

    async def load_catalogue(
        self,
    ) -> tuple[dict[str, Account], dict[tuple[str, str, str, int, str], int], set[str]]:
        accounts = {r.number: _account(r) for r in await self._execute(_sql("SELECT * FROM accounts"))}
        scopes = {
            (r.originating_registry, r.issuing_party, r.activity_id, r.vintage, r.metric): r.id
            for r in await self._execute(_sql("SELECT * FROM serial_scopes"))
        }
        suspended = await self._execute(
            _sql("SELECT party FROM sections WHERE status = :s"), {"s": SectionStatus.SUSPENDED.value}
        )
        return accounts, scopes, {r.party for r in suspended}

    async def add_account(self, account: Account, tx: uuid.UUID, at: datetime) -> None:
        await self._write(
            _sql("INSERT INTO accounts VALUES (:number, :holder, :section, :ca, :type, :status, :tx, :at)"),
            {
                "number": account.number,
                "holder": account.holder,
                "section": account.party,
                "ca": account.cooperative_approach,
                "type": account.type.value,
                "status": account.status.value,
                "tx": tx,
                "at": at,
            },
        )
        await self._write(
            _sql(
                "INSERT INTO account_events (account_number, tx, old_status, new_status, recorded_at) "
                "VALUES (:n, :tx, NULL, :s, :at)"
            ),
            {"n": account.number, "tx": tx, "s": account.status.value, "at": at},
        )

    async def set_status(self, account: Account, status: AccountStatus, tx: uuid.UUID, at: datetime) -> None:
        await self._write(
            _sql("UPDATE accounts SET status = :s WHERE number = :n"), {"s": status.value, "n": account.number}
        )
        await self._write(
            _sql(
                "INSERT INTO account_events (account_number, tx, old_status, new_status, recorded_at) "
                "VALUES (:n, :tx, :old, :new, :at)"
            ),
            {"n": account.number, "tx": tx, "old": account.status.value, "new": status.value, "at": at},
        )

    async def balance(self, account: str) -> int:
        row = await self._one(
            "SELECT COALESCE(sum(quantity), 0) AS q FROM holdings WHERE account_number = :a", a=account
        )
        return int(row.q)

    async def application(self, application_id: uuid.UUID) -> Any:
        await self.flush_transactions()
        return await self._one(
            "SELECT t.input, d.application_id AS decided FROM transactions t "
            "LEFT JOIN application_decisions d ON d.application_id = t.id "
            "WHERE t.id = :id AND t.kind = 'apply_for_account' AND t.outcome = 'recorded'",
            id=application_id,
        )

    async def decide_application(
        self, application_id: uuid.UUID, approved: bool, account: str | None, tx: uuid.UUID
    ) -> None:
        await self._write(
            _sql("INSERT INTO application_decisions VALUES (:a, :ok, :acct, :tx)"),
            {"a": application_id, "ok": approved, "acct": account, "tx": tx},
        )

    # -- serial scopes, issuances, blocks -----------------------------------------------------

    async def add_scope(self, scope_id: int, scope: SerialScope) -> None:
        await self._write(
            _sql("INSERT INTO serial_scopes VALUES (:id, :r, :p, :a, :v, :m)"),
            {
                "id": scope_id,
                "r": scope.originating_registry,
                "p": scope.issuing_party,
                "a": scope.activity_id,
                "v": scope.vintage,
                "m": scope.metric,
            },
        )

    async def highest_serial(self, scope_id: int) -> int:
        row = await self._one(
            "SELECT COALESCE(max(last_serial), 0) AS m FROM issuances WHERE scope_id = :s", s=scope_id
        )
        return int(row.m)

    async def issued_overlapping(self, scope_id: int, first: int, last: int) -> bool:
        row = await self._one(
            "SELECT 1 FROM issuances WHERE scope_id = :s AND first_serial <= :l AND last_serial >= :f LIMIT 1",
            s=scope_id,
            f=first,
            l=last,
        )
        return row is not None

    async def add_issuance(
        self, *, issuance_id: int, tx: uuid.UUID, scope_id: int, first: int, last: int, metadata: dict[str, Any]
    ) -> None:
        await self._write(
            _sql("INSERT INTO issuances VALUES (:id, :tx, :s, :f, :l, :ca, :ftp, :sectors, :types, :ur, :uf, :ul)"),
            {
                "id": issuance_id,
                "tx": tx,
                "s": scope_id,
                "f": first,
                "l": last,
                "ca": metadata.get("cooperative_approach"),
                "ftp": metadata["first_transferring_party"],
                "sectors": metadata.get("sectors", []),
                "types": metadata.get("activity_types", []),
                "ur": metadata.get("underlying_registry"),
                "uf": metadata.get("underlying_first"),
                "ul": metadata.get("underlying_last"),
            },
        )

    async def holdings_overlapping(self, scope_id: int, first: int, last: int) -> list[Holding]:
        rows = await self._native_rows(
            f"SELECT {_HOLDING_COLUMNS} FROM holdings h WHERE h.scope_id = :s "
            "AND int8range(h.first_serial, h.last_serial, '[]') && int8range(:f, :l, '[]') "
            "ORDER BY h.first_serial",
            {"s": scope_id, "f": first, "l": last},
        )
        return [_holding(r) for r in rows]

    def _selection_filter(self, selection: Selection) -> tuple[str, dict[str, Any]]:
        clauses, params = [], {}
        for column, value in (
            ("sc.issuing_party", selection.issuing_party),
            ("sc.activity_id", selection.activity_id),
            ("sc.metric", selection.metric),
            ("i.cooperative_approach", selection.cooperative_approach),
        ):
            if value is not None:
                name = column.split(".")[1]
                clauses.append(f"{column} = :{name}")
                params[name] = value
        if selection.vintage_from is not None:
            clauses.append("sc.vintage >= :vfrom")
            params["vfrom"] = selection.vintage_from
        if selection.vintage_to is not None:
            clauses.append("sc.vintage <= :vto")
            params["vto"] = selection.vintage_to
        joins = ""
        if any(c.startswith("sc.") for c in clauses):
            joins += " JOIN serial_scopes sc ON sc.id = h.scope_id"
        if any(c.startswith("i.") for c in clauses):
            joins += " JOIN issuances i ON i.id = h.issuance_id"
        where = "".join(f" AND {c}" for c in clauses)
        return joins + " WHERE h.account_number = :account" + where, params

    async def holdings_overlapping_ranges(
        self, account: str, selection: Selection, ranges: Sequence[tuple[int, int, int]]
    ) -> list[Holding]:
        """The account's eligible blocks that hold any of `ranges` (scope id, first, last)."""
        where, params = self._selection_filter(selection)
        rows = await self._native_rows(
            f"SELECT DISTINCT {_HOLDING_COLUMNS} FROM unnest(CAST(:rs AS bigint[]), CAST(:rf AS bigint[]), "
            f"CAST(:rl AS bigint[])) AS r(s, f, l) CROSS JOIN LATERAL (SELECT {_HOLDING_COLUMNS} FROM holdings h"
            f"{where} AND h.scope_id = r.s AND int8range(h.first_serial, h.last_serial, '[]') "
            f"&& int8range(r.f, r.l, '[]') {_PER_RANGE}) h",
            {
                **params,
                "account": account,
                "rs": [r[0] for r in ranges],
                "rf": [r[1] for r in ranges],
                "rl": [r[2] for r in ranges],
            },
        )
        return [_holding(row) for row in rows]

    async def selection_candidates(
        self, account: str, selection: Selection, page: int = 32, exclude: frozenset[int] = frozenset()
    ) -> tuple[Holding | None, list[Holding]]:
        """The blocks A6R-52 can pick from, in one round trip for the usual case.

        Returns (an exact-size block, []) when rule 1 applies: the eligible block whose length is
        the quantity, lowest first serial first. Otherwise (None, the eligible blocks shortest
        first, ties by lower first serial, up to the first that brings the total to the quantity):
        only this prefix of the sorted blocks can take part in rule 2, so a source with a million
        blocks costs a few index pages, not a million rows."""
        where, params = self._selection_filter(selection)
        params = {**params, "account": account, "q": selection.quantity}
        if exclude:
            # Blocks promised to proposals awaiting their verdict are not available.
            where += " AND h.block_id <> ALL(:exclude)"
            params["exclude"] = sorted(exclude)
        order = "ORDER BY h.quantity, h.first_serial, h.block_id"
        rows = await self._native_rows(
            f"(SELECT true AS exact, {_HOLDING_COLUMNS} FROM holdings h{where} AND h.quantity = :q "
            "ORDER BY h.first_serial, h.block_id LIMIT 1) UNION ALL "
            f"(SELECT false, {_HOLDING_COLUMNS} FROM holdings h{where} {order} LIMIT :page)",
            {**params, "page": page},
        )
        if rows and rows[0][0]:
            return _holding(rows[0][1:]), []
        taken: list[Holding] = []
        total = 0
        while True:
            for row in rows:
                holding = _holding(row[1:])
                taken.append(holding)
                total += holding.quantity
                if total >= selection.quantity:
                    return None, taken
            if len(rows) < page:
                return None, taken
            last = taken[-1]
            page = min(page * 4, 65536)
            rows = await self._native_rows(
                f"SELECT false, {_HOLDING_COLUMNS} FROM holdings h{where} "
                f"AND (h.quantity, h.first_serial, h.block_id) > (:aq, :af, :ab) {order} LIMIT :page",
                {**params, "aq": last.quantity, "af": last.first, "ab": last.block_id, "page": page},
            )

    async def move_blocks(self, retire: Sequence[int], blocks: Sequence[NewBlock], tx: uuid.UUID) -> None:
        """Retire live blocks and create their successors in one statement, sent ahead: the writer
        goes on recording the transaction while PostgreSQL runs it, and the next statement waits
        for it (`settle`).

        The new holdings may cover the serials of the ones retired in the same statement: the
        exclusion constraint does not see rows this transaction deleted. The insert waits for the
        delete (it reads its count) and inserts nothing unless every block to retire was live."""
        await self.settle()
        self.writes += 1
        self._ahead = asyncio.ensure_future(self._move_blocks(retire, blocks, tx))
        # Let it send the statement now, before the writer's next stretch of Python.
        await asyncio.sleep(0)

    async def _move_blocks(self, retire: Sequence[int], blocks: Sequence[NewBlock], tx: uuid.UUID) -> None:
        # Not settling first: this runs as the write sent ahead, which settling would wait for.
        inserted = await self._native_execute(
            "WITH gone AS (DELETE FROM holdings WHERE block_id = ANY(CAST(:r AS bigint[])) RETURNING block_id), "
            "retired AS (INSERT INTO block_retirements (block_id, tx) SELECT block_id, :tx FROM gone), "
            "new AS (INSERT INTO unit_blocks (id, issuance_id, first_serial, last_serial, account_number, "
            "created_tx, parent_block) SELECT u.id, u.iss, u.f, u.l, u.a, :tx, u.p FROM unnest("
            "CAST(:ids AS bigint[]), CAST(:iss AS bigint[]), CAST(:f AS bigint[]), CAST(:l AS bigint[]), "
            "CAST(:a AS text[]), CAST(:p AS bigint[])) AS u(id, iss, f, l, a, p)) "
            "INSERT INTO holdings (block_id, account_number, scope_id, issuance_id, first_serial, last_serial) "
            "SELECT u.id, u.a, u.s, u.iss, u.f, u.l FROM unnest(CAST(:ids AS bigint[]), CAST(:a AS text[]), "
            "CAST(:s AS bigint[]), CAST(:iss AS bigint[]), CAST(:f AS bigint[]), CAST(:l AS bigint[])) "
            "AS u(id, a, s, iss, f, l) WHERE (SELECT count(*) FROM gone) = :n",
            {
                "r": list(retire),
                "n": len(retire),
                "ids": [b.block_id for b in blocks],
                "iss": [b.issuance_id for b in blocks],
                "f": [b.first for b in blocks],
                "l": [b.last for b in blocks],
                "a": [b.account_number for b in blocks],
                "p": [b.parent_block for b in blocks],
                "s": [b.scope_id for b in blocks],
                "tx": tx,
            },
        )
        # The writer serializes all changes, so a block it read as live must still be live.
        if inserted.rowcount != len(blocks):
            raise RuntimeError("a block to retire was not live; the batch is abandoned")

    async def touching_holdings(self, account: str, ranges: Sequence[tuple[Holding, int, int]]) -> list[Holding]:
        """Live blocks of `account` of the same issuance as a range and right next to it."""
        if not ranges:
            return []
        rows = await self._native_rows(
            f"SELECT DISTINCT {_HOLDING_COLUMNS} FROM unnest(CAST(:s AS bigint[]), CAST(:iss AS bigint[]), "
            "CAST(:f AS bigint[]), CAST(:l AS bigint[])) AS u(s, iss, f, l) CROSS JOIN LATERAL "
            f"(SELECT {_HOLDING_COLUMNS} FROM holdings h WHERE h.scope_id = u.s "
            "AND int8range(h.first_serial, h.last_serial, '[]') && int8range(u.f - 1, u.l + 1, '[]') "
            f"AND h.issuance_id = u.iss AND h.account_number = :account {_PER_RANGE}) h ORDER BY h.block_id",
            {
                "account": account,
                "s": [h.scope_id for h, _, _ in ranges],
                "iss": [h.issuance_id for h, _, _ in ranges],
                "f": [f for _, f, _ in ranges],
                "l": [last for _, _, last in ranges],
            },
        )
        return [_holding(r) for r in rows]

    # -- journal ------------------------------------------------------------------------------

    async def append_journal(self, entries: Sequence[JournalEntry]) -> None:
        await self._write(
            _sql(
                "INSERT INTO journal (sequence, recorded_at, kind, body, previous_hash, entry_hash) "
                "VALUES (:s, :at, :k, CAST(:b AS jsonb), :p, :h)"
            ),
            [
                {
                    "s": e.sequence,
                    "at": e.recorded_at,
                    "k": e.kind,
                    "b": json.dumps(e.body),
                    "p": e.previous_hash,
                    "h": e.entry_hash,
                }
                for e in entries
            ],
        )

    async def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        await self._write(
            _sql("INSERT INTO journal_checkpoints VALUES (:n, :root, CAST(:sig AS jsonb), :at)"),
            {
                "n": checkpoint.tree_size,
                "root": checkpoint.root_hash,
                "sig": json.dumps(checkpoint.signature.to_dict()),
                "at": checkpoint.signed_at,
            },
        )


__all__ = ["Holding", "LedgerRepository", "NewBlock"]
