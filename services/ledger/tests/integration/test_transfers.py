"""Issuance and transfers over HTTP (A6R-40, A6R-44, A6R-52, A6R-54, A6R-55, A6R-47)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ledger.bootstrap import DEFINITION
from ledger.settings import LedgerSettings
from registry_platform import db
from registry_platform.service import create_app
from registry_platform.testing.infra import serve_app

from .conftest import ADMIN, SCOPE, LedgerClient, issue, setup_registry, transfer

pytestmark = pytest.mark.integration


async def test_a6r52_issue_then_implicit_and_explicit_transfers(ledger: LedgerClient) -> None:
    acc = await setup_registry(ledger)
    issued = await ledger.ok(
        {
            "kind": "issue_units",
            "account": acc["issuance"],
            "scope": SCOPE,
            "quantity": 1000,
            "first_transferring_party": "GHA",
            "cooperative_approach": "CA0001",
        }
    )
    assert issued["blocks"][0]["first"] == 1 and issued["blocks"][0]["last"] == 1000
    moved = await ledger.ok(
        {
            "kind": "transfer_units",
            "source": acc["issuance"],
            "destination": acc["gha_holding"],
            "units": {"selection": {"quantity": 300}},
        }
    )
    assert moved["quantity"] == 300 and moved["blocks"][0]["first"] == 1
    explicit = await ledger.ok(
        {
            "kind": "transfer_units",
            "source": acc["gha_holding"],
            "destination": acc["che_holding"],
            "units": {"ranges": [{"scope": SCOPE, "first": 101, "last": 200}]},
        }
    )
    assert [(b["first"], b["last"]) for b in explicit["blocks"]] == [(101, 200)]
    assert await ledger.balance(acc["issuance"]) == 700
    assert await ledger.balance(acc["gha_holding"]) == 200
    assert await ledger.balance(acc["che_holding"]) == 100
    blocks = await ledger.get(f"/accounts/{acc['gha_holding']}/blocks")
    assert sorted((b["first"], b["last"]) for b in blocks["items"]) == [(1, 100), (201, 300)]
    assert blocks["items"][0]["serials"].startswith("CA0001-CHE01-GHA-")


async def test_a6r47_rejection_is_recorded_and_changes_nothing(ledger: LedgerClient) -> None:
    acc = await setup_registry(ledger)
    await issue(ledger, acc["issuance"], 10)
    tx = uuid.uuid4()
    refused = await ledger.propose(
        {
            "kind": "transfer_units",
            "source": acc["issuance"],
            "destination": acc["gha_holding"],
            "units": {"selection": {"quantity": 11}},
        },
        tx=tx,
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "insufficient_units"
    assert await ledger.balance(acc["issuance"]) == 10
    stored = await ledger.get(f"/transactions/{tx}")
    assert stored["outcome"] == "rejected" and stored["result"]["error"]["code"] == "insufficient_units"
    again = await ledger.propose(
        {
            "kind": "transfer_units",
            "source": acc["issuance"],
            "destination": acc["gha_holding"],
            "units": {"selection": {"quantity": 11}},
        },
        tx=tx,
    )
    assert again.status_code == 409 and again.json()["journal_sequence"] == refused.json()["journal_sequence"]
    reused = await ledger.propose(
        {
            "kind": "transfer_units",
            "source": acc["issuance"],
            "destination": acc["gha_holding"],
            "units": {"selection": {"quantity": 5}},
        },
        tx=tx,
    )
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "transaction_id_reused"


async def test_a6r52_touching_blocks_of_one_issuance_merge_and_a6r55_reversal_still_finds_its_units_once(
    ledger: LedgerClient,
) -> None:
    acc = await setup_registry(ledger)
    gha, che = acc["gha_holding"], acc["che_holding"]
    await issue(ledger, acc["issuance"], 1000)
    await ledger.ok(
        {
            "kind": "transfer_units",
            "source": acc["issuance"],
            "destination": gha,
            "units": {"selection": {"quantity": 1000}},
        }
    )

    async def held(account: str) -> list[tuple[int, int]]:
        return [(b["first"], b["last"]) for b in (await ledger.get(f"/accounts/{account}/blocks"))["items"]]

    first = await ledger.ok(
        {
            "kind": "transfer_units",
            "source": gha,
            "destination": che,
            "units": {"ranges": [{"scope": SCOPE, "first": 1, "last": 100}]},
        }
    )
    await ledger.ok(
        {
            "kind": "transfer_units",
            "source": gha,
            "destination": che,
            "units": {"ranges": [{"scope": SCOPE, "first": 101, "last": 200}]},
        }
    )
    assert await held(che) == [(1, 200)], "touching blocks of one issuance became one"
    reversal = await ledger.propose(
        {
            "kind": "corrective_transfer",
            "correction": "reversal",
            "corrects": first["transaction_id"],
            "reason": "mistaken transfer",
        }
    )
    assert reversal.status_code == 201, reversal.text
    assert [(b["first"], b["last"]) for b in reversal.json()["blocks"]] == [(1, 100)]
    assert await held(che) == [(101, 200)]
    assert sorted(await held(gha)) == [(1, 100), (201, 1000)]
    # The same serials go to CHE again, by a transfer of their own: reversing the first transfer a
    # second time would undo this one without naming it.
    await ledger.ok(
        {
            "kind": "transfer_units",
            "source": gha,
            "destination": che,
            "units": {"ranges": [{"scope": SCOPE, "first": 1, "last": 100}]},
        }
    )
    again = await ledger.propose(
        {
            "kind": "corrective_transfer",
            "correction": "reversal",
            "corrects": first["transaction_id"],
            "reason": "twice",
        }
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_reversed", again.text
    assert await held(che) == [(1, 200)]
    await ledger.ok(
        {
            "kind": "transfer_units",
            "source": che,
            "destination": gha,
            "units": {"ranges": [{"scope": SCOPE, "first": 1, "last": 100}]},
        }
    )
    # Back home, the units close the gap: one block again, no fragmentation left behind.
    await ledger.ok(
        {"kind": "transfer_units", "source": che, "destination": gha, "units": {"selection": {"quantity": 100}}}
    )
    assert await held(gha) == [(1, 1000)]


async def _ready(http: httpx.AsyncClient, url: str) -> None:
    for _ in range(200):
        if (await http.get(f"{url}/ready")).status_code == 200:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{url} did not become ready")


async def _preview(ledger: LedgerClient, command: dict[str, Any]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {ledger.token('admin', ADMIN)}"}
    return await ledger.http.post(f"{ledger.base_url}/transfers/preview", json=command, headers=headers)


async def test_a6r52_a_selection_of_more_than_1000_blocks_is_refused_at_proposal_and_in_preview(
    service_settings: Any,
) -> None:
    """A6R-52 with the saga (A6R-47): the proposal keeps the selection resolved as explicit ranges,
    at most 1,000 (commands.Units). A selection needing more blocks is a refusal with a code, at
    proposal and in the preview alike, not a 500. Without the saga nothing names the ranges: the
    preview shows all 1,001 blocks."""
    settings = service_settings("ledger", LedgerSettings, rules_verdicts=False)
    async with serve_app(create_app(DEFINITION, settings)) as url, httpx.AsyncClient(timeout=60) as http:
        ledger = LedgerClient(http, url)
        await _ready(http, url)
        acc = await setup_registry(ledger)
        await issue(ledger, acc["issuance"], 2001)
        # Every even serial leaves: the issuance account keeps 1,001 blocks of one unit.
        evens = [{"scope": SCOPE, "first": n, "last": n} for n in range(2, 2001, 2)]
        await ledger.ok(
            {
                "kind": "transfer_units",
                "source": acc["issuance"],
                "destination": acc["gha_holding"],
                "units": {"ranges": evens},
            }
        )
        alone = await _preview(ledger, transfer(acc["issuance"], acc["che_holding"], 1001))
        assert alone.status_code == 200 and len(alone.json()["blocks"]) == 1001, alone.text
    settings = service_settings("ledger", LedgerSettings, rules_verdicts=True)
    async with serve_app(create_app(DEFINITION, settings)) as url, httpx.AsyncClient(timeout=60) as http:
        ledger = LedgerClient(http, url)
        await _ready(http, url)
        too_many = transfer(acc["issuance"], acc["che_holding"], 1001)
        for refused in (await _preview(ledger, too_many), await ledger.propose(too_many)):
            assert refused.status_code == 409, refused.text
            error = refused.json()["error"]
            assert error["code"] == "too_many_blocks" and "1,000" in error["message"]
        # 1,000 blocks is within the limit: proposed, awaiting its verdict.
        proposed = await ledger.propose(transfer(acc["issuance"], acc["che_holding"], 1000))
        assert proposed.status_code == 202, proposed.text


async def test_a6r47_a_proposal_awaiting_its_verdict_is_kept_as_the_ledger_wrote_it_and_sealed(
    service_settings: Any, database_url: str
) -> None:
    """A ledger restarted while a proposal awaits its verdict takes the command and initiator from
    the proposal's row when the verdict comes; the verdict is bound to the digest of the proposal
    as published, not to the row. So the row is kept as written: rewriting its command (a larger
    issuance) or its identity, deleting it, or undoing its decision is refused by the database
    itself, for the service's own role too; only its decision time is set, once. And a row the
    writer did not seal (slipped in by whoever can insert rows) is never decided."""
    settings = service_settings("ledger", LedgerSettings, rules_verdicts=True, verdict_wait_seconds=0.1)
    async with serve_app(create_app(DEFINITION, settings)) as url, httpx.AsyncClient(timeout=60) as http:
        ledger = LedgerClient(http, url)
        await _ready(http, url)
        acc = await setup_registry(ledger)
        tx = uuid.uuid4()
        issuance = {
            "kind": "issue_units",
            "account": acc["issuance"],
            "scope": SCOPE,
            "quantity": 100,
            "first_transferring_party": "GHA",
            "cooperative_approach": "CA0001",
        }
        proposed = await ledger.propose(issuance, tx=tx)
        assert proposed.status_code == 202, proposed.text
    engine = db.create_engine(database_url, "ledger")
    copied, bare, fresh, junk = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    copy = (
        "INSERT INTO proposals (id, request_hash, command, requested, identity, proposed_at, deadline, reserved, "
        "proposal_digest, seal) SELECT :new, request_hash, command, requested, {identity}, proposed_at, {deadline}, "
        "reserved, proposal_digest, {seal} FROM proposals WHERE id = :id"
    )
    try:
        async with engine.begin() as conn:
            mallory = """jsonb_set(identity, '{subject}', '"mallory"')"""
            forged = copy.format(identity=mallory, deadline="deadline", seal="seal")
            await conn.execute(text(forged), {"new": copied, "id": tx})
            # As a build before the seals kept proposals: one past its deadline, one not yet.
            unsealed = copy.format(identity="identity", deadline="now() - interval '1 second'", seal="NULL")
            await conn.execute(text(unsealed), {"new": bare, "id": tx})
            pending = copy.format(identity="identity", deadline="now() + interval '1 hour'", seal="NULL")
            await conn.execute(text(pending), {"new": fresh, "id": tx})
            # Unsealed and holding no command the ledger has, first in line for the deadlines' loop.
            await conn.execute(
                text(
                    "INSERT INTO proposals (id, request_hash, command, identity, proposed_at, deadline, reserved) "
                    """VALUES (:id, '\\x00', '{"kind": "mint_units"}', '{}', now(), now() - interval '1 hour', '{}')"""
                ),
                {"id": junk},
            )
        app = create_app(DEFINITION, settings)
        async with serve_app(app) as url, httpx.AsyncClient(timeout=60) as http:
            await _ready(http, url)
            writer = app.state.runtime.state["writer"]
            # Restarted, the writer decides its own proposal from the row (its deadline's denial,
            # no verdict given), and never the copy carrying another row's seal. A row with no seal is
            # only ever denied, at its deadline, whatever verdict comes: the deadlines' loop denies the
            # overdue one, past the row it can never decide.
            assert await writer.decide(copied, None) is None
            decided = await writer.decide(tx, None)
            assert decided is not None and decided.outcome == "rejected", decided
            accept = {"outcome": "accept", "rules": [], "denials": [], "supplementary_operations": []}
            assert await writer.decide(fresh, accept) is None, "not before its deadline"
            entries: dict[str, Any] = {}
            for _ in range(100):
                journal = (await LedgerClient(http, url).get("/journal?limit=1000"))["items"]
                entries = {e["body"]["transaction_id"]: e["body"] for e in journal}
                if str(bare) in entries:
                    break
                await asyncio.sleep(0.1)
            assert str(tx) in entries and not {str(copied), str(fresh), str(junk)} & entries.keys()
            (denial,) = entries[str(bare)]["verdict"]["denials"]
            assert entries[str(bare)]["outcome"] == "rejected" and denial["code"] == "proposal_not_vouched", denial
        changes = [
            "UPDATE proposals SET command = jsonb_set(command, '{quantity}', '1000000')",
            """UPDATE proposals SET identity = jsonb_set(identity, '{subject}', '"someone else"')""",
            "UPDATE proposals SET deadline = deadline + interval '1 day'",
            "UPDATE proposals SET seal = NULL",
            "DELETE FROM proposals",
        ]
        for change in changes:
            with pytest.raises(DBAPIError, match="is kept"):
                async with engine.begin() as conn:
                    await conn.execute(text(f"{change} WHERE id = :id"), {"id": copied})
        with pytest.raises(DBAPIError, match="TRUNCATE refused"):
            async with engine.begin() as conn:
                await conn.execute(text("TRUNCATE proposals"))
        with pytest.raises(DBAPIError, match="only its decision time is set, once"):
            async with engine.begin() as conn:
                await conn.execute(text("UPDATE proposals SET decided_at = NULL WHERE id = :id"), {"id": tx})
        # Decided only with its record: marked decided by hand, it would be neither decided nor denied.
        with pytest.raises(DBAPIError, match="decided only with its transaction record"):
            async with engine.begin() as conn:
                await conn.execute(text("UPDATE proposals SET decided_at = now() WHERE id = :id"), {"id": copied})
        async with engine.connect() as conn:
            row = (await conn.execute(text("SELECT command, identity FROM proposals WHERE id = :id"), {"id": tx})).one()
        assert row.command["quantity"] == 100 and row.identity["subject"] == "admin"
    finally:
        await engine.dispose()
