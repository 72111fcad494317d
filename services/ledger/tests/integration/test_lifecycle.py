"""Accounts, applications, corrections, external transfers, impersonation, past holdings and the
database's own refusals, over the running ledger (A6R-37, A6R-40, A6R-41, A6R-43, A6R-47, A6R-54,
A6R-55)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ledger.domain import builtin_rules
from registry_contracts.envelope import EventEnvelope
from registry_platform import db
from registry_platform.auth import Grant
from registry_platform.testing.tokens import GATEWAY_SUBJECT

from .conftest import ADMIN, AS_GATEWAY, GHA_ADMIN, SCOPE, SERVICE, LedgerClient, issue, setup_registry, transfer

pytestmark = pytest.mark.integration


async def test_a6r41_account_application_approval_and_status_rules(ledger: LedgerClient) -> None:
    await ledger.ok({"kind": "create_section", "party": "GHA", "name": "Ghana"})
    applicant = [Grant("section_user", section="GHA")]
    applied = await ledger.ok(
        {"kind": "apply_for_account", "holder": "Acme Carbon", "section": "GHA", "type": "holding"},
        grants=applicant,
        subject="alice",
    )
    gha_admin = [Grant("section_administrator", section="GHA")]
    che_admin = [Grant("section_administrator", section="CHE")]
    refused = await ledger.propose(
        {"kind": "decide_application", "application_id": applied["application_id"], "approve": True},
        grants=che_admin,
        subject="bob",
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_authorized"
    approved = await ledger.ok(
        {"kind": "decide_application", "application_id": applied["application_id"], "approve": True},
        grants=gha_admin,
        subject="carol",
    )
    number = approved["account"]
    assert approved["applicant"] == "alice"
    assert (await ledger.get(f"/accounts/{number}"))["status"] == "initial"
    twice = await ledger.propose(
        {"kind": "decide_application", "application_id": applied["application_id"], "approve": False},
        grants=gha_admin,
        subject="carol",
    )
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "application_decided"
    # A6R-41: a section administrator activates and suspends, but may not freeze.
    for status, code in [("active", 201), ("suspended", 201), ("frozen", 403), ("active", 201)]:
        r = await ledger.propose(
            {"kind": "change_account_status", "account": number, "status": status, "reason": "test"},
            grants=gha_admin,
            subject="carol",
        )
        assert r.status_code == code, (status, r.text)
    assert (
        await ledger.propose(
            {"kind": "change_account_status", "account": number, "status": "frozen", "reason": "legal hold"}
        )
    ).status_code == 201
    # The account holder sees only their own accounts.
    # Identity scopes an account role to the account and its section.
    holder = [Grant("account_initiator", section="GHA", account=number)]
    visible = await ledger.get("/accounts", grants=holder, subject="alice")
    assert [a["number"] for a in visible["items"]] == [number]


async def test_a6r41_terminating_an_account_that_holds_units_is_refused(ledger: LedgerClient) -> None:
    acc = await setup_registry(ledger)
    await issue(ledger, acc["issuance"], 5)
    r = await ledger.propose(
        {"kind": "change_account_status", "account": acc["issuance"], "status": "terminated", "reason": "closing"}
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "account_not_empty"
    closed = await ledger.ok(
        {"kind": "change_account_status", "account": acc["che_use"], "status": "terminated", "reason": "closing"}
    )
    assert closed["status"] == "terminated"


async def test_a6r55_administrative_cancellation_and_holding_record_the_rules_they_break(
    ledger: LedgerClient,
) -> None:
    acc = await setup_registry(ledger)
    issued = await issue(ledger, acc["issuance"], 100)
    cancel = {
        "kind": "corrective_transfer",
        "correction": "administrative_cancellation",
        "corrects": issued["transaction_id"],
        "source": acc["issuance"],
        "destination": acc["admin_cancel"],
        "units": {"ranges": [{"scope": SCOPE, "first": 1, "last": 10}]},
        "reason": "issued by mistake",
    }
    by_section_admin = await ledger.propose(cancel, grants=[Grant("section_administrator", section="GHA")])
    assert by_section_admin.status_code == 403
    done = await ledger.ok(cancel)
    assert done["corrects"] == issued["transaction_id"] and done["quantity"] == 10
    assert await ledger.balance(acc["admin_cancel"]) == 10
    await ledger.ok(
        {
            "kind": "transfer_units",
            "source": acc["issuance"],
            "destination": acc["gha_holding"],
            "units": {"selection": {"quantity": 50}},
        }
    )
    # Withholding from a suspended account breaks the status rule: allowed, and recorded as broken.
    await ledger.ok(
        {
            "kind": "change_account_status",
            "account": acc["gha_holding"],
            "status": "suspended",
            "reason": "investigation",
        }
    )
    held = await ledger.ok(
        {
            "kind": "corrective_transfer",
            "correction": "administrative_holding",
            "source": acc["gha_holding"],
            "destination": acc["admin_hold"],
            "units": {"selection": {"quantity": 20}},
            "reason": "court order",
        }
    )
    assert "builtin.account_status.source@1" in held["broken_rules"]
    journal = await ledger.get("/journal", after=held["journal_sequence"] - 1, limit=1)
    assert journal["items"][0]["body"]["broken_rules"] == held["broken_rules"]
    normal = await ledger.propose(
        {
            "kind": "transfer_units",
            "source": acc["admin_hold"],
            "destination": acc["gha_holding"],
            "units": {"selection": {"quantity": 1}},
        }
    )
    assert normal.status_code == 409 and normal.json()["error"]["code"] == "account_type_cannot_send"


async def test_a6r54_external_transfers_pass_through_the_proxy_account(ledger: LedgerClient) -> None:
    acc = await setup_registry(ledger)
    await issue(ledger, acc["issuance"], 100)
    out = await ledger.ok(
        {
            "kind": "external_transfer_out",
            "source": acc["issuance"],
            "destination_registry": "CHE01",
            "destination_account": "CH-123",
            "units": {"selection": {"quantity": 30}},
        }
    )
    assert out["destination"] == acc["proxy"] and await ledger.balance(acc["proxy"]) == 30
    # Units coming back leave the proxy; units new to this registry are generated there first.
    foreign = {"originating_registry": "CHE01", "issuing_party": "CHE", "activity_id": "CH-HEAT-9", "vintage": 2023}
    incoming = {
        "kind": "external_transfer_in",
        "origin_registry": "CHE01",
        "origin_account": "CH-123",
        "destination": acc["che_holding"],
        "blocks": [
            {"scope": SCOPE, "first": 1, "last": 30, "first_transferring_party": "GHA"},
            {"scope": foreign, "first": 500, "last": 549, "first_transferring_party": "CHE"},
        ],
    }
    by_admin = await ledger.propose(incoming)
    assert by_admin.status_code == 403, "only the registry itself forwards incoming transfers"
    # Units of an approach this registry does not know: refused before anything is written, not a 500.
    unknown = {**incoming["blocks"][1], "cooperative_approach": "CA9999"}
    refused = await ledger.propose({**incoming, "blocks": [unknown]}, **AS_GATEWAY)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "unknown_cooperative_approach"
    arrived = await ledger.ok(incoming, **AS_GATEWAY)
    assert arrived["quantity"] == 80
    assert await ledger.balance(acc["proxy"]) == 0
    assert await ledger.balance(acc["che_holding"]) == 80
    again = await ledger.propose({**incoming, "blocks": incoming["blocks"][1:]}, **AS_GATEWAY)
    assert again.status_code == 409 and again.json()["error"]["code"] == "range_not_held"


async def test_a6r54_only_the_interop_gateways_own_key_brings_units_in_or_moves_them_out_of_the_proxy(
    ledger: LedgerClient,
) -> None:
    """A6R-54, A6R-37: every service holds the shared token key, so a registry service token signed
    with it must not generate units in the proxy nor take the units waiting there; the gateway's
    own key does both."""
    acc = await setup_registry(ledger)
    await issue(ledger, acc["issuance"], 10)
    await ledger.ok(
        {
            "kind": "external_transfer_out",
            "source": acc["issuance"],
            "destination_registry": "CHE01",
            "destination_account": "CH-1",
            "units": {"selection": {"quantity": 4}},
        }
    )
    foreign = {**SCOPE, "issuing_party": "CHE", "activity_id": "CH-HEAT-9"}
    incoming = {
        "kind": "external_transfer_in",
        "origin_registry": "CHE01",
        "origin_account": "CH-1",
        "destination": acc["che_holding"],
        "blocks": [{"scope": foreign, "first": 1, "last": 1000, "first_transferring_party": "CHE"}],
    }
    # The gateway's own transaction id, taken first by a shared-key token claiming the gateway's name.
    gateway_tx = uuid.uuid4()
    for subject in ("service:descriptors", GATEWAY_SUBJECT):
        tx = gateway_tx if subject == GATEWAY_SUBJECT else None
        minted = await ledger.propose(incoming, grants=SERVICE, subject=subject, tx=tx)
        assert minted.status_code == 403 and minted.json()["error"]["code"] == "not_authorized", minted.text
        taken = await ledger.propose(transfer(acc["proxy"], acc["che_holding"], 4), grants=SERVICE, subject=subject)
        assert taken.status_code == 403 and taken.json()["error"]["code"] == "not_authorized", taken.text
    # Nor the gateway with a plain transfer, which the journal would record as internal, naming no
    # registry the units came from (rule set 7).
    plain = await ledger.propose(transfer(acc["proxy"], acc["che_holding"], 4), **AS_GATEWAY)
    assert plain.status_code == 422 and plain.json()["error"]["code"] == "use_external_transfer", plain.text
    assert await ledger.balance(acc["che_holding"]) == 0 and await ledger.balance(acc["proxy"]) == 4
    squatted = await ledger.propose(incoming, as_gateway=True, tx=gateway_tx)
    assert squatted.status_code == 409 and squatted.json()["error"]["code"] == "transaction_id_reused", squatted.text
    arrived = await ledger.ok(incoming, **AS_GATEWAY)
    assert arrived["quantity"] == 1000 and await ledger.balance(acc["che_holding"]) == 1000
    recorded = await ledger.get(f"/transactions/{arrived['transaction_id']}")
    assert recorded["initiator"] == GATEWAY_SUBJECT, recorded


async def test_a6r43_impersonation_records_both_identities(ledger: LedgerClient) -> None:
    acc = await setup_registry(ledger)
    await issue(ledger, acc["issuance"], 10)
    rep = [Grant("account_initiator", section="GHA", account=acc["issuance"])]
    tx = uuid.uuid4()
    r = await ledger.propose(
        {
            "kind": "transfer_units",
            "source": acc["issuance"],
            "destination": acc["gha_holding"],
            "units": {"selection": {"quantity": 3}},
        },
        grants=rep,
        subject="dana",
        actor="helpdesk-erin",
        tx=tx,
    )
    assert r.status_code == 201, r.text
    stored = await ledger.get(f"/transactions/{tx}")
    assert (stored["initiator"], stored["on_behalf_of"]) == ("helpdesk-erin", "dana")
    entry = (await ledger.get("/journal", after=stored["journal_sequence"] - 1, limit=1))["items"][0]
    assert entry["body"]["identity"]["subject"] == "dana" and entry["body"]["identity"]["actor"] == "helpdesk-erin"
    outsider = await ledger.propose(
        {
            "kind": "transfer_units",
            "source": acc["issuance"],
            "destination": acc["gha_holding"],
            "units": {"selection": {"quantity": 1}},
        },
        grants=[Grant("account_initiator", section="GHA", account=acc["gha_holding"])],
    )
    assert outsider.status_code == 403 and outsider.json()["error"]["code"] == "not_authorized"
    # A refused transaction made for dana is dana's, whoever made it; an administrator
    # impersonating someone else does not see it as theirs.
    refused = await ledger.propose(
        {
            "kind": "transfer_units",
            "source": acc["issuance"],
            "destination": acc["gha_holding"],
            "units": {"selection": {"quantity": 10**6}},
        },
        grants=rep,
        subject="dana",
        actor="helpdesk-erin",
    )
    assert refused.status_code == 409, refused.text
    refused_id = refused.json()["error"]["details"]["transaction_id"]

    async def listed(subject: str, actor: str | None = None) -> set[str]:
        headers = {"Authorization": f"Bearer {ledger.token(subject, rep, actor)}"}
        answer = await ledger.http.get(f"{ledger.base_url}/transactions", headers=headers)
        assert answer.status_code == 200, answer.text
        return {t["transaction_id"] for t in answer.json()["items"]}

    assert {str(tx), refused_id} <= await listed("dana")
    assert refused_id not in await listed("omar", actor="helpdesk-erin")


async def test_a6r48_holdings_at_a_past_instant(ledger: LedgerClient) -> None:
    acc = await setup_registry(ledger)
    await issue(ledger, acc["issuance"], 100)
    await asyncio.sleep(0.05)
    before = datetime.now(UTC)
    await asyncio.sleep(0.05)
    await ledger.ok(
        {
            "kind": "transfer_units",
            "source": acc["issuance"],
            "destination": acc["gha_holding"],
            "units": {"selection": {"quantity": 40}},
        }
    )
    past = await ledger.get(f"/accounts/{acc['issuance']}/blocks", at=before.isoformat())
    assert [(b["first"], b["last"]) for b in past["items"]] == [(1, 100)]
    now = await ledger.get(f"/accounts/{acc['issuance']}/blocks")
    assert [(b["first"], b["last"]) for b in now["items"]] == [(41, 100)]
    assert (await ledger.get(f"/accounts/{acc['gha_holding']}/blocks", at=before.isoformat()))["items"] == []


async def test_a6r40_the_database_refuses_edits_and_overlapping_live_blocks(
    ledger: LedgerClient, database_url: str
) -> None:
    acc = await setup_registry(ledger)
    await issue(ledger, acc["issuance"], 100)
    engine = db.create_engine(database_url, "ledger")
    try:
        for statement in [
            "UPDATE unit_blocks SET last_serial = 1000",
            # A section's status changes; nothing else of it does.
            "UPDATE sections SET name = 'Elsewhere'",
            "DELETE FROM transactions",
            "UPDATE journal SET kind = 'x'",
            "DELETE FROM issuances",
        ]:
            with pytest.raises(DBAPIError, match="immutable"):
                async with engine.begin() as conn:
                    await conn.execute(text(statement))
        with pytest.raises(DBAPIError, match="holdings_scope_id_int8range_excl"):
            async with engine.begin() as conn:
                # A second live block over serials 50-60, which the first live block already holds.
                await conn.execute(
                    text(
                        "INSERT INTO unit_blocks (id, issuance_id, first_serial, last_serial, account_number, "
                        "created_tx) SELECT 999999, issuance_id, 50, 60, account_number, created_tx "
                        "FROM unit_blocks LIMIT 1"
                    )
                )
                await conn.execute(
                    text(
                        "INSERT INTO holdings (block_id, account_number, scope_id, issuance_id, first_serial, "
                        "last_serial) SELECT b.id, b.account_number, i.scope_id, b.issuance_id, 50, 60 "
                        "FROM unit_blocks b JOIN issuances i ON i.id = b.issuance_id WHERE b.id = 999999"
                    )
                )
    finally:
        await engine.dispose()


async def test_a6r40_the_database_refuses_a_holding_that_is_not_its_block_as_recorded(
    ledger: LedgerClient, database_url: str
) -> None:
    """The exclusion constraint trusts a holding's scope: a holding of serials 50-60 that claimed
    another scope would escape it. Migration 0006 ties each holding to its block's account,
    issuance and serials, and to its issuance's scope."""
    acc = await setup_registry(ledger)
    await issue(ledger, acc["issuance"], 100)
    await ledger.ok(
        {
            "kind": "issue_units",
            "account": acc["issuance"],
            "scope": {**SCOPE, "vintage": SCOPE["vintage"] + 1},
            "quantity": 5,
            "first_transferring_party": "GHA",
        }
    )
    # One more record of a block in SCOPE's issuance, and a holding of it built from `changed`.
    block = (
        "INSERT INTO unit_blocks (id, issuance_id, first_serial, last_serial, account_number, created_tx) "
        "SELECT 999999, b.issuance_id, :first, :last, b.account_number, b.created_tx FROM unit_blocks b "
        "JOIN issuances i ON i.id = b.issuance_id JOIN serial_scopes s ON s.id = i.scope_id "
        "WHERE s.vintage = :vintage LIMIT 1"
    )
    holding = (
        "INSERT INTO holdings (block_id, account_number, scope_id, issuance_id, first_serial, last_serial) "
        "SELECT b.id, {account}, {scope}, b.issuance_id, {first}, b.last_serial FROM unit_blocks b "
        "JOIN issuances i ON i.id = b.issuance_id WHERE b.id = 999999"
    )
    other_scope = f"(SELECT id FROM serial_scopes WHERE vintage = {SCOPE['vintage'] + 1})"
    faithful = {"account": "b.account_number", "scope": "i.scope_id", "first": "b.first_serial"}
    engine = db.create_engine(database_url, "ledger")

    async def refused(serials: tuple[int, int], changed: dict[str, str], constraint: str) -> None:
        with pytest.raises(DBAPIError, match=constraint):
            async with engine.begin() as conn:
                first, last = serials
                await conn.execute(text(block), {"first": first, "last": last, "vintage": SCOPE["vintage"]})
                await conn.execute(text(holding.format(**{**faithful, **changed})))

    try:
        # Serials 50-60 are live in SCOPE: claimed in the other scope, they would not overlap there.
        await refused((50, 60), {"scope": other_scope}, "holdings_scope_of_issuance")
        # Serials 200-210 are nobody's: only the holding's disagreement with its block is refused.
        await refused((200, 210), {"account": f"'{acc['gha_holding']}'"}, "holdings_block_as_recorded")
        await refused((200, 210), {"first": "201"}, "holdings_block_as_recorded")
        # Faithful to its block, the holding of 50-60 meets the exclusion constraint as before.
        await refused((50, 60), {}, "holdings_scope_id_int8range_excl")
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"kind": "transfer_units", "source": "X", "destination": "Y", "units": {}}, "invalid_request"),
        (
            {
                "kind": "issue_units",
                "account": "A",
                "scope": {**SCOPE, "vintage": 1200},
                "quantity": 5,
                "first_transferring_party": "GHA",
            },
            "invalid_request",
        ),
        ({"kind": "no_such_command"}, "invalid_request"),
        (
            {
                "kind": "transfer_units",
                "source": "NOPE-1",
                "destination": "NOPE-2",
                "units": {"selection": {"quantity": 1}},
            },
            "unknown_account",
        ),
        ({"kind": "create_section", "party": "XXX", "name": "Nowhere"}, "unknown_party"),
    ],
)
async def test_a6r47_bad_input_gets_a_4xx_with_a_code(ledger: LedgerClient, body: dict, code: str) -> None:
    r = await ledger.propose(body)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error"]["code"] == code
    unauthenticated = await ledger.http.put(f"{ledger.base_url}/transactions/{uuid.uuid4()}", json=body)
    assert unauthenticated.status_code == 401


