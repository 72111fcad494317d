"""The saga through the broker: the ledger's proposal in, the verdict out (A6R-38, A6R-39, A6R-47)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from registry_contracts.verdicts import (
    DEV_VERDICT_SEED,
    check_verdict,
    proposal_digest,
    verdict_key,
    verdict_public_key,
)
from registry_platform import db
from rules import samples
from rules.adapters.readmodel import ReadModel

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
    published = await bus.publish("ledger.proposals", "rules.ProposalSubmitted", issuance["transaction_id"], issuance)
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

    # Signed with the verdict key, for the proposal as it was published (registry_contracts.verdicts).
    check_verdict(accepted, verdict_public_key(verdict_key(DEV_VERDICT_SEED)), proposal_digest(published.payload))
    # The evaluation is stored with the proposal and the rule versions it applied (A6R-39).
    stored = await rules.ok("GET", f"/evaluations/{issuance['transaction_id']}")
    unsigned = {**accepted, "signature": None}
    assert stored["verdict"] == unsigned and stored["proposal"]["transaction_id"] == issuance["transaction_id"]

    # The same proposal again (a ledger that lost the answer) gets the same verdict again.
    await bus.publish("ledger.proposals", "rules.ProposalSubmitted", issuance["transaction_id"], issuance)
    first, second = await bus.wait_for_all(verdict_for(issuance["transaction_id"]), 2)
    assert first.payload == second.payload and first.event_id != second.event_id


async def test_a6r38_a6r47_a_copy_of_a_proposal_carrying_other_descriptors_does_not_answer_the_original(
    rules: RulesClient, bus: Bus
) -> None:
    """Whoever can write to the broker publishes, under a real transaction id, a copy of the
    ledger's proposal carrying made-up descriptors (here: units without authorization, which a
    bound rule denies), ahead of the original. The original is judged on its own (accepted: it
    carries no descriptors), signed for its digest; the copy's verdict names the copy's digest,
    which the ledger does not accept for the original (registry_contracts.verdicts). Before, the
    copy's verdict was reused for the original, the two counting as the same proposal."""
    await rules.ok("POST", "/packs/article6-basic")
    await bind(rules, "authorized-units-leave-their-party")
    at = T0 + timedelta(minutes=5)
    original = samples.proposal(units=[samples.unit(1, 50)], proposed_at=at)
    made_up = {"scope": original["units"][0]["scope"], "first": 1, "last": 50}
    tx = original["transaction_id"]
    copy = await bus.publish("ledger.proposals", "rules.ProposalSubmitted", tx, {**original, "descriptors": [made_up]})
    first = await bus.wait_for(verdict_for(tx))
    sent = await bus.publish("ledger.proposals", "rules.ProposalSubmitted", tx, original)
    verdicts = await bus.wait_for_all(verdict_for(tx), 2)
    key = verdict_public_key(verdict_key(DEV_VERDICT_SEED))
    check_verdict(first.payload, key, proposal_digest(copy.payload))
    (answer,) = [v.payload for v in verdicts if v.event_id != first.event_id]
    check_verdict(answer, key, proposal_digest(sent.payload))
    assert (first.payload["outcome"], answer["outcome"]) == ("deny", "accept")


async def test_a6r17_configuration_changes_are_published_as_events(rules: RulesClient, bus: Bus) -> None:
    await add_rule(rules, "cap", **CAP)
    event = await bus.wait_for(lambda e: e.type == "rules.ConfigurationChanged")
    assert event.payload["sequence"] == 1 and event.payload["kind"] == "rule_version_added"
    assert event.payload["body"]["definition"]["expression"] == CAP["expression"]


