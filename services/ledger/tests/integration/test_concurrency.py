"""Concurrency and crashes (A6R-40, A6R-44, A6R-22): racing clients never double-spend, and a
SIGKILL of the ledger under load loses no acknowledged transaction and leaves no partial one."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from registry_platform import db
from registry_platform.testing.infra import free_port, spawn_service, wait_ready
from registry_platform.testing.soak import soak_size

from .conftest import SCOPE, LedgerClient, issue, ledger_process_env, setup_registry
from .test_journal_tools import run_cli

pytestmark = pytest.mark.integration


async def assert_units_conserved(database_url: str) -> None:
    """Issued units equal live units per scope, and no transaction is half there."""
    engine = db.create_engine(database_url, "ledger")
    try:
        async with engine.connect() as conn:
            mismatched = (
                await conn.execute(
                    text(
                        "SELECT i.scope_id FROM (SELECT scope_id, sum(last_serial - first_serial + 1) AS q "
                        "FROM issuances GROUP BY scope_id) i LEFT JOIN (SELECT scope_id, sum(quantity) AS q "
                        "FROM holdings GROUP BY scope_id) h ON h.scope_id = i.scope_id WHERE h.q IS DISTINCT FROM i.q"
                    )
                )
            ).all()
            orphans = await conn.scalar(
                text(
                    "SELECT count(*) FROM unit_blocks b "
                    "WHERE NOT EXISTS (SELECT 1 FROM transactions t WHERE t.id = b.created_tx)"
                )
            )
            retired_live = await conn.scalar(
                text("SELECT count(*) FROM holdings h JOIN block_retirements r ON r.block_id = h.block_id")
            )
    finally:
        await engine.dispose()
    assert mismatched == [], "issued units must equal live units in every scope"
    assert orphans == 0, "every block belongs to a recorded transaction"
    assert retired_live == 0, "a retired block is never live"


async def test_a6r52_32_clients_racing_for_the_same_units_never_double_spend(
    ledger: LedgerClient, database_url: str
) -> None:
    acc = await setup_registry(ledger)
    await issue(ledger, acc["issuance"], 1000)

    async def race_implicit(i: int) -> int:
        r = await ledger.propose(
            {
                "kind": "transfer_units",
                "source": acc["issuance"],
                "destination": acc["gha_holding"],
                "units": {"selection": {"quantity": 50}},
            }
        )
        return r.status_code

    implicit = await asyncio.gather(*(race_implicit(i) for i in range(32)))
    assert sorted(implicit) == [201] * 20 + [409] * 12

    async def race_explicit(i: int) -> httpx.Response:
        return await ledger.propose(
            {
                "kind": "transfer_units",
                "source": acc["gha_holding"],
                "destination": acc["che_holding"],
                "units": {"ranges": [{"scope": SCOPE, "first": 101, "last": 150}]},
            }
        )

    explicit = await asyncio.gather(*(race_explicit(i) for i in range(32)))
    assert sorted(r.status_code for r in explicit) == [201] + [409] * 31
    assert {r.json()["error"]["code"] for r in explicit if r.status_code == 409} == {"range_not_held"}
    assert await ledger.balance(acc["issuance"]) == 0
    assert await ledger.balance(acc["gha_holding"]) == 950
    assert await ledger.balance(acc["che_holding"]) == 50
    await assert_units_conserved(database_url)
    # Every acknowledged transaction is in the journal.
    for r in explicit:
        if r.status_code == 201:
            entry = await ledger.get("/journal", after=r.json()["journal_sequence"] - 1, limit=1)
            assert entry["items"][0]["body"]["transaction_id"] == r.json()["transaction_id"]


async def test_a6r22_sigkill_under_load_loses_no_acknowledged_transaction(
    service_settings, database_url: str, tmp_path: Path
) -> None:
    settings = service_settings("ledger")
    env = ledger_process_env(settings, database_url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    kills = soak_size("kills", 2)
    acknowledged: list[str] = []
    interrupted = 0

    async def load(ledger: LedgerClient, source: str, destination: str, stop: asyncio.Event) -> None:
        nonlocal interrupted
        while not stop.is_set():
            tx = uuid.uuid4()
            try:
                r = await ledger.propose(
                    {
                        "kind": "transfer_units",
                        "source": source,
                        "destination": destination,
                        "units": {"selection": {"quantity": 7}},
                    },
                    tx=tx,
                )
            except httpx.HTTPError:
                interrupted += 1
                await asyncio.sleep(0.05)
                continue
            if r.status_code == 201:
                acknowledged.append(str(tx))

    async with httpx.AsyncClient(timeout=10) as http:
        ledger = LedgerClient(http, base)
        for round_ in range(kills):
            proc = spawn_service("ledger", port, env, tmp_path, name=f"ledger-{round_}")
            await wait_ready(base, timeout=60)
            if round_ == 0:
                acc = await setup_registry(ledger)
                await issue(ledger, acc["issuance"], 10**6)
            stop = asyncio.Event()
            workers = [asyncio.create_task(load(ledger, acc["issuance"], acc["gha_holding"], stop)) for _ in range(16)]
            # Each kill lands at another point of the writer's batches: 1.0 to 3.0 s into the load.
            await asyncio.sleep(1.0 + (round_ * 0.37) % 2.0)
            os.kill(proc.pid() or 0, signal.SIGKILL)
            await asyncio.sleep(0.5)
            stop.set()
            await asyncio.gather(*workers)
            proc.stop()
    print(f"acknowledged {len(acknowledged)} in {kills} rounds, each ended by SIGKILL; interrupted {interrupted}")
    assert len(acknowledged) > 50, "the load ran"
    assert interrupted > 0, "the kill interrupted requests in flight"
    engine = db.create_engine(database_url, "ledger")
    try:
        async with engine.connect() as conn:
            recorded = set(
                (await conn.execute(text("SELECT id::text FROM transactions WHERE outcome = 'recorded'"))).scalars()
            )
    finally:
        await engine.dispose()
    missing = set(acknowledged) - recorded
    assert not missing, f"{len(missing)} acknowledged transactions lost"
    assert run_cli(settings, "verify").returncode == 0, "the journal verifies after the crashes"
    await assert_units_conserved(database_url)


async def test_a6r22_the_writer_carries_on_when_the_database_drops_its_connections(
    ledger: LedgerClient, database_url: str, service_settings
) -> None:
    """The writer keeps one connection from batch to batch. When PostgreSQL drops every connection
    (a restart, an administrator), the next batch fails on it, is decided again over a new one, and
    the client still gets its answer; nothing is lost or applied twice."""
    accounts = await setup_registry(ledger)
    await issue(ledger, accounts["issuance"], 100)
    engine = db.create_engine(database_url, "ledger")
    try:
        async with engine.connect() as conn:
            killed = await conn.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        assert killed and killed >= 2  # at least the writer's kept connection and its lock's
        for quantity in (30, 20):
            moved = await ledger.ok(
                {
                    "kind": "transfer_units",
                    "source": accounts["issuance"],
                    "destination": accounts["gha_holding"],
                    "units": {"selection": {"quantity": quantity}},
                }
            )
            assert moved["quantity"] == quantity
        assert await ledger.balance(accounts["issuance"]) == 50
        assert await ledger.balance(accounts["gha_holding"]) == 50
        async with engine.connect() as conn:
            recorded = await conn.scalar(text("SELECT count(*) FROM transactions WHERE kind = 'transfer_units'"))
        assert recorded == 2
    finally:
        await engine.dispose()
    await assert_units_conserved(database_url)
    verify = await asyncio.to_thread(run_cli, service_settings("ledger"), "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


LEADER = "hashtextextended('ledger-writer', 0)"


async def test_a6r48_a_writer_whose_leader_lock_another_took_writes_nothing_until_it_leads_again(
    ledger: LedgerClient, database_url: str
) -> None:
    """The writer's lock connection alone is dropped (an administrator ends it) and another
    instance takes the leader lock: this writer must decide nothing more on its in-memory state
    (two writers would select and reserve around different states, one chain each). Its clients
    get 503 ledger_starting and nothing is recorded; once the other lets go, the restarted writer
    leads again and the same transaction is recorded once."""
    accounts = await setup_registry(ledger)
    await issue(ledger, accounts["issuance"], 100)
    transfer = {
        "kind": "transfer_units",
        "source": accounts["issuance"],
        "destination": accounts["gha_holding"],
        "units": {"selection": {"quantity": 10}},
    }
    tx = uuid.uuid4()
    engine = db.create_engine(database_url, "ledger")
    try:
        async with engine.connect() as other:
            ended = await other.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' "
                    f"AND objsubid = 1 AND ((classid::int8 << 32) | objid::int8) = {LEADER}"
                )
            )
            assert ended == 1
            await other.execute(text(f"SELECT pg_advisory_lock({LEADER})"))
            await other.commit()
            for _ in range(2):  # the batch that finds the lock gone, then a writer not writing
                refused = await ledger.propose(transfer, tx=tx)
                assert refused.status_code == 503, refused.text
                assert refused.json()["error"]["code"] == "ledger_starting"
            async with engine.connect() as conn:
                assert await conn.scalar(text("SELECT count(*) FROM transactions WHERE id = :tx"), {"tx": tx}) == 0
            await other.execute(text(f"SELECT pg_advisory_unlock({LEADER})"))
            await other.commit()
        for _ in range(120):
            answer = await ledger.propose(transfer, tx=tx)
            if answer.status_code != 503:
                break
            await asyncio.sleep(0.25)
        assert answer.status_code == 201 and answer.json()["outcome"] == "recorded", answer.text
        assert await ledger.balance(accounts["gha_holding"]) == 10
    finally:
        await engine.dispose()
    await assert_units_conserved(database_url)