async def test_a6r42_a6r46_sections_and_cooperative_approaches_are_journaled_configuration_changes(
    ledger: LedgerClient,
) -> None:
    """A6R-42 sections keyed by ISO 3166-1 alpha-3, A6R-46 approaches with their Parties, both
    created by configuration-change operations (A6R-44 d) that the journal records."""
    section = await ledger.ok({"kind": "create_section", "party": "GHA", "name": "Ghana"})
    await ledger.ok({"kind": "create_section", "party": "CHE", "name": "Switzerland"})
    await ledger.ok({"kind": "create_section", "party": "PER", "name": "Peru"})
    duplicate = await ledger.propose({"kind": "create_section", "party": "GHA", "name": "Ghana again"})
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "section_exists"
    by_section_admin = await ledger.propose(
        {"kind": "create_section", "party": "SEN", "name": "Senegal"},
        grants=[Grant("section_administrator", section="GHA")],
    )
    assert by_section_admin.status_code == 403
    await ledger.ok(
        {"kind": "create_cooperative_approach", "id": "CA0007", "name": "GHA-CHE", "parties": ["GHA", "CHE"]}
    )
    assert [s["party"] for s in await ledger.get("/sections")] == ["CHE", "GHA", "PER"]
    assert (await ledger.get("/cooperative-approaches"))[0]["parties"] == ["CHE", "GHA"]
    entry = (await ledger.get("/journal", after=section["journal_sequence"] - 1, limit=1))["items"][0]
    assert entry["kind"] == "create_section" and entry["body"]["command"]["party"] == "GHA"
    # An account is bound to at most one approach, and only within a participating Party's section.
    outsider = await ledger.propose(
        {
            "kind": "open_account",
            "holder": "Lima Carbon",
            "section": "PER",
            "cooperative_approach": "CA0007",
            "type": "holding",
        }
    )
    assert outsider.status_code == 409 and outsider.json()["error"]["code"] == "party_not_in_approach"
    inside = await ledger.ok(
        {
            "kind": "open_account",
            "holder": "Accra Carbon",
            "section": "GHA",
            "cooperative_approach": "CA0007",
            "type": "holding",
        }
    )
    assert (await ledger.get(f"/accounts/{inside['account']}"))["cooperative_approach"] == "CA0007"


