"""Compliance rules on the end state (A6R-19): after a recorded transaction, and on demand."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from rules import samples

from .conftest import T0, Bus, RulesClient, add_rule, bind

pytestmark = pytest.mark.integration

NO_OLD_VINTAGES = {
    "kind": "compliance",
    "expression": "holding.account.type == 'holding' && holding.vintage < params.before",
    "params": {"before": {"type": "int", "default": 2021}},
    "section_bindable": True,
    "effect": {"type": "violation", "message": "Holding accounts of GHA hold no units of vintages before 2021."},
}


def recorded(tx: str, operations: list[dict[str, Any]]) -> dict[str, Any]:
    """A ledger.TransactionRecorded payload as the ledger's writer builds it."""
    return {
        "transaction_id": tx,
        "kind": "transfer_units",
        "status": "recorded",
        "initiator": "alice",
        "on_behalf_of": None,
        "operations": operations,
        "recorded_at": T0 + timedelta(minutes=1),
    }


def block(block_id: int, account: str, first: int, last: int, vintage: int) -> dict[str, Any]:
    scope = {**samples.SCOPE, "vintage": vintage}
    return {
        "block_id": block_id,
        "account": account,
        "scope": scope,
        "first": first,
        "last": last,
        "quantity": last - first + 1,
    }


async def test_a6r19_a_violation_is_detected_after_a_recorded_transaction(rules: RulesClient, bus: Bus) -> None:
    await add_rule(rules, "no-old-vintages", **NO_OLD_VINTAGES)
    await bind(rules, "no-old-vintages", "section", "GHA")
    # The ledger describes the accounts in its proposals; the rules service remembers them.
    holding = samples.account("GHA-100001")
    proposal = samples.proposal(source=samples.account("GHA-100009", type="issuance"), destination=holding)
    await bus.publish("ledger.proposals", "rules.ProposalSubmitted", proposal["transaction_id"], proposal)
    await bus.wait_for(lambda e: e.type == "rules.VerdictGiven")

    issue = recorded(
        "tx-issue", [{"op": "issue", "account": "GHA-100009", "blocks": [block(1, "GHA-100009", 1, 100, 2019)]}]
    )
    await bus.publish("ledger.transactions", "ledger.TransactionRecorded", "tx-issue", issue)
    moved = [block(3, "GHA-100001", 1, 40, 2019)]
    transfer = recorded(
        "tx-move", [{"op": "transfer", "source": "GHA-100009", "destination": "GHA-100001", "blocks": moved}]
    )
    await bus.publish("ledger.transactions", "ledger.TransactionRecorded", "tx-move", transfer)

    violation = (await bus.wait_for(lambda e: e.type == "rules.ComplianceViolation")).payload
    assert (violation["rule"], violation["version"], violation["account"]) == ("no-old-vintages", 1, "GHA-100001")
    assert (violation["transaction_id"], violation["quantity"], violation["scope"]["vintage"]) == ("tx-move", 40, 2019)
    # The issuance account is no holding account: it holds the other 60 without a violation.
    stored = await rules.ok("GET", "/compliance/violations")
    assert [(v["account"], v["transaction_id"]) for v in stored] == [("GHA-100001", "tx-move")]

    check = await rules.ok("POST", "/compliance/checks", {"section": "GHA"})
    assert check["holdings_checked"] == 2
    (found,) = check["violations"]
    assert (found["account"], found["transaction_id"], found["check_id"]) == (
        "GHA-100001",
        "tx-move",
        check["check_id"],
    )
    published = await bus.wait_for(
        lambda e: e.type == "rules.ComplianceViolation" and e.payload["check_id"] is not None
    )
    assert published.payload["violation_id"] == found["violation_id"]


async def test_a6r19_without_compliance_rules_a_run_of_transactions_is_placed_at_once(
    rules: RulesClient, bus: Bus
) -> None:
    """With no compliance rule bound, recorded transactions that arrive together are placed in the
    holdings read model at once; an on-demand check made later sees the holdings they left."""
    holding = samples.account("GHA-100001")
    proposal = samples.proposal(source=samples.account("GHA-100009", type="issuance"), destination=holding)
    await bus.publish("ledger.proposals", "rules.ProposalSubmitted", proposal["transaction_id"], proposal)
    await bus.wait_for(lambda e: e.type == "rules.VerdictGiven")

    def move(tx: str, source: str, destination: str, moved: dict[str, Any]) -> dict[str, Any]:
        return recorded(tx, [{"op": "transfer", "source": source, "destination": destination, "blocks": [moved]}])

    issue = [{"op": "issue", "account": "GHA-100009", "blocks": [block(1, "GHA-100009", 1, 100, 2019)]}]
    await bus.publish("ledger.transactions", "ledger.TransactionRecorded", "tx-issue", recorded("tx-issue", issue))
    await _holdings_checked(rules, 1)
    # Then three at once, over the stored row.
    events = [
        ("tx-move", move("tx-move", "GHA-100009", "GHA-100001", block(3, "GHA-100001", 1, 40, 2019))),
        ("tx-back", move("tx-back", "GHA-100001", "GHA-100009", block(5, "GHA-100009", 31, 40, 2019))),
        ("tx-other", move("tx-other", "GHA-100009", "GHA-100001", block(7, "GHA-100001", 1, 5, 2022))),
    ]
    await asyncio.gather(
        *(bus.publish("ledger.transactions", "ledger.TransactionRecorded", tx, payload) for tx, payload in events)
    )
    await _holdings_checked(rules, 3)
    await add_rule(rules, "no-old-vintages", **NO_OLD_VINTAGES)
    await bind(rules, "no-old-vintages", "section", "GHA")
    (found,) = (await rules.ok("POST", "/compliance/checks", {"section": "GHA"}))["violations"]
    # GHA-100001 keeps 1..30 of 2019 (31..40 went back) and 1..5 of 2022, which breaks nothing.
    assert (found["account"], found["quantity"], found["scope"]["vintage"]) == ("GHA-100001", 30, 2019)
    assert found["transaction_id"] == "tx-move"


async def _holdings_checked(rules: RulesClient, count: int) -> None:
    """Wait until an on-demand check of GHA finds `count` holdings (account and scope)."""
    for _ in range(100):
        if (await rules.ok("POST", "/compliance/checks", {"section": "GHA"}))["holdings_checked"] == count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the holdings read model never held {count} holdings")