async def test_a6r39_proposals_fetched_together_each_get_one_verdict_and_one_stored_evaluation(
    rules: RulesClient, bus: Bus, database_url: str
) -> None:
    """Proposals that arrive together are evaluated in one transaction (one read of earlier
    evaluations, one write of accounts, evaluations and verdicts). Each proposal event still gets
    its own verdict; a proposal sent twice in the same run gets the same verdict twice and is
    stored once. An account described twice in one write keeps its last description and is dated
    by its first."""
    await add_rule(rules, "cap", **CAP)
    await bind(rules, "cap", "cooperative_approach", "CA0001", max_quantity=100)
    at = T0 + timedelta(minutes=5)
    proposals = [samples.proposal(units=[samples.unit(1, q)], proposed_at=at) for q in (50, 150, 60, 70)]
    sent = [*proposals, proposals[1]]
    await asyncio.gather(
        *(bus.publish("ledger.proposals", "rules.ProposalSubmitted", p["transaction_id"], p) for p in sent)
    )
    verdicts = await bus.wait_for_all(lambda e: e.type == "rules.VerdictGiven", len(sent))
    outcomes = [(v.payload["transaction_id"], v.payload["outcome"]) for v in verdicts]
    expected = [(p["transaction_id"], "deny" if p is proposals[1] else "accept") for p in sent]
    assert sorted(outcomes) == sorted(expected)
    twice = [v.payload for v in verdicts if v.payload["transaction_id"] == proposals[1]["transaction_id"]]
    assert twice[0] == twice[1]
    engine = db.create_engine(database_url, "rules")
    try:
        async with engine.connect() as conn:
            stored = dict(
                (await conn.execute(text("SELECT transaction_id, count(*) FROM evaluations GROUP BY 1"))).all()
            )
        assert stored == {p["transaction_id"]: 1 for p in proposals}

        renamed = {**samples.account("GHA-100001"), "holder": "Renamed holder"}
        new = samples.account("GHA-100077")
        async with engine.begin() as conn:
            await ReadModel(conn).describe_accounts([(new, at), (renamed, at), (new, at + timedelta(hours=1))])
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT number, holder, updated_at FROM accounts WHERE number IN ('GHA-100001', 'GHA-100077')")
            )
            accounts = {r.number: (r.holder, r.updated_at) for r in rows}
    finally:
        await engine.dispose()
    assert accounts["GHA-100001"][0] == "Renamed holder"
    assert accounts["GHA-100077"] == ("holder of GHA-100077", at)


async def test_a6r39_a_proposal_evaluated_late_is_judged_by_the_bindings_of_its_instant(
    rules: RulesClient, bus: Bus
) -> None:
    """A proposal made before a binding, evaluated after it (the consumer lagging), is not judged by
    it; one made before the binding's removal or suspension still is."""
    await add_rule(rules, "cap", **CAP)
    big = {"units": [samples.unit(1, 150)]}
    before = rules.clock.now + timedelta(minutes=1)
    rules.clock.advance(timedelta(minutes=10))
    binding = await bind(rules, "cap", max_quantity=100)
    bound = rules.clock.now + timedelta(minutes=1)

    async def outcome(at: datetime) -> str:
        return str((await rules.preview(samples.proposal(proposed_at=at, **big)))["outcome"])

    assert (await outcome(before), await outcome(bound)) == ("accept", "deny")
    late = samples.proposal(proposed_at=before, **big)
    await bus.publish("ledger.proposals", "rules.ProposalSubmitted", late["transaction_id"], late)
    assert (await bus.wait_for(verdict_for(late["transaction_id"]))).payload["outcome"] == "accept"

    rules.clock.advance(timedelta(minutes=10))
    await rules.ok("POST", f"/bindings/{binding}/suspension", {"reason": "an emergency stop"})
    suspended = rules.clock.now + timedelta(minutes=1)
    rules.clock.advance(timedelta(minutes=10))
    await rules.ok("POST", f"/bindings/{binding}/reactivation", {"reason": "the emergency is over"})
    rules.clock.advance(timedelta(minutes=10))
    await rules.ok("POST", f"/bindings/{binding}/removal", {"reason": "replaced by a section cap"})
    assert (await outcome(bound), await outcome(suspended), await outcome(rules.clock.now)) == (
        "deny",
        "accept",
        "accept",
    )
