"""The writer records a batch's block moves and writes them as one statement before the next
statement (LedgerRepository.move_blocks, flush_moves). Ordering and failure must be as if each had
been written at once (A6R-40, A6R-52): the next statement sees them, a block created and retired in
the same batch enters the history but not the holdings, and a move of a block that is not live
abandons the whole database transaction."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg._pipeline_base import BasePipeline
from sqlalchemy import text

from ledger.adapters.repository import LedgerRepository
from ledger.domain.live_holdings import Holding, NewBlock
from ledger.service_layer.writer import LedgerWriter, _generic_plans
from registry_platform import db

from .conftest import LedgerClient, issue, setup_registry, transfer

FIRST_SCOPE = 1  # the ledger numbers serial scopes from 1, in the order they are first issued


async def _issued_block(ledger: LedgerClient) -> tuple[dict[str, str], dict[str, Any]]:
    accounts = await setup_registry(ledger)
    issued = await issue(ledger, accounts["issuance"], 100)
    (block,) = issued["blocks"]
    return accounts, block


def _successor(block_id: int, held: Holding, account: str, first: int, last: int) -> NewBlock:
    return NewBlock(block_id, held.issuance_id, held.scope_id, first, last, account, held.block_id)


async def test_a6r52_moves_of_a_batch_are_written_before_the_next_statement(
    ledger: LedgerClient, database_url: str
) -> None:
    accounts, block = await _issued_block(ledger)
    engine = db.create_engine(database_url, "ledger")
    try:
        async with engine.connect() as conn:
            repo = LedgerRepository(conn)
            (held,) = (await repo.live_holdings()).overlapping(FIRST_SCOPE, block["first"], block["last"])
            first, last = held.first, held.last
            # Split the block, then move one of its pieces again before anything is written.
            tx1, tx2 = uuid.uuid4(), uuid.uuid4()
            kept = _successor(10_000, held, accounts["issuance"], first, first + 9)
            moved = _successor(10_001, held, accounts["gha_holding"], first + 10, last)
            await repo.move_blocks([held.block_id], [kept, moved], tx1)
            onward = NewBlock(
                10_002, held.issuance_id, held.scope_id, first + 10, last, accounts["che_holding"], 10_001
            )
            await repo.move_blocks([10_001], [onward], tx2)
            now = (await repo.live_holdings()).overlapping(held.scope_id, first, last)
            assert [(h.block_id, h.account_number) for h in now] == [
                (10_000, accounts["issuance"]),
                (10_002, accounts["che_holding"]),
            ]
            history = await conn.execute(
                text("SELECT id, created_tx, parent_block FROM unit_blocks WHERE id >= 10000 ORDER BY id")
            )
            assert [tuple(r) for r in history] == [
                (10_000, tx1, held.block_id),
                (10_001, tx1, held.block_id),
                (10_002, tx2, 10_001),
            ]
            retirements = await conn.execute(
                text("SELECT block_id, tx FROM block_retirements WHERE block_id = ANY(:ids) ORDER BY block_id"),
                {"ids": [held.block_id, 10_001]},
            )
            assert [tuple(r) for r in retirements] == [(held.block_id, tx1), (10_001, tx2)]
            await conn.rollback()
    finally:
        await engine.dispose()


@pytest.mark.parametrize("sent", ["one-by-one", "pipelined", "pipelined-with-commit"])
@pytest.mark.parametrize("not_live", ["retired", "unknown", "deleted"])
async def test_a6r40_a_move_of_a_block_that_is_not_live_fails_and_nothing_of_it_stays(
    ledger: LedgerClient, database_url: str, not_live: str, sent: str
) -> None:
    """Also when the move goes out in the writer's pipeline with the COMMIT behind it: the
    statement checks its own outcome (`moves_agree`), so it fails before the COMMIT runs, and
    nothing of the transaction is committed."""
    accounts, block = await _issued_block(ledger)
    engine = db.create_engine(database_url, "ledger")
    try:
        # The block is unknown, retired already, or its holding is gone: the statement finds no
        # holding to delete and refuses (`moves_agree`; for a deleted holding, nothing else would).
        with pytest.raises(psycopg.IntegrityError, match="a block to retire was not live"):
            async with engine.begin() as conn:
                repo = LedgerRepository(conn)
                (held,) = (await repo.live_holdings()).overlapping(FIRST_SCOPE, block["first"], block["last"])
                ghost = held.block_id + 999
                if not_live == "retired":
                    await repo.move_blocks(
                        [held.block_id],
                        [_successor(10_000, held, accounts["che_holding"], held.first, held.last)],
                        uuid.uuid4(),
                    )
                    await repo.flush_moves()
                    ghost = held.block_id
                if not_live == "deleted":
                    await conn.execute(text("DELETE FROM holdings WHERE block_id = :b"), {"b": held.block_id})
                    ghost = held.block_id
                move = repo.move_blocks(
                    [ghost], [_successor(10_001, held, accounts["gha_holding"], held.first, held.last)], uuid.uuid4()
                )
                if sent != "one-by-one":
                    async with repo.pipelined(commit=sent == "pipelined-with-commit"):
                        await move
                else:
                    await move
                    await repo.flush_moves()
        assert await ledger.balance(accounts["issuance"]) == 100
        assert await ledger.balance(accounts["gha_holding"]) == 0
        assert await ledger.balance(accounts["che_holding"]) == 0
    finally:
        await engine.dispose()


async def test_a6r40_when_the_record_disagrees_with_memory_the_batch_is_abandoned_and_memory_reloaded(
    ledger: LedgerClient, database_url: str
) -> None:
    """The writer decides from its memory of the live blocks; PostgreSQL is the record. Should they
    ever disagree (here: a live block removed behind the writer's back), the batch's move is
    refused, nothing of it is kept, and the writer reloads its memory and decides again."""
    accounts = await setup_registry(ledger)
    (gone,) = (await issue(ledger, accounts["issuance"], 100))["blocks"]
    await issue(ledger, accounts["issuance"], 50)
    engine = db.create_engine(database_url, "ledger")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM holdings WHERE block_id = :b"), {"b": gone["block_id"]})
    finally:
        await engine.dispose()
    # From memory, 150 units are there and 60 would take the 50 and 10 of the deleted block;
    # decided again from the record, only the 50 are.
    refused = await ledger.propose(transfer(accounts["issuance"], accounts["gha_holding"], 60))
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "insufficient_units"
    assert "hold 50 units" in refused.json()["error"]["message"]
    moved = await ledger.ok(transfer(accounts["issuance"], accounts["gha_holding"], 50))
    assert moved["quantity"] == 50
    assert await ledger.balance(accounts["issuance"]) == 0
    assert await ledger.balance(accounts["gha_holding"]) == 50


async def test_a6r52_a_batch_of_transfers_writes_all_its_moves_in_one_statement(
    ledger: LedgerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Concurrent transfers are decided in batches; each batch sends its moves once, at its end,
    not once per transfer (a statement per transfer cost PostgreSQL about 40% more per transfer)."""
    accounts = await setup_registry(ledger)
    for _ in range(16):
        await issue(ledger, accounts["issuance"], 10)
    statements: list[int] = []  # move statements sent per batch
    decide_all = LedgerWriter._decide_all
    write_moves = LedgerRepository._write_moves

    async def counting_decide_all(self: LedgerWriter, *args: Any, **kw: Any) -> Any:
        statements.append(0)
        return await decide_all(self, *args, **kw)

    async def counting_write_moves(self: LedgerRepository, moves: Any) -> None:
        statements[-1] += 1
        await write_moves(self, moves)

    monkeypatch.setattr(LedgerWriter, "_decide_all", counting_decide_all)
    monkeypatch.setattr(LedgerRepository, "_write_moves", counting_write_moves)
    answers = await asyncio.gather(
        *(ledger.propose(transfer(accounts["issuance"], accounts["gha_holding"], 5)) for _ in range(24))
    )
    assert [a.status_code for a in answers] == [201] * 24
    assert await ledger.balance(accounts["gha_holding"]) == 120
    # 24 transfers went through fewer batches than transfers, and no batch sent two move statements.
    assert 0 < len(statements) < 24
    assert set(statements) == {1}


async def test_a6r47_a_batch_waits_for_postgresql_twice_its_read_then_begin_writes_and_commit(
    ledger: LedgerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch waits for PostgreSQL twice: for its read (which of its transaction ids are known
    already), sent in one pipeline with the BEGIN and the batch lock that readers of an instant wait
    for (A6R-48), and for all its writes (moves, transaction records, journal entries, outbox rows)
    and the COMMIT, in a second pipeline. Statement by statement, seven round trips, it cost about a
    quarter more CPU per transfer in the ledger and in PostgreSQL, and every wait let other work
    stretch the batch; psycopg's own BEGIN was a third wait (the writer's connection is in
    autocommit mode and sends its own)."""
    accounts = await setup_registry(ledger)
    for _ in range(8):
        await issue(ledger, accounts["issuance"], 10)
    batches: list[dict[str, Any]] = []
    decide_all = LedgerWriter._decide_all
    enqueue_sync = BasePipeline._enqueue_sync
    cursor_execute = psycopg.AsyncCursor.execute

    def writers(conn: Any) -> dict[str, Any] | None:
        return batches[-1] if batches and batches[-1]["conn"] is conn and batches[-1]["open"] else None

    async def noting_decide_all(self: LedgerWriter, repo: LedgerRepository, *args: Any, **kw: Any) -> Any:
        batch = {"conn": await db.driver_of(repo.conn), "open": True, "syncs": 0, "statements": []}
        batches.append(batch)
        try:
            return await decide_all(self, repo, *args, **kw)
        finally:
            batch["open"] = False

    def counting_sync(self: Any) -> None:
        if (batch := writers(self._conn)) is not None:
            batch["syncs"] += 1
        enqueue_sync(self)

    async def noting_execute(self: Any, query: Any, *args: Any, **kw: Any) -> Any:
        if (batch := writers(self.connection)) is not None:
            batch["statements"].append((self.connection._pipeline is not None, str(query).split()[0]))
        return await cursor_execute(self, query, *args, **kw)

    monkeypatch.setattr(LedgerWriter, "_decide_all", noting_decide_all)
    monkeypatch.setattr(BasePipeline, "_enqueue_sync", counting_sync)
    monkeypatch.setattr(psycopg.AsyncCursor, "execute", noting_execute)
    answers = await asyncio.gather(
        *(ledger.propose(transfer(accounts["issuance"], accounts["gha_holding"], 7)) for _ in range(8))
    )
    assert [a.status_code for a in answers] == [201] * 8
    assert await ledger.balance(accounts["gha_holding"]) == 56
    assert batches
    for batch in batches:
        begin, lock, read, *writes = batch["statements"]
        assert [begin, lock, read] == [(True, "BEGIN"), (True, "SELECT"), (True, "SELECT")], batch
        assert writes[-1] == (True, "COMMIT"), batch
        assert all(pipelined for pipelined, _ in writes), "no write waits for its answer alone"
        assert batch["syncs"] == 2, batch


async def test_a6r47_the_batch_read_is_planned_with_its_ids_every_time(ledger: LedgerClient, database_url: str) -> None:
    """The writer's connection keeps generic plans for its statements (`_generic_plans`); a generic
    plan of the idempotency read made while `transactions` was nearly empty read the whole table
    in every batch until autovacuum analyzed it (a sequential scan per batch: at 16 clients it cost
    PostgreSQL more than the rest of the batch). The read is never prepared, so PostgreSQL plans it
    with the batch's ids each time; what else runs often on the connection is prepared."""
    await setup_registry(ledger)
    engine = db.create_engine(database_url, "ledger")
    kept = db.KeptConnection(engine, setup=_generic_plans)
    try:
        repo = LedgerRepository(await kept.get())
        driver = await db.driver_of(repo.conn)
        for _ in range(12):
            # Each read opens its batch's transaction: ended here, as a batch's commit would.
            await repo.known_transactions([uuid.uuid4(), uuid.uuid4()], awaiting=False)
            await driver.execute("COMMIT")
            await repo.known_transactions([uuid.uuid4()], awaiting=True)
            await driver.execute("COMMIT")
            # A statement the writer lets psycopg prepare, for contrast.
            await driver.execute("SELECT count(*) FROM transactions WHERE id = ANY(%(ids)s)", {"ids": [uuid.uuid4()]})
        listed = await driver.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in await listed.fetchall()]
    finally:
        await kept.discard()
        await engine.dispose()
    assert [s for s in prepared if "count(*) FROM transactions" in s], "psycopg prepares what runs often"
    assert not [s for s in prepared if "request_hash" in s], "the batch's read was prepared"


async def test_a6r48_a_savepoint_rolled_back_keeps_the_transaction_records_queued_before_it(
    ledger: LedgerClient, database_url: str
) -> None:
    """A batch run with savepoints: a transaction recorded earlier in the batch has its record
    queued; a later proposal's handler reads (`application`), which flushes the queue, and is
    refused, so its savepoint is rolled back. The earlier record must survive: before, it was
    written inside the savepoint and went with it, while its journal entry and moves were committed."""
    await setup_registry(ledger)
    engine = db.create_engine(database_url, "ledger")
    recorded = uuid.uuid4()
    try:
        async with engine.begin() as conn:
            repo = LedgerRepository(conn)
            repo.add_transaction(
                tx=recorded,
                kind="open_account",
                request_hash=b"\x01" * 32,
                outcome="recorded",
                initiator="admin",
                on_behalf_of=None,
                input={},
                result={},
                journal_sequence=10**9,
                recorded_at=datetime.now(UTC),
            )
            savepoint = await repo.savepoint()
            assert await repo.application(uuid.uuid4()) is None
            await savepoint.rollback()
            await repo.flush_transactions()
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM transactions WHERE id = :id"), {"id": recorded}) == 1
    finally:
        await engine.dispose()
