"""The saga through the broker: the ledger's proposal in, the verdict out (A6R-38, A6R-39, A6R-47)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rules import samples

from .conftest import CAP, T0, Bus, RulesClient, add_rule, bind

pytestmark = pytest.mark.integration


def verdict_for(tx: str):  # type: ignore[no-untyped-def]
    return lambda e: e.type == "rules.VerdictGiven" and e.key == tx


async def test_a6r38_a_proposal_event_gets_a_verdict_event(rules: RulesClient, bus: Bus) -> None:
    # The rules are added after the service started: no restart between configuration and use.
    await add_rule(rules, "cap", **CAP)
    await bind(rules, "cap", "cooperative_approach", "CA0001", max_quantity=100)
    await rules.ok("POST", "/packs/article6-basic")
    await bind(rules, "share-of-proceeds", adaptation_account="REG-100009")

    at = T0 + timedelta(minutes=5)
    transfer = samples.proposal(units=[samples.unit(1, 150)], proposed_at=at)
    sent = await bus.publish("ledger.proposals", "rules.ProposalSubmitted", transfer["transaction_id"], transfer)
    denied = await bus.wait_for(verdict_for(transfer["transaction_id"]))
    assert denied.causation_id == sent.event_id and denied.correlation_id == sent.correlation_id
    assert denied.payload["outcome"] == "deny"
    assert denied.payload["denials"] == [
        {"rule": "cap", "version": 1, "code": "quantity_above_cap", "message": "Too many units in one transfer."}
    ]
    applied = {(r["rule"], r["version"]) for r in denied.payload["rules"]}
    assert ("cap", 1) in applied and ("share-of-proceeds", 1) in applied

    issuance = samples.proposal(
        kind="issuance",
        units=[samples.unit(1, 90)],
        destination=samples.account("GHA-100003", type="issuance"),
        proposed_at=at,
    )
    await bus.publish("ledger.proposals", "rules.ProposalSubmitted", issuance["transaction_id"], issuance)
    accepted = (await bus.wait_for(verdict_for(issuance["transaction_id"]))).payload
    assert accepted["outcome"] == "accept"
    (op,) = accepted["supplementary_operations"]
    assert (op["from_account"], op["to_account"], op["quantity"], op["exact_quantity"], op["rounding"]) == (
        "GHA-100003",
        "REG-100009",
        5,
        "4.5",
        "half_up",
    )

    # The evaluation is stored with the proposal and the rule versions it applied (A6R-39).
    stored = await rules.ok("GET", f"/evaluations/{issuance['transaction_id']}")
    assert stored["verdict"] == accepted and stored["proposal"]["transaction_id"] == issuance["transaction_id"]

    # The same proposal again (a ledger that lost the answer) gets the same verdict again.
    await bus.publish("ledger.proposals", "rules.ProposalSubmitted", issuance["transaction_id"], issuance)
    first, second = await bus.wait_for_all(verdict_for(issuance["transaction_id"]), 2)
    assert first.payload == second.payload and first.event_id != second.event_id


async def test_a6r17_configuration_changes_are_published_as_events(rules: RulesClient, bus: Bus) -> None:
    await add_rule(rules, "cap", **CAP)
    event = await bus.wait_for(lambda e: e.type == "rules.ConfigurationChanged")
    assert event.payload["sequence"] == 1 and event.payload["kind"] == "rule_version_added"
    assert event.payload["body"]["definition"]["expression"] == CAP["expression"]