async def test_a6r57_issuance_codes_come_from_the_common_nomenclature(ledger: LedgerClient) -> None:
    acc = await setup_registry(ledger)
    base = {"kind": "issue_units", "account": acc["issuance"], "quantity": 5, "first_transferring_party": "GHA"}
    for scope, extra in [
        ({**SCOPE, "metric": "kgCO2"}, {}),
        ({**SCOPE, "originating_registry": "XYZ99"}, {}),
        (SCOPE, {"sectors": ["astrology"]}),
    ]:
        refused = await ledger.propose({**base, "scope": scope, **extra})
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "unknown_code", refused.text
        assert "known:" in refused.json()["error"]["message"]
    assert await ledger.balance(acc["issuance"]) == 0
    await ledger.ok({**base, "scope": SCOPE, "sectors": ["energy"], "activity_types": ["fuel_switch"]})


async def test_a6r47_the_events_of_a_transaction_carry_its_id_as_their_correlation_id(
    ledger: LedgerClient, database_url: str
) -> None:
    """Notify (A6R-47 step 5): a transaction's events (its journal entry, and what it changed) are
    correlated by the transaction's id, so a consumer can gather them."""
    accounts = await setup_registry(ledger)
    issued = await issue(ledger, accounts["issuance"], 100)
    moved = await ledger.ok(
        {
            "kind": "transfer_units",
            "source": accounts["issuance"],
            "destination": accounts["gha_holding"],
            "units": {"selection": {"quantity": 40}},
        }
    )
    engine = db.create_engine(database_url, "ledger")
    try:
        async with engine.connect() as conn:
            bodies = (
                (await conn.execute(text("SELECT body FROM outbox WHERE event_type LIKE 'ledger.%' ORDER BY id")))
                .scalars()
                .all()
            )
    finally:
        await engine.dispose()
    envelopes = [EventEnvelope.from_bytes(bytes(body)) for body in bodies]
    journal = [e for e in envelopes if e.type == "ledger.JournalEntryAppended"]
    for entry in journal:
        assert str(entry.correlation_id) == entry.payload["body"]["transaction_id"]
    transactions = {str(e.correlation_id) for e in journal}
    assert {issued["transaction_id"], moved["transaction_id"]} <= transactions
    # A checkpoint signs the journal, not a transaction (one is signed after 10 s of a slow run).
    journal_types = {"ledger.JournalEntryAppended", "ledger.JournalCheckpointSigned"}
    changes = [e for e in envelopes if e.type not in journal_types]
    assert changes and {str(e.correlation_id) for e in changes} <= transactions
    assert {e.type for e in changes if str(e.correlation_id) == moved["transaction_id"]} != set()


