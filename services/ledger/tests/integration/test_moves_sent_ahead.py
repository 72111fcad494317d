"""The writer sends each block move ahead and records the transaction while PostgreSQL runs it
(LedgerRepository.move_blocks). Ordering and failure must be as if it had waited (A6R-40, A6R-52):
the next statement sees the move, and a move that fails abandons the whole database transaction."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from ledger.adapters.repository import LedgerRepository
from ledger.domain.live_holdings import NewBlock
from registry_platform import db

from .conftest import LedgerClient, issue, setup_registry

FIRST_SCOPE = 1  # the ledger numbers serial scopes from 1, in the order they are first issued


async def _issued_block(ledger: LedgerClient) -> tuple[dict[str, str], dict[str, Any]]:
    accounts = await setup_registry(ledger)
    issued = await issue(ledger, accounts["issuance"], 100)
    (block,) = issued["blocks"]
    return accounts, block


async def test_a6r52_the_statement_after_a_move_sent_ahead_sees_it(ledger: LedgerClient, database_url: str) -> None:
    accounts, block = await _issued_block(ledger)
    engine = db.create_engine(database_url, "ledger")
    try:
        async with engine.connect() as conn:
            repo = LedgerRepository(conn)
            (held,) = (await repo.live_holdings()).overlapping(FIRST_SCOPE, block["first"], block["last"])
            moved = NewBlock(
                10_000, held.issuance_id, held.scope_id, held.first, held.last, accounts["gha_holding"], held.block_id
            )
            await repo.move_blocks([held.block_id], [moved], uuid.uuid4())
            (now_held,) = (await repo.live_holdings()).overlapping(held.scope_id, held.first, held.last)
            assert (now_held.block_id, now_held.account_number) == (10_000, accounts["gha_holding"])
            await conn.rollback()
    finally:
        await engine.dispose()


async def test_a6r40_a_failed_move_sent_ahead_surfaces_and_nothing_of_it_stays(
    ledger: LedgerClient, database_url: str
) -> None:
    accounts, block = await _issued_block(ledger)
    engine = db.create_engine(database_url, "ledger")
    try:
        with pytest.raises(RuntimeError, match="not live"):
            async with engine.begin() as conn:
                repo = LedgerRepository(conn)
                (held,) = (await repo.live_holdings()).overlapping(FIRST_SCOPE, block["first"], block["last"])
                # Retire a block that is not live: the statement inserts nothing and the move fails.
                ghost = NewBlock(
                    10_001,
                    held.issuance_id,
                    held.scope_id,
                    held.first,
                    held.last,
                    accounts["gha_holding"],
                    held.block_id,
                )
                await repo.move_blocks([held.block_id + 999], [ghost], uuid.uuid4())
                await repo.settle()
        assert await ledger.balance(accounts["issuance"]) == 100
        assert await ledger.balance(accounts["gha_holding"]) == 0
    finally:
        await engine.dispose()
