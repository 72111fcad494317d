"""The shipped rule pack, rule by rule (A6R-38): each bound alone and evaluated on sample proposals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from registry_contracts.events.rules import ProposalSubmitted, VerdictGiven
from rules import samples
from rules.domain.context import proposal_context
from rules.domain.evaluation import Snapshot, evaluate_proposal
from rules.service_layer.pack import read_pack, shipped_packs

from .conftest import T0, bind, snapshot

AT = T0 + timedelta(days=1)


def verdict(snap: Snapshot, **proposal: Any) -> dict[str, Any]:
    payload = ProposalSubmitted.model_validate(samples.proposal(proposed_at=AT, **proposal))
    result = evaluate_proposal(snap, proposal_context(payload.model_dump()), at=AT, evaluated_at=AT)
    return VerdictGiven.model_validate(result).model_dump(mode="json")


def test_a6r38_the_pack_ships_its_rules() -> None:
    assert "article6-basic" in shipped_packs()
    assert [r.name for r in read_pack("article6-basic").rules] == [
        "same-approach-destination",
        "vintage-window",
        "transaction-quantity-cap",
        "share-of-proceeds",
        "omge-cancellation",
        "registry-commission",
        "authorized-units-leave-their-party",
    ]


def _descriptors(authorized: bool) -> list[dict[str, Any]]:
    authorization = {
        "descriptor_id": "auth-1",
        "dedication": "ndc",
        "authorized_by": "GHA",
        "applicable_from": (T0 - timedelta(days=3)).isoformat(),
    }
    return [
        {
            "scope": samples.unit()["scope"],
            "first": 1,
            "last": 100,
            "authorization": authorization if authorized else None,
            "first_transfer": None,
        }
    ]


def test_a6r45_unauthorized_units_may_not_leave_their_partys_section() -> None:
    snap = snapshot(bind("authorized-units-leave-their-party"))
    denied = verdict(snap, descriptors=_descriptors(authorized=False))
    assert denied["outcome"] == "deny" and denied["denials"][0]["code"] == "units_not_authorized"
    assert verdict(snap, descriptors=_descriptors(authorized=True))["outcome"] == "accept"
    # Within the Party's own section, authorization does not matter.
    home = samples.account("GHA-100002")
    assert verdict(snap, destination=home, descriptors=_descriptors(authorized=False))["outcome"] == "accept"
    # Without the descriptors service, proposals carry no descriptors and the rule stays silent.
    assert verdict(snap)["outcome"] == "accept"


def test_a6r38_destination_must_be_in_the_units_cooperative_approach() -> None:
    snap = snapshot(bind("same-approach-destination", "cooperative_approach", "CA0001"))
    assert verdict(snap)["outcome"] == "accept"
    outside = samples.account("CHE-100009", section="CHE", approach="CA0002")
    denied = verdict(snap, destination=outside)
    assert denied["outcome"] == "deny"
    assert denied["denials"][0]["code"] == "destination_outside_approach"
    # Bound to another approach, the rule does not meet these units or accounts.
    assert (
        verdict(snapshot(bind("same-approach-destination", "cooperative_approach", "CA0009")), destination=outside)[
            "rules"
        ]
        == []
    )


@pytest.mark.parametrize(("vintage", "outcome"), [(2020, "deny"), (2021, "accept"), (2030, "accept"), (2031, "deny")])
def test_a6r38_vintage_window(vintage: int, outcome: str) -> None:
    snap = snapshot(bind("vintage-window", "section", "GHA", vintage_from=2021, vintage_to=2030))
    assert verdict(snap, units=[samples.unit(vintage=vintage)])["outcome"] == outcome


@pytest.mark.parametrize(("last", "outcome"), [(500, "accept"), (501, "deny")])
def test_a6r38_per_transaction_quantity_cap(last: int, outcome: str) -> None:
    snap = snapshot(bind("transaction-quantity-cap", "account", "GHA-100001", max_quantity=500))
    assert verdict(snap, units=[samples.unit(1, last)])["outcome"] == outcome


def test_a6r38_share_of_proceeds_at_issuance_is_five_percent_rounded_half_up() -> None:
    snap = snapshot(bind("share-of-proceeds", adaptation_account="REG-100050"))
    issuance = verdict(snap, kind="issuance", units=[samples.unit(1, 1010)], destination=samples.account("GHA-1"))
    (op,) = issuance["supplementary_operations"]
    assert (op["kind"], op["from_account"], op["to_account"]) == ("transfer", "GHA-1", "REG-100050")
    assert (op["quantity"], op["exact_quantity"], op["share"], op["rounding"]) == (51, "50.5", "0.05", "half_up")
    assert (op["rule"], op["rule_version"], op["basis"]) == ("share-of-proceeds", 1, 1010)
    assert verdict(snap)["supplementary_operations"] == []  # transfers pay no share of proceeds


def test_a6r38_omge_cancellation_at_first_transfer_is_two_percent_rounded_up() -> None:
    snap = snapshot(bind("omge-cancellation", omge_account="REG-100051"))
    first = verdict(snap, units=[samples.unit(1, 120)])
    (op,) = first["supplementary_operations"]
    assert (op["kind"], op["to_account"], op["quantity"], op["exact_quantity"]) == (
        "cancellation",
        "REG-100051",
        3,
        "2.4",
    )
    # Units already first transferred by their Party (here, held in another Party's account) pay no OMGE.
    che = samples.account("CHE-100002", section="CHE")
    again = verdict(snap, source=che, destination=samples.account("JPN-1", section="JPN"))
    assert again["supplementary_operations"] == []
    # A transfer inside the Party's own section is no first transfer.
    assert verdict(snap, destination=samples.account("GHA-2"))["supplementary_operations"] == []
    # Units leaving for another registry are in the proxy account: no share of them is taken here
    # (the ledger would reject the transfer for it, A6R-54).
    proxy = samples.account("REG-100009", type="proxy", section=None)
    leaving = verdict(snap, kind="external_transfer_out", destination=proxy)
    assert leaving["outcome"] == "accept" and leaving["supplementary_operations"] == []


def test_a6r38_commission_to_the_registry_fee_account() -> None:
    snap = snapshot(bind("registry-commission", fee_account="REG-100052", share="0.015"))
    (op,) = verdict(snap, units=[samples.unit(1, 99)])["supplementary_operations"]
    assert (op["to_account"], op["quantity"], op["exact_quantity"], op["rounding"]) == (
        "REG-100052",
        1,
        "1.485",
        "floor",
    )


def test_a6r38_the_whole_pack_together() -> None:
    snap = snapshot(
        bind("same-approach-destination", "cooperative_approach", "CA0001"),
        bind("vintage-window", vintage_from=2021),
        bind("transaction-quantity-cap", max_quantity=10_000),
        bind("share-of-proceeds", adaptation_account="REG-1"),
        bind("omge-cancellation", omge_account="REG-2"),
        bind("registry-commission", fee_account="REG-3"),
    )
    result = verdict(snap, units=[samples.unit(1, 1000)])
    assert result["outcome"] == "accept"
    assert [(o["sequence"], o["to_account"], o["quantity"]) for o in result["supplementary_operations"]] == [
        (1, "REG-2", 20),
        (2, "REG-3", 10),
    ]
    assert [r["rule"] for r in result["rules"] if r["fired"]] == ["omge-cancellation", "registry-commission"]
    assert len(result["rules"]) == 6, "the descriptor rule is not bound here"
