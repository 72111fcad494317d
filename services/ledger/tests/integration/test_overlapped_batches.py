"""The writer decides a batch while the one before it commits (LedgerWriter.run; A6R-47, A6R-48):
the second batch is decided on the state the first leaves, commits after it, and if the first's
commit fails, both are undone and recorded again one by one, in order, with nothing lost or doubled.

A lock on the journal, held by the test, keeps the first batch's commit waiting while the second
arrives; killing the waiting backend makes that commit fail."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from ledger.service_layer.writer import LedgerWriter
from registry_platform import db

from .conftest import LedgerClient, issue, setup_registry, transfer
from .test_concurrency import assert_units_conserved
from .test_journal_tools import run_cli

pytestmark = pytest.mark.integration

_WAITING_ON_JOURNAL = (
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
    "AND query ILIKE '%journal%'"
)


async def _until(condition: Any, what: str) -> Any:
    for _ in range(400):
        if found := await condition():
            return found
        await asyncio.sleep(0.025)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("first_commit", ["succeeds", "fails"])
async def test_a6r47_the_next_batch_is_decided_while_one_commits_and_undone_with_it_if_that_commit_fails(
    ledger: LedgerClient, database_url: str, service_settings: Any, monkeypatch: pytest.MonkeyPatch, first_commit: str
) -> None:
    accounts = await setup_registry(ledger)
    await issue(ledger, accounts["issuance"], 100)
    steps: list[tuple[str, list[uuid.UUID]]] = []
    decide_all, commit = LedgerWriter._decide_all, LedgerWriter._commit

    async def noting_decide_all(self: LedgerWriter, conn: Any, repo: Any, proposals: Any, **kw: Any) -> Any:
        steps.append(("decided", [p.transaction_id for p in proposals]))
        return await decide_all(self, conn, repo, proposals, **kw)

    async def noting_commit(self: LedgerWriter, decided: Any) -> None:
        ids = [outcome.transaction_id for outcome in decided.results]
        steps.append(("commit starts", ids))
        try:
            await commit(self, decided)
        finally:
            steps.append(("commit ends", ids))

    monkeypatch.setattr(LedgerWriter, "_decide_all", noting_decide_all)
    monkeypatch.setattr(LedgerWriter, "_commit", noting_commit)
    engine = db.create_engine(database_url, "ledger")
    lock = await engine.connect()
    try:
        await lock.execute(text("LOCK TABLE journal IN EXCLUSIVE MODE"))
        first_id, second_id = uuid.uuid4(), uuid.uuid4()
        first = asyncio.create_task(
            ledger.propose(transfer(accounts["issuance"], accounts["gha_holding"], 30), tx=first_id)
        )

        async def waiting() -> Any:
            async with engine.connect() as conn:
                return (await conn.execute(text(_WAITING_ON_JOURNAL))).scalars().all()

        (blocked,) = await _until(waiting, "the first batch's commit to wait for the journal")
        second = asyncio.create_task(
            ledger.propose(transfer(accounts["issuance"], accounts["che_holding"], 50), tx=second_id)
        )

        async def second_decided() -> bool:
            return ("decided", [second_id]) in steps

        await _until(second_decided, "the second batch to be decided")
        assert ("commit ends", [first_id]) not in steps, "decided while the first batch was still committing"
        assert not first.done() and not second.done(), "nothing is answered before its commit"
        if first_commit == "fails":
            async with engine.connect() as conn:
                assert await conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": blocked})
        await lock.rollback()
        answers = await asyncio.gather(first, second)
        assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
        sequences = [a.json()["journal_sequence"] for a in answers]
        assert sequences[1] == sequences[0] + 1
        one, two = [first_id], [second_id]
        overlapped = [("decided", one), ("commit starts", one), ("decided", two), ("commit ends", one)]
        if first_commit == "succeeds":
            expected = [*overlapped, ("commit starts", two), ("commit ends", two)]
        else:
            # Both undone, then decided again from the record, alone and in their order.
            again = [("decided", one), ("commit starts", one), ("commit ends", one)]
            expected = [*overlapped, *again, ("decided", two), ("commit starts", two), ("commit ends", two)]
        start = steps.index(("decided", one))
        assert steps[start : start + len(expected)] == expected
        assert await ledger.balance(accounts["issuance"]) == 20
        assert await ledger.balance(accounts["gha_holding"]) == 30
        assert await ledger.balance(accounts["che_holding"]) == 50
        async with engine.connect() as conn:
            recorded = await conn.scalar(
                text("SELECT count(*) FROM transactions WHERE id IN (:a, :b)"), {"a": first_id, "b": second_id}
            )
        assert recorded == 2
        # The writer's memory agrees with the record: the rest moves, and no more.
        rest = await ledger.ok(transfer(accounts["issuance"], accounts["gha_holding"], 20))
        assert rest["quantity"] == 20
        refused = await ledger.propose(transfer(accounts["issuance"], accounts["gha_holding"], 1))
        assert refused.json()["error"]["code"] == "insufficient_units"
    finally:
        await lock.close()
        await engine.dispose()
    await assert_units_conserved(database_url)
    verify = await asyncio.to_thread(run_cli, service_settings("ledger"), "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
