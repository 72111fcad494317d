"""SQL for the ledger's tables. Every method runs inside the writer's (or a reader's) transaction."""

from __future__ import annotations

import contextlib
import functools
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import orjson
from psycopg.rows import namedtuple_row
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import TextClause

from ledger.domain.journal import Checkpoint, JournalEntry
from ledger.domain.live_holdings import Holding, LiveHoldings, NewBlock
from ledger.domain.model import Account, AccountStatus, AccountType, SectionStatus
from ledger.service_layer.commands import SerialScope
from registry_contracts.signing import Signature
from registry_platform import db


@functools.lru_cache(maxsize=512)
def _sql(statement: str) -> TextClause:
    """Parsed once per distinct statement: the writer runs the same few statements all day."""
    return text(statement)


@functools.lru_cache(maxsize=64)
def _native(statement: str) -> str:
    """`statement` with psycopg's own placeholders (%(name)s for :name)."""
    return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", statement.replace("%", "%%"))


def _json(value: Any) -> str:
    """A document for a jsonb parameter (orjson: the writer encodes several per transfer)."""
    return orjson.dumps(value).decode()


def _account(row: Any) -> Account:
    return Account(
        number=row.number,
        holder=row.holder,
        party=row.section,
        cooperative_approach=row.cooperative_approach,
        type=AccountType(row.type),
        status=AccountStatus(row.status),
    )


_METADATA = "i.cooperative_approach, i.first_transferring_party, i.sectors, i.activity_types"
# A proposal awaiting its verdict: the fields of a `saga.ProposalRow`, and the writer's seal over them.
_PROPOSAL = "id, request_hash, command, requested, identity, proposed_at, deadline, reserved, proposal_digest, seal"


def _metadata(row: Any) -> dict[str, Any]:
    return {
        "cooperative_approach": row.cooperative_approach,
        "first_transferring_party": row.first_transferring_party.strip() if row.first_transferring_party else None,
        "sectors": list(row.sectors),
        "activity_types": list(row.activity_types),
    }


# Held by each batch of the writer from before it takes its instant until it commits: a reader that
# takes it (shared) knows no entry is on its way with an instant earlier than the reader's clock.
BATCH_LOCK = "hashtextextended('ledger-batch', 0)"

# Held by the one writer for as long as it leads (one writer per database, so one hash chain, A6R-48).
LEADER_LOCK = "hashtextextended('ledger-writer', 0)"


class LeadershipLost(Exception):
    """The writer's session no longer holds LEADER_LOCK (its connection was dropped): another
    instance may lead, so this one must not decide anything on its in-memory state."""


def leading_sql(pid: int) -> str:
    """Whether the backend `pid` holds LEADER_LOCK (a bigint advisory key is stored as two halves)."""
    return (
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
        f"AND pid = {int(pid)} AND ((classid::int8 << 32) | objid::int8) = {LEADER_LOCK})"
    )