def _refused_at_the_boundary(r: httpx.Response) -> None:
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_request"


async def test_a6r41_holders_sections_and_application_ids_are_checked_as_the_accounts_are(
    ledger: LedgerClient,
) -> None:
    """A6R-41, A6R-47: what an account would refuse when it is opened (a holder with surrounding
    spaces, a proxy account in a section) and an application id that is no UUID are refused with
    a 422, not recorded for an approval that then fails, and not a 500."""
    await ledger.ok({"kind": "create_section", "party": "GHA", "name": "Ghana"})
    applicant = [Grant("section_user", section="GHA")]
    for holder in (" Alice", "Alice\n"):
        applied = await ledger.propose(
            {"kind": "apply_for_account", "holder": holder, "section": "GHA", "type": "holding"}, grants=applicant
        )
        _refused_at_the_boundary(applied)
        _refused_at_the_boundary(
            await ledger.propose({"kind": "open_account", "holder": holder, "section": "GHA", "type": "holding"})
        )
    _refused_at_the_boundary(
        await ledger.propose({"kind": "open_account", "holder": "Proxy", "section": "GHA", "type": "proxy"})
    )
    for application_id in ("zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz", "123456781234567812345678123456781234"):
        _refused_at_the_boundary(
            await ledger.propose({"kind": "decide_application", "application_id": application_id, "approve": True})
        )
    # The writer carried on, and the same rules accept good input.
    await ledger.ok({"kind": "open_account", "holder": "Proxy", "type": "proxy"})
    applied = await ledger.ok(
        {"kind": "apply_for_account", "holder": "Alice", "section": "GHA", "type": "holding"},
        grants=applicant,
        subject="alice",
    )
    await ledger.ok({"kind": "decide_application", "application_id": applied["application_id"], "approve": True})


