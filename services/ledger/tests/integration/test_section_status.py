"""A6R-42 and issue 7: registry administrators suspend a Party-specific section and reactivate it.
While it is suspended, the section takes no new accounts, and only registry administrators
initiate unit transactions involving its accounts (the built-in rule builtin.section_status@1)."""

from __future__ import annotations

import time
import uuid

import pytest

from registry_platform.auth import Grant, dev_signing_key, issue_token
from registry_platform.settings import DEV_TOKEN_SECRET

from .conftest import GHA_ADMIN, SCOPE, SERVICE, LedgerClient, issue, section_status, setup_registry, transfer

pytestmark = pytest.mark.integration
CHE_ADMIN = [Grant("section_administrator", section="CHE")]
SECTION_RULE = "builtin.section_status@1"


async def test_a6r42_a_suspended_section_refuses_transactions_and_accounts_until_reactivated(
    ledger: LedgerClient,
) -> None:
    acc = await setup_registry(ledger)
    await issue(ledger, acc["issuance"], 100)
    await ledger.ok(transfer(acc["issuance"], acc["gha_holding"], 50), grants=GHA_ADMIN, subject="sam")
    sent = await ledger.ok(transfer(acc["gha_holding"], acc["che_holding"], 10), grants=GHA_ADMIN, subject="sam")

    suspended = await ledger.ok(section_status("GHA", "suspended"))
    assert (suspended["old_status"], suspended["status"]) == ("active", "suspended")
    assert {s["party"]: s["status"] for s in await ledger.get("/sections")} == {"CHE": "active", "GHA": "suspended"}

    # Out of the section, into it, and issuance in it: refused, naming the rule.
    issuance = {
        "kind": "issue_units",
        "account": acc["issuance"],
        "scope": SCOPE,
        "quantity": 5,
        "first_transferring_party": "GHA",
    }
    for command, grants in [
        (transfer(acc["issuance"], acc["gha_holding"], 5), GHA_ADMIN),
        (transfer(acc["che_holding"], acc["gha_holding"], 5), CHE_ADMIN),
        (issuance, GHA_ADMIN),
    ]:
        refused = await ledger.propose(command, grants=grants, subject="sam")
        assert refused.status_code == 409, refused.text
        error = refused.json()["error"]
        assert (error["code"], error["details"]["rule"]) == ("section_suspended", SECTION_RULE)
    # No new accounts there, not even from a registry administrator; other sections are unaffected.
    account = {"holder": "Accra Carbon", "section": "GHA", "type": "holding"}
    opened = await ledger.propose({"kind": "open_account", **account})
    applied = await ledger.propose(
        {"kind": "apply_for_account", **account}, grants=[Grant("section_user", section="GHA")], subject="alice"
    )
    assert [r.json()["error"]["code"] for r in (opened, applied)] == ["section_suspended", "section_suspended"]
    await ledger.ok({"kind": "open_account", "holder": "Zurich Carbon", "section": "CHE", "type": "holding"})

    # A registry administrator's corrective transfer is still recorded, breaking no rule.
    corrected = await ledger.ok(
        {"kind": "corrective_transfer", "correction": "reversal", "corrects": sent["transaction_id"], "reason": "error"}
    )
    assert corrected["broken_rules"] == []
    assert (await ledger.balance(acc["gha_holding"]), await ledger.balance(acc["che_holding"])) == (50, 0)

    await ledger.ok(section_status("GHA", "active"))
    unchanged = await ledger.propose(section_status("GHA", "active"))
    assert unchanged.status_code == 409 and unchanged.json()["error"]["code"] == "status_unchanged"
    accepted = await ledger.ok(transfer(acc["gha_holding"], acc["che_holding"], 5), grants=GHA_ADMIN, subject="sam")
    entry = (await ledger.get("/journal", after=accepted["journal_sequence"] - 1, limit=1))["items"][0]
    assert SECTION_RULE in entry["body"]["rules_applied"]


async def test_a6r42_only_registry_administrators_change_a_sections_status(ledger: LedgerClient) -> None:
    await ledger.ok({"kind": "create_section", "party": "GHA", "name": "Ghana"})
    for grants in (GHA_ADMIN, [Grant("section_user", section="GHA")], SERVICE):
        refused = await ledger.propose(section_status("GHA", "suspended"), grants=grants, subject="sam")
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_authorized", refused.text
    # An elevated operation: a second factor proven in the last minutes (step-up).
    stale = issue_token(
        dev_signing_key(DEV_TOKEN_SECRET), "rada", [Grant("registry_administrator")], auth_time=int(time.time()) - 600
    )
    without_step_up = await ledger.http.put(
        f"{ledger.base_url}/transactions/{uuid.uuid4()}",
        json=section_status("GHA", "suspended"),
        headers={"Authorization": f"Bearer {stale}"},
    )
    assert without_step_up.status_code == 401 and without_step_up.json()["error"]["code"] == "step_up_required"
    unknown = await ledger.propose(section_status("PER", "suspended"))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_section"
    assert [s["status"] for s in await ledger.get("/sections")] == ["active"]