_KNOWN_SQL = (
    "SELECT id, request_hash, outcome, result, journal_sequence, recorded_at FROM transactions WHERE id = ANY(:ids)"
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
        self._new_proposals: list[dict[str, Any]] = []
        self._closed_proposals: list[dict[str, Any]] = []
        # Block moves not yet sent: a batch's moves go to PostgreSQL as one statement.
        self._moves: list[tuple[Sequence[int], Sequence[NewBlock], uuid.UUID]] = []
        self._driver: Any = None
        # In `pipelined()`: statements go out without waiting for their results.
        self._pipelined = False

    async def _write(self, statement: Any, params: Any = None) -> Any:
        self.writes += 1
        return await self._execute(statement, params)

    async def _one(self, sql: str, **params: Any) -> Any:
        return (await self._execute(_sql(sql), params)).first()

    async def _execute(self, statement: Any, params: Any = None) -> Any:
        await self.flush_moves()
        if self._pipelined:
            return await self._native_execute(statement.text, params or {})
        await self._begin()
        return await self.conn.execute(statement, params)

    async def _native_execute(self, statement: str, params: dict[str, Any]) -> Any:
        await self._begin()
        return await (await self._driver_connection()).execute(_native(statement), params)

    async def _begin(self) -> None:
        # The writer's connection commits each statement on its own (see db.KeptConnection): the
        # batch's transaction opens before its first statement, in the same pipeline if there is one.
        driver = await self._driver_connection()
        if not db.in_transaction(driver):
            await db.queue_begin(driver)

    async def _driver_connection(self) -> Any:
        if self._driver is None:
            self._driver = await db.driver_of(self.conn)
        return self._driver

    @contextlib.asynccontextmanager
    async def pipelined(self, *, commit: bool = False) -> AsyncIterator[None]:
        """Writes whose results nobody waits for, sent together in one round trip (psycopg's
        pipeline mode) when the block ends; an error in any of them is raised there, and the
        transaction is then aborted as it would be without the pipeline. Only writes belong here
        (a read inside would wait for every statement before it), and each checks its own outcome
        in the database. The transaction's BEGIN, if no statement opened it before, and with
        `commit` its COMMIT go in the same round trip; the caller's SQLAlchemy transaction then
        finds nothing left to commit."""
        driver = await self._driver_connection()
        self._pipelined = True
        try:
            async with driver.pipeline():
                yield
                await self.flush_moves()
                if commit and db.in_transaction(driver):
                    await db.queue_commit(driver)
        finally:
            self._pipelined = False

    async def savepoint(self) -> Any:
        """A savepoint in the batch's transaction (opened now if no statement did), after the moves
        and transaction records so far: they belong before it. A record still queued would otherwise
        be written inside it by the next read that flushes (`transaction`, `application`), and a
        rollback of the savepoint would take an earlier, recorded transaction's row with it."""
        await self.flush_moves()
        await self.flush_transactions()
        await self._begin()
        return await self.conn.begin_nested()

    async def execute_write(self, statement: str, params: dict[str, Any]) -> None:
        """A write given as SQL text with :name parameters (e.g. the platform's outbox insert)."""
        self.writes += 1
        await self._execute(_sql(statement), params)

    async def flush_moves(self) -> None:
        """Send the block moves recorded since the last statement, as one statement. Every other
        statement on this connection sends them first, so statements still run in the order the
        writer issued them; the writer also flushes before savepoints and the commit."""
        if self._moves:
            moves, self._moves = self._moves, []
            await self._write_moves(moves)

    # -- transactions and idempotency ---------------------------------------------------------

    async def known_transactions(
        self, ids: Sequence[uuid.UUID], *, awaiting: bool, leader: int | None = None
    ) -> tuple[dict[uuid.UUID, Any], dict[uuid.UUID, Any]]:
        """A batch's one read, before it decides: which of its transaction ids name a recorded
        transaction, and (with `awaiting`) a proposal awaiting its verdict. One round trip, which
        also opens the batch's transaction, takes BATCH_LOCK in it and, given the backend `leader`
        of the writer's lock, checks that it still holds LEADER_LOCK (else LeadershipLost)."""
        driver = await self._driver_connection()
        if db.in_transaction(driver):
            raise RuntimeError("a batch's read comes before its transaction; the last batch did not end")
        params = {"ids": list(ids)}
        # Never prepared, so planned with these ids every time. The writer's connection keeps generic
        # plans (`_generic_plans`), and one made while `transactions` was nearly empty reads the
        # whole table (a sequential scan per batch, until autovacuum analyzes the table).
        known = driver.cursor(row_factory=namedtuple_row)
        pending = driver.cursor(row_factory=namedtuple_row)
        leading = driver.cursor()
        async with driver.pipeline():
            # The batch's transaction opens here, holding BATCH_LOCK before the batch takes its
            # instant: readers asking about an instant wait for it (`queries.is_final`).
            await db.queue_begin(driver)
            await driver.execute(f"SELECT pg_advisory_xact_lock({BATCH_LOCK})")
            if leader is not None:
                await leading.execute(leading_sql(leader))
            await known.execute(_native(_KNOWN_SQL), params, prepare=False)
            if awaiting:
                await pending.execute(_native(_PENDING_SQL), params, prepare=False)
        if leader is not None and not (await leading.fetchone() or (False,))[0]:
            raise LeadershipLost(f"the writer's lock session (backend {leader}) no longer holds the leader lock")
        found = {row.id: row for row in await known.fetchall()}
        return found, ({row.id: row for row in await pending.fetchall()} if awaiting else {})

    # -- proposals awaiting the rules service's verdict (issue 5 saga) -----------------------

    def add_proposal(self, row: Any, seal: Signature) -> None:
        """Queue a proposal awaiting its verdict (a `saga.ProposalRow`) with the writer's seal over it;
        written by `flush_proposals`, one statement per batch."""
        self._new_proposals.append(
            {
                "id": row.id,
                "h": row.request_hash.hex(),
                "c": row.command,
                "q": row.requested,
                "i": row.identity,
                "p": row.proposed_at,
                "d": row.deadline,
                "r": row.reserved,
                "g": row.proposal_digest,
                "s": seal.to_dict(),
            }
        )

    def close_proposal(self, tx: uuid.UUID, at: datetime) -> None:
        """Queue the end of a proposal's wait (its decision is in this batch); see `flush_proposals`."""
        self._closed_proposals.append({"id": tx, "at": at})

    async def flush_proposals(self) -> None:
        """The batch's new and decided proposals, one statement each over one JSON document. Nothing
        in a batch reads proposals back (its one read, `known_transactions`, comes before), so they can
        wait for the batch's end like its transaction records."""
        if self._new_proposals:
            rows, self._new_proposals = self._new_proposals, []
            await self._write(
                _sql(
                    "INSERT INTO proposals (id, request_hash, command, requested, identity, proposed_at, deadline, "
                    "reserved, proposal_digest, seal) SELECT id, decode(h, 'hex'), c, q, i, p, d, r, g, s "
                    "FROM json_to_recordset(CAST(:rows AS json)) AS t(id uuid, h text, c jsonb, q jsonb, i jsonb, "
                    "p timestamptz, d timestamptz, r jsonb, g text, s jsonb)"
                ),
                {"rows": _json(rows)},
            )
        if self._closed_proposals:
            rows, self._closed_proposals = self._closed_proposals, []
            await self._write(
                _sql(
                    "UPDATE proposals SET decided_at = t.at FROM json_to_recordset(CAST(:rows AS json)) "
                    "AS t(id uuid, at timestamptz) WHERE proposals.id = t.id AND proposals.decided_at IS NULL"
                ),
                {"rows": _json(rows)},
            )

    async def pending_proposals(self) -> list[Any]:
        """Every proposal awaiting its verdict, with its seal."""
        return list(await self._execute(_sql(f"SELECT {_PROPOSAL} FROM proposals WHERE decided_at IS NULL")))

    async def proposal(self, tx: uuid.UUID) -> Any:
        return await self._one(f"SELECT {_PROPOSAL} FROM proposals WHERE id = :id AND decided_at IS NULL", id=tx)

    async def overdue_proposals(self, now: datetime, skip: Sequence[uuid.UUID] = ()) -> list[uuid.UUID]:
        """Up to 100 proposals whose deadline passed, but those in `skip` (found not the writer's)."""
        rows = await self._execute(
            _sql(
                "SELECT id FROM proposals WHERE decided_at IS NULL AND deadline < :now "
                "AND NOT (id = ANY(CAST(:skip AS uuid[]))) ORDER BY deadline LIMIT 100"
            ),
            {"now": now, "skip": list(skip)},
        )
        return [row.id for row in rows]

    async def block_metadata(self, block_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """The issuance metadata of blocks (what rules look at besides the serial scope)."""
        rows = await self._execute(
            _sql(
                f"SELECT b.id, {_METADATA} FROM unit_blocks b JOIN issuances i ON i.id = b.issuance_id "
                "WHERE b.id = ANY(:ids)"
            ),
            {"ids": list(block_ids)},
        )
        return {row.id: _metadata(row) for row in rows}

    async def issuance_metadata(self, issuance_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """The same metadata, by issuance."""
        rows = await self._execute(
            _sql(f"SELECT i.id, {_METADATA} FROM issuances i WHERE i.id = ANY(:ids)"), {"ids": list(issuance_ids)}
        )
        return {row.id: _metadata(row) for row in rows}

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
                "h": request_hash.hex(),
                "outcome": outcome,
                "initiator": initiator,
                "obo": on_behalf_of,
                "input": input,
                "result": result,
                "seq": journal_sequence,
                "at": recorded_at,
            }
        )

    async def flush_transactions(self) -> None:
        """The batch's transaction records, as one statement over one JSON document."""
        if not self._pending_transactions:
            return
        rows, self._pending_transactions = self._pending_transactions, []
        await self._execute(
            _sql(
                "INSERT INTO transactions (id, kind, request_hash, outcome, initiator, on_behalf_of, input, result, "
                "journal_sequence, recorded_at) SELECT id, kind, decode(h, 'hex'), outcome, initiator, obo, input, "
                "result, seq, at FROM json_to_recordset(CAST(:rows AS json)) AS t(id uuid, kind text, h text, "
                "outcome text, initiator text, obo text, input jsonb, result jsonb, seq bigint, at timestamptz)"
            ),
            {"rows": _json(rows)},
        )

    async def transaction(self, tx: uuid.UUID) -> Any:
        await self.flush_transactions()
        return await self._one("SELECT * FROM transactions WHERE id = :id", id=tx)

    async def reversal_of(self, tx: uuid.UUID) -> uuid.UUID | None:
        """The recorded reversal of transfer `tx`, if any (migration 0007 allows one)."""
        await self.flush_transactions()
        row = await self._one(
            "SELECT id FROM transactions WHERE kind = 'corrective_transfer' AND outcome = 'recorded' "
            "AND result->>'correction' = 'reversal' AND result->>'corrects' = :tx",
            tx=str(tx),
        )
        return None if row is None else row.id

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

    async def add_approach(self, approach: str, name: str, parties: list[str], tx: uuid.UUID, at: datetime) -> None:
        await self._write(
            _sql("INSERT INTO cooperative_approaches VALUES (:id, :n, :p, :tx, :at)"),
            {"id": approach, "n": name, "p": parties, "tx": tx, "at": at},
        )

    # -- accounts -----------------------------------------------------------------------------

    async def load_catalogue(
        self,
    ) -> tuple[dict[str, Account], dict[tuple[str, str, str, int, str], int], set[str], dict[str, tuple[str, ...]]]:
        accounts = {r.number: _account(r) for r in await self._execute(_sql("SELECT * FROM accounts"))}
        scopes = {
            (r.originating_registry, r.issuing_party, r.activity_id, r.vintage, r.metric): r.id
            for r in await self._execute(_sql("SELECT * FROM serial_scopes"))
        }
        suspended = await self._execute(
            _sql("SELECT party FROM sections WHERE status = :s"), {"s": SectionStatus.SUSPENDED.value}
        )
        approaches = await self._execute(_sql("SELECT id, parties FROM cooperative_approaches"))
        return accounts, scopes, {r.party for r in suspended}, {r.id: tuple(r.parties) for r in approaches}

    async def issuance_approaches(self) -> dict[int, str]:
        """The cooperative approach of every issuance that has one."""
        rows = await self._execute(
            _sql("SELECT id, cooperative_approach FROM issuances WHERE cooperative_approach IS NOT NULL")
        )
        return {row.id: row.cooperative_approach for row in rows}

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

    async def live_holdings(self) -> LiveHoldings:
        """Every live block, for the writer's memory (read through the driver: 10^6 rows in seconds)."""
        await self.flush_moves()
        cursor = await self._native_execute(
            "SELECT block_id, account_number, scope_id, issuance_id, first_serial, last_serial FROM holdings", {}
        )
        return LiveHoldings(Holding(*row) for row in await cursor.fetchall())

    async def latest_nomenclature_version(self) -> tuple[int, int] | None:
        """The journal sequence of the latest issuance (units generated, A6R-57) and the
        nomenclature version it names, if it names one (rule set 4)."""
        row = await self._one(
            "SELECT j.sequence, (j.body->>'nomenclature_version')::int AS version FROM issuances i "
            "JOIN transactions t ON t.id = i.tx JOIN journal j ON j.sequence = t.journal_sequence "
            "ORDER BY i.id DESC LIMIT 1"
        )
        return None if row is None or row.version is None else (row.sequence, row.version)

    async def issuances_of_approach(self, approach: str) -> frozenset[int]:
        """The issuances whose units belong to a cooperative approach (an implicit selection's filter)."""
        rows = await self._execute(_sql("SELECT id FROM issuances WHERE cooperative_approach = :ca"), {"ca": approach})
        return frozenset(row.id for row in rows)

    async def move_blocks(self, retire: Sequence[int], blocks: Sequence[NewBlock], tx: uuid.UUID) -> None:
        """Retire live blocks and create their successors (transaction `tx`). Deferred to the next
        statement (`flush_moves`): the writer decides a whole batch from its memory of the live
        blocks, and one statement then writes every move of the batch."""
        self.writes += 1
        self._moves.append((retire, blocks, tx))

    async def _write_moves(self, moves: Sequence[tuple[Sequence[int], Sequence[NewBlock], uuid.UUID]]) -> None:
        created = [(b, tx) for _, blocks, tx in moves for b in blocks]
        retired = [(block_id, tx) for retire, _, tx in moves for block_id in retire]
        born = {b.block_id for b, _ in created}
        died = {block_id for block_id, _ in retired}
        # A block created and retired within the batch enters the history, never the holdings.
        was_live = [block_id for block_id, _ in retired if block_id not in born]
        stays = sum(b.block_id not in died for b, _ in created)
        # The new holdings may cover the serials of the ones deleted in the same statement: the
        # exclusion constraint does not see rows this transaction deleted. The insert waits for
        # the delete (it reads its count) and inserts nothing unless every block to retire was live.
        # One JSON document per column set: psycopg adapts a JSON string far faster than many arrays.
        await self._native_execute(
            "WITH gone AS (DELETE FROM holdings WHERE block_id = ANY(CAST(:r AS bigint[])) RETURNING block_id), "
            "new AS (SELECT * FROM json_to_recordset(CAST(:created AS json)) AS u(id bigint, iss bigint, "
            "s bigint, f bigint, l bigint, a text, tx uuid, p bigint, stays boolean)), "
            "history AS (INSERT INTO unit_blocks (id, issuance_id, first_serial, last_serial, account_number, "
            "created_tx, parent_block) SELECT id, iss, f, l, a, tx, p FROM new), "
            "retired AS (INSERT INTO block_retirements (block_id, tx) SELECT * FROM json_to_recordset("
            "CAST(:retired AS json)) AS r(id bigint, tx uuid)), "
            "live AS (INSERT INTO holdings (block_id, account_number, scope_id, issuance_id, first_serial, "
            "last_serial) SELECT id, a, s, iss, f, l FROM new WHERE stays AND (SELECT count(*) FROM gone) = :n "
            "RETURNING 1) "
            # Checked in the statement, not in its answer: the COMMIT may be on its way already.
            # The writer serializes all changes, so a block it holds as live must be live here too.
            "SELECT moves_agree((SELECT count(*) FROM gone) = :n AND (SELECT count(*) FROM live) = :stays, "
            "'a block to retire was not live; the batch is abandoned')",
            {
                "r": was_live,
                "n": len(was_live),
                "stays": stays,
                "created": _json(
                    [
                        {
                            "id": b.block_id,
                            "iss": b.issuance_id,
                            "s": b.scope_id,
                            "f": b.first,
                            "l": b.last,
                            "a": b.account_number,
                            "tx": str(tx),
                            "p": b.parent_block,
                            "stays": b.block_id not in died,
                        }
                        for b, tx in created
                    ]
                ),
                "retired": _json([{"id": block_id, "tx": str(tx)} for block_id, tx in retired]),
            },
        )

    # -- journal ------------------------------------------------------------------------------

    async def append_journal(self, entries: Sequence[JournalEntry], seal: Signature) -> None:
        """The batch's journal entries, the last one with the writer's seal (ledger.domain.journal),
        as one statement over one JSON document."""
        await self._write(
            _sql(
                "INSERT INTO journal (sequence, recorded_at, kind, body, previous_hash, entry_hash, seal) "
                "SELECT s, at, k, b, decode(p, 'hex'), decode(h, 'hex'), "
                "CASE WHEN s = :last THEN CAST(:seal AS jsonb) END FROM json_to_recordset(CAST(:rows AS json)) "
                "AS j(s bigint, at timestamptz, k text, b jsonb, p text, h text)"
            ),
            {
                "rows": _json(
                    [
                        {
                            "s": e.sequence,
                            "at": e.recorded_at,
                            "k": e.kind,
                            "b": e.body,
                            "p": e.previous_hash.hex(),
                            "h": e.entry_hash.hex(),
                        }
                        for e in entries
                    ]
                ),
                "last": entries[-1].sequence,
                "seal": _json(seal.to_dict()),
            },
        )

    async def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        await self._write(
            _sql("INSERT INTO journal_checkpoints VALUES (:n, :root, CAST(:sig AS jsonb), :at)"),
            {
                "n": checkpoint.tree_size,
                "root": checkpoint.root_hash,
                "sig": _json(checkpoint.signature.to_dict()),
                "at": checkpoint.signed_at,
            },
        )


__all__ = ["Holding", "LedgerRepository", "NewBlock"]