async def test_a6r55_a_reversal_naming_no_transaction_id_is_refused_at_the_boundary(ledger: LedgerClient) -> None:
    """A6R-55, A6R-47: 'corrects' must be a transaction id (a UUID)."""
    await setup_registry(ledger)
    reversal = {"kind": "corrective_transfer", "correction": "reversal", "reason": "entered twice"}
    _refused_at_the_boundary(await ledger.propose({**reversal, "corrects": "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"}))
    unknown = await ledger.propose({**reversal, "corrects": str(uuid.uuid4())})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_transaction"
    # Another spelling of one id would escape the lookups of its text (a transfer reversed twice).
    tx = uuid.uuid4()
    hyphens_moved = tx.hex[:4] + "-" + tx.hex[4:12] + "-" + tx.hex[12:16] + "-" + tx.hex[16:20] + "-" + tx.hex[20:]
    for spelling in (str(tx).upper(), f"urn:{tx.hex}", hyphens_moved):
        assert len(spelling) == 36 and uuid.UUID(spelling) == tx
        _refused_at_the_boundary(await ledger.propose({**reversal, "corrects": spelling}))


async def test_a6r54_an_incoming_block_with_first_after_last_is_refused_at_the_boundary(
    ledger: LedgerClient,
) -> None:
    """A6R-54, A6R-47: an incoming block's serials run from first to last, as an explicit range's do."""
    acc = await setup_registry(ledger)
    foreign = {**SCOPE, "issuing_party": "CHE"}

    def incoming(first: int, last: int) -> dict[str, Any]:
        block = {"scope": foreign, "first": first, "last": last, "first_transferring_party": "CHE"}
        return {
            "kind": "external_transfer_in",
            "origin_registry": "CHE01",
            "origin_account": "CH-1",
            "destination": acc["che_holding"],
            "blocks": [block],
        }

    _refused_at_the_boundary(await ledger.propose(incoming(10, 5), **AS_GATEWAY))
    await ledger.ok(incoming(10, 10), **AS_GATEWAY)
    assert await ledger.balance(acc["che_holding"]) == 1


async def test_a6r54_incoming_blocks_that_overlap_each_other_are_refused_whole(ledger: LedgerClient) -> None:
    """A6R-54, A6R-47: the second of two overlapping incoming blocks finds the first's serials just
    generated in the proxy; the command is refused as naming serials twice (not a failed batch:
    the writer's invariant checks are for defects), and nothing is generated."""
    acc = await setup_registry(ledger)
    foreign = {**SCOPE, "issuing_party": "CHE"}
    blocks = [
        {"scope": foreign, "first": first, "last": last, "first_transferring_party": "CHE"}
        for first, last in ((1, 10), (3, 8))
    ]
    incoming = {
        "kind": "external_transfer_in",
        "origin_registry": "CHE01",
        "origin_account": "CH-1",
        "destination": acc["che_holding"],
        "blocks": blocks,
    }
    refused = await ledger.propose(incoming, **AS_GATEWAY)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "overlapping_range", refused.text
    assert await ledger.balance(acc["che_holding"]) == 0 and await ledger.balance(acc["proxy"]) == 0
    await ledger.ok({**incoming, "blocks": blocks[:1]}, **AS_GATEWAY)
    assert await ledger.balance(acc["che_holding"]) == 10


async def test_a6r54_the_proxy_account_is_never_terminated(ledger: LedgerClient) -> None:
    """A6R-54, A6R-41: terminated (for good), the registry's one proxy account ended every external
    transfer in or out, and no second proxy could be opened."""
    acc = await setup_registry(ledger)
    change = {"kind": "change_account_status", "account": acc["proxy"], "reason": "not needed"}
    refused = await ledger.propose({**change, "status": "terminated"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "proxy_not_terminable", refused.text
    await ledger.ok({**change, "status": "suspended"})


async def test_a6r40_a_partys_issuance_account_issues_that_partys_units_only(ledger: LedgerClient) -> None:
    """A6R-40, A6R-46, A6R-56: GHA's section issuing in CHE's serial scope took serials CHE's
    registry hands out (CHE's real units then found them held and were refused), and units could
    carry an approach GHA is no Party of."""
    acc = await setup_registry(ledger)
    await ledger.ok({"kind": "create_section", "party": "JPN", "name": "Japan"})
    await ledger.ok(
        {"kind": "create_cooperative_approach", "id": "CA0002", "name": "CHE-JPN", "parties": ["CHE", "JPN"]}
    )
    issuance = {"kind": "issue_units", "account": acc["issuance"], "quantity": 5, "first_transferring_party": "GHA"}
    for grants in (ADMIN, GHA_ADMIN):
        foreign = await ledger.propose({**issuance, "scope": {**SCOPE, "issuing_party": "CHE"}}, grants=grants)
        assert foreign.json()["error"]["code"] == "issuing_party_mismatch", foreign.text
        outside = await ledger.propose({**issuance, "scope": SCOPE, "cooperative_approach": "CA0002"}, grants=grants)
        assert outside.json()["error"]["code"] == "party_not_in_approach", outside.text
        assert foreign.status_code == outside.status_code == 409
    assert await ledger.balance(acc["issuance"]) == 0
    await ledger.ok({**issuance, "scope": SCOPE, "cooperative_approach": "CA0001"}, grants=GHA_ADMIN)
    assert await ledger.balance(acc["issuance"]) == 5


async def test_a6r55_units_withheld_in_administrative_holding_are_released_by_reversing_the_withholding(
    ledger: LedgerClient,
) -> None:
    """A6R-55 c withholds units temporarily: before, nothing could take them out of administrative
    holding again (a reversal named only transfers; the account type sends nothing)."""
    acc = await setup_registry(ledger)
    await issue(ledger, acc["issuance"], 10)
    await ledger.ok(transfer(acc["issuance"], acc["gha_holding"], 10))
    withheld = await ledger.ok(
        {
            "kind": "corrective_transfer",
            "correction": "administrative_holding",
            "source": acc["gha_holding"],
            "destination": acc["admin_hold"],
            "units": {"selection": {"quantity": 4}},
            "reason": "under investigation",
        }
    )
    assert (await ledger.balance(acc["gha_holding"]), await ledger.balance(acc["admin_hold"])) == (6, 4)
    release = {"kind": "corrective_transfer", "correction": "reversal", "corrects": withheld["transaction_id"]}
    released = await ledger.ok({**release, "reason": "investigation closed"})
    assert (released["source"], released["destination"], released["quantity"]) == (
        acc["admin_hold"],
        acc["gha_holding"],
        4,
    )
    assert (await ledger.balance(acc["gha_holding"]), await ledger.balance(acc["admin_hold"])) == (10, 0)
    again = await ledger.propose({**release, "reason": "twice"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_reversed", again.text


async def test_a6r46_units_appear_only_in_the_accounts_of_their_cooperative_approach(ledger: LedgerClient) -> None:
    """A6R-46, A6R-41 (rule set 7): units of CA0001 went into an account bound to CA0002, and into the
    account of a Party that takes no part in CA0001; an issuance into an account bound to CA0002
    could carry CA0001. Each is refused before anything moves, naming the built-in rule."""
    acc = await setup_registry(ledger)
    await ledger.ok({"kind": "create_section", "party": "JPN", "name": "Japan"})
    await ledger.ok(
        {"kind": "create_cooperative_approach", "id": "CA0002", "name": "CHE-JPN", "parties": ["CHE", "JPN"]}
    )
    opened = {}
    for name, section, approach, type_ in [
        ("che_ca2", "CHE", "CA0002", "holding"),
        ("che_ca2_issuance", "CHE", "CA0002", "issuance"),
        ("jpn_holding", "JPN", None, "holding"),
    ]:
        command = {"kind": "open_account", "holder": name, "section": section, "type": type_}
        opened[name] = (await ledger.ok({**command, "cooperative_approach": approach}))["account"]
        await ledger.ok(
            {"kind": "change_account_status", "account": opened[name], "status": "active", "reason": "tests"}
        )
    await ledger.ok(
        {
            "kind": "issue_units",
            "account": acc["issuance"],
            "scope": SCOPE,
            "quantity": 10,
            "first_transferring_party": "GHA",
            "cooperative_approach": "CA0001",
        }
    )

    def refused_by_the_rule(response: httpx.Response, code: str) -> None:
        error = response.json()["error"]
        assert response.status_code == 409 and error["code"] == code, response.text
        assert error["details"]["rule"] == "builtin.cooperative_approach@1", response.text

    refused_by_the_rule(await ledger.propose(transfer(acc["issuance"], opened["che_ca2"], 3)), "approach_mismatch")
    refused_by_the_rule(
        await ledger.propose(transfer(acc["issuance"], opened["jpn_holding"], 3)), "party_not_in_approach"
    )
    assert await ledger.balance(acc["issuance"]) == 10
    assert await ledger.balance(opened["che_ca2"]) == await ledger.balance(opened["jpn_holding"]) == 0
    # CHE takes part in CA0001, and its generic account takes CA0001's units.
    await ledger.ok(transfer(acc["issuance"], acc["che_holding"], 3))
    assert await ledger.balance(acc["che_holding"]) == 3

    che_issuance = {
        "kind": "issue_units",
        "account": opened["che_ca2_issuance"],
        "scope": {**SCOPE, "issuing_party": "CHE", "activity_id": "CH-HEAT-9"},
        "quantity": 5,
        "first_transferring_party": "CHE",
    }
    refused_by_the_rule(await ledger.propose({**che_issuance, "cooperative_approach": "CA0001"}), "approach_mismatch")
    refused_by_the_rule(await ledger.propose(che_issuance), "approach_mismatch")
    await ledger.ok({**che_issuance, "cooperative_approach": "CA0002"})

    # Units arriving from another registry are held to the same rule (A6R-54).
    incoming = {
        "kind": "external_transfer_in",
        "origin_registry": "CHE01",
        "origin_account": "CH-1",
        "destination": opened["che_ca2"],
        "blocks": [
            {
                "scope": {**SCOPE, "issuing_party": "CHE", "activity_id": "CH-WIND-2"},
                "first": 1,
                "last": 4,
                "first_transferring_party": "CHE",
                "cooperative_approach": "CA0001",
            }
        ],
    }
    refused_by_the_rule(await ledger.propose(incoming, **AS_GATEWAY), "approach_mismatch")
    assert await ledger.balance(acc["proxy"]) == 0
    await ledger.ok({**incoming, "destination": acc["che_holding"]}, **AS_GATEWAY)
    assert await ledger.balance(acc["che_holding"]) == 7

    # Units coming back are judged by the approach recorded here, whatever the sender names.
    await ledger.ok(
        {
            "kind": "external_transfer_out",
            "source": acc["issuance"],
            "destination_registry": "CHE01",
            "destination_account": "CH-1",
            "units": {"ranges": [{"scope": SCOPE, "first": 4, "last": 5}]},
        }
    )
    back = {
        **incoming,
        "destination": opened["jpn_holding"],
        "blocks": [{"scope": SCOPE, "first": 4, "last": 5, "first_transferring_party": "GHA"}],
    }
    refused_by_the_rule(await ledger.propose(back, **AS_GATEWAY), "party_not_in_approach")
    assert await ledger.balance(acc["proxy"]) == 2

    # An implicit selection chooses among the units the destination takes (A6R-52): here the
    # CA0002 block of 5, not the CA0001 block of exactly 4 that would be refused.
    await ledger.ok(transfer(opened["che_ca2_issuance"], acc["che_holding"], 5))
    to_ca2 = transfer(acc["che_holding"], opened["che_ca2"], 4)
    headers = {"Authorization": f"Bearer {ledger.token('admin', ADMIN)}"}
    preview = await ledger.http.post(f"{ledger.base_url}/transfers/preview", json=to_ca2, headers=headers)
    assert preview.status_code == 200, preview.text
    moved = await ledger.ok(to_ca2)
    chosen = [(b["scope"]["activity_id"], b["first"], b["last"]) for b in moved["blocks"]]
    assert chosen == [("CH-HEAT-9", 1, 4)], moved
    assert [(b["scope"]["activity_id"], b["first"], b["last"]) for b in preview.json()["blocks"]] == chosen
    # One CA0002 unit is left for JPN's account, which takes no CA0001 units: two are refused by
    # the rule's name, in the preview as in the transfer, not as insufficient units.
    to_jpn = transfer(acc["che_holding"], opened["jpn_holding"], 2)
    refused_by_the_rule(
        await ledger.http.post(f"{ledger.base_url}/transfers/preview", json=to_jpn, headers=headers),
        "party_not_in_approach",
    )
    refused_by_the_rule(await ledger.propose(to_jpn), "party_not_in_approach")
    await ledger.ok(transfer(acc["che_holding"], opened["jpn_holding"], 1))


async def test_a6r55b_units_in_administrative_cancellation_are_out_of_use_for_good(ledger: LedgerClient) -> None:
    """A6R-55 b (rule set 7): units cancelled administratively could be withheld out of the
    cancellation account into administrative holding (breaking only the overridable send rule),
    and a reversal then put them back in circulation. A correction could name any transaction id
    as the one it corrects."""
    acc = await setup_registry(ledger)
    await issue(ledger, acc["issuance"], 10)
    correction = {"kind": "corrective_transfer", "units": {"selection": {"quantity": 4}}, "reason": "issued by mistake"}
    cancellation = {
        **correction,
        "correction": "administrative_cancellation",
        "source": acc["issuance"],
        "destination": acc["admin_cancel"],
    }
    # What it corrects, if it names one, was recorded (A6R-55): the journal would name nothing.
    unknown = await ledger.propose({**cancellation, "corrects": str(uuid.uuid4())})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_transaction", unknown.text
    issuance = (await ledger.get("/transactions", kind="issue_units"))["items"][0]["transaction_id"]
    await ledger.ok({**cancellation, "corrects": issuance})
    out_again = await ledger.propose(
        {
            **correction,
            "correction": "administrative_holding",
            "source": acc["admin_cancel"],
            "destination": acc["admin_hold"],
        }
    )
    error = out_again.json()["error"]
    assert out_again.status_code == 409 and error["code"] == "units_cancelled_for_good", out_again.text
    assert error["details"]["rule"] == "builtin.account_type.permanent@1"
    assert await ledger.balance(acc["admin_cancel"]) == 4 and await ledger.balance(acc["admin_hold"]) == 0


async def test_a6r55_a_refused_correction_records_the_rules_it_broke_before_its_units_were_chosen(
    ledger: LedgerClient,
) -> None:
    """A6R-55, A6R-48: a correction from a suspended account breaks the status rule; refused later
    because the account does not hold the serials, its journal entry still names that rule, as it
    did before rule set 7 (replay of earlier entries decides them again and must agree)."""
    acc = await setup_registry(ledger)
    await issue(ledger, acc["issuance"], 10)
    await ledger.ok(transfer(acc["issuance"], acc["gha_holding"], 10))
    await ledger.ok(
        {"kind": "change_account_status", "account": acc["gha_holding"], "status": "suspended", "reason": "audit"}
    )
    refused = await ledger.propose(
        {
            "kind": "corrective_transfer",
            "correction": "administrative_holding",
            "source": acc["gha_holding"],
            "destination": acc["admin_hold"],
            "units": {"ranges": [{"scope": SCOPE, "first": 500, "last": 510}]},
            "reason": "withheld",
        }
    )
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "range_not_held", refused.text
    sequence = refused.json()["journal_sequence"]
    entry = (await ledger.get("/journal", after=sequence - 1, limit=1))["items"][0]
    assert entry["body"]["broken_rules"] == ["builtin.account_status.source@1"], entry


async def test_a6r55_a6r56_a_correction_by_anyone_but_a_registry_administrator_is_refused_before_any_lookup(
    ledger: LedgerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rule set 8: a section administrator's reversal naming a recorded transfer, one already
    reversed, or no transaction at all, and an administrative correction to an account of the
    wrong type, are all refused alike, naming the initiator rule: the refusal tells nothing of the
    transactions or accounts named. Before, the lookups answered first."""
    acc = await setup_registry(ledger)
    await issue(ledger, acc["issuance"], 10)
    moved = await ledger.ok(transfer(acc["issuance"], acc["gha_holding"], 4))
    reversed_once = await ledger.ok(transfer(acc["issuance"], acc["gha_holding"], 3))

    def reversal(tx: str) -> dict[str, Any]:
        return {"kind": "corrective_transfer", "correction": "reversal", "corrects": tx, "reason": "mistake"}

    await ledger.ok(reversal(reversed_once["transaction_id"]))
    wrong_type = {
        "kind": "corrective_transfer",
        "correction": "administrative_cancellation",
        "source": acc["gha_holding"],
        "destination": acc["admin_hold"],
        "units": {"selection": {"quantity": 1}},
        "reason": "mistakenly issued",
    }
    named = [moved["transaction_id"], reversed_once["transaction_id"], str(uuid.uuid4())]
    for command in [*(reversal(tx) for tx in named), wrong_type]:
        refused = await ledger.propose(command, grants=GHA_ADMIN, subject="sam")
        assert refused.status_code == 403, refused.text
        error = refused.json()["error"]
        assert (error["code"], error["details"]["rule"]) == (
            "correction_not_permitted",
            "builtin.correction.initiator@1",
        )
    assert await ledger.balance(acc["gha_holding"]) == 4
    monkeypatch.setattr(builtin_rules, "RULESET", 7)
    told = await ledger.propose(reversal(reversed_once["transaction_id"]), grants=GHA_ADMIN, subject="sam")
    assert told.json()["error"]["code"] == "already_reversed", told.text
