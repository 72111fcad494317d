"""Evaluation: bindings, suspensions, corrections and failures (A6R-17, A6R-37, A6R-38, A6R-39, A6R-55)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from rules import samples
from rules.domain.catalogue import Deny, RuleVersion
from rules.domain.context import proposal_context
from rules.domain.evaluation import Snapshot, evaluate_proposal

from .conftest import T0, bind, pack_versions, snapshot

AT = T0 + timedelta(hours=1)
CAP = "transaction-quantity-cap"


def verdict(snap: Snapshot, at: Any = AT, **proposal: Any) -> dict[str, Any]:
    return evaluate_proposal(
        snap, proposal_context(samples.proposal(proposed_at=at, **proposal)), at=at, evaluated_at=at
    )


def test_a6r39_the_verdict_names_each_rule_and_version_applied() -> None:
    result = verdict(snapshot(bind(CAP, max_quantity=10)))
    assert result["outcome"] == "deny"
    assert result["rules"] == [
        {
            "rule": CAP,
            "version": 1,
            "binding_id": f"b-{CAP}-*",
            "target_type": "registry",
            "target": "*",
            "effect": "deny",
            "fired": True,
            "skipped": None,
        }
    ]
    assert result["denials"][0]["rule"] == CAP and result["catalogue_sequence"] == 1


def test_a6r39_a_retired_version_stops_applying_at_its_retire_at() -> None:
    versions = pack_versions()
    v1 = replace(versions[CAP][0], retire_at=T0 + timedelta(hours=2))
    snap = snapshot(bind(CAP, max_quantity=10), versions={CAP: [v1]})
    assert verdict(snap, at=T0 + timedelta(hours=1))["outcome"] == "deny"
    after = verdict(snap, at=T0 + timedelta(hours=2))
    assert after["outcome"] == "accept" and after["rules"] == []


def test_a6r17_suspended_rules_and_bindings_do_not_apply() -> None:
    binding = bind(CAP, max_quantity=10)
    assert verdict(snapshot(binding, suspended_rules=frozenset({CAP})))["rules"] == []
    assert verdict(snapshot(binding, suspended_bindings=frozenset({binding.id})))["rules"] == []
    assert verdict(snapshot(binding))["outcome"] == "deny"


def test_the_most_specific_binding_applies_once() -> None:
    registry_wide = bind(CAP, max_quantity=10)
    for_section = bind(CAP, "section", "GHA", max_quantity=1000)
    result = verdict(snapshot(registry_wide, for_section), destination=samples.account("GHA-2"))
    assert result["outcome"] == "accept"
    assert [r["binding_id"] for r in result["rules"]] == [for_section.id]


def test_a6r55_corrections_skip_pluggable_rules_and_list_the_ones_they_break() -> None:
    snap = snapshot(bind(CAP, max_quantity=10), bind("registry-commission", fee_account="REG-9"))
    result = verdict(snap, kind="correction", corrects="5e0c7f6e-5a0e-4f2b-9a44-0a7e4c1b2d3e")
    assert result["outcome"] == "accept"
    assert result["supplementary_operations"] == []
    assert [(b["rule"], b["code"]) for b in result["broken_rules"]] == [(CAP, "quantity_above_cap")]
    assert {r["rule"]: r["skipped"] for r in result["rules"]} == {
        CAP: "correction",
        "registry-commission": "correction",
    }


def test_section_administrator_bindings_apply_only_section_bindable_versions() -> None:
    versions = {"quiet": [RuleVersion("quiet", 1, "business", Deny("no"), "true", effective_from=T0)]}
    binding = replace(bind("quiet", "section", "GHA"), by_section_administrator=True)
    result = verdict(snapshot(binding, versions=versions))
    assert result["outcome"] == "accept"
    assert result["rules"][0]["skipped"] == "not_section_bindable"


def test_a6r37_rules_see_the_initiator_and_account_types() -> None:
    expression = "proposal.destination.type == 'cancellation' && !proposal.initiator_grants.exists(g, g.role == 'x')"
    versions = {"types": [RuleVersion("types", 1, "business", Deny("no"), expression, effective_from=T0)]}
    snap = snapshot(bind("types"), versions=versions)
    assert verdict(snap, destination=samples.account("GHA-9", type="cancellation"))["outcome"] == "deny"
    assert verdict(snap)["outcome"] == "accept"


def test_a_rule_that_fails_on_the_data_denies_with_the_reason() -> None:
    expression = "proposal.units[1].vintage > 2000"  # one unit range only: index past the end
    versions = {"second": [RuleVersion("second", 1, "business", Deny("no"), expression, effective_from=T0)]}
    result = verdict(snapshot(bind("second"), versions=versions))
    assert result["outcome"] == "deny"
    assert result["denials"][0]["code"] == "rule_error"
    assert "could not be evaluated" in result["denials"][0]["message"]


def test_a_registry_binding_applies_where_a_section_binding_may_not() -> None:
    versions = {"quiet": [RuleVersion("quiet", 1, "business", Deny("no"), "true", effective_from=T0)]}
    by_section = replace(bind("quiet", "section", "GHA"), by_section_administrator=True)
    result = verdict(snapshot(by_section, bind("quiet"), versions=versions))
    assert result["outcome"] == "deny"
    assert result["rules"][0]["target_type"] == "registry"


def test_a6r19_a_catalogue_binds_compliance_only_through_an_unsuspended_binding_of_a_compliance_rule() -> None:
    compliance = RuleVersion(
        "no-old-vintages",
        1,
        "compliance",
        None,
        "holding.vintage < 2021",
        effective_from=T0,  # type: ignore[arg-type]
    )
    versions = {**pack_versions(), "no-old-vintages": [compliance]}
    assert not snapshot(bind(CAP, max_quantity=10), versions=versions).binds("compliance")
    bound = bind("no-old-vintages", "section", "GHA")
    assert snapshot(bind(CAP, max_quantity=10), bound, versions=versions).binds("compliance")
    assert not snapshot(bound, versions=versions, suspended_bindings=frozenset({bound.id})).binds("compliance")
    assert not snapshot(bound, versions=versions, suspended_rules=frozenset({"no-old-vintages"})).binds("compliance")


COMMISSION = "registry-commission"
GHA, CHE = samples.account("GHA-100001"), samples.account("CHE-100002", section="CHE")


def _by_section(rule: str, section: str, **params: Any) -> Any:
    return replace(bind(rule, "section", section, **params), by_section_administrator=True)


def test_a6r38_a_section_binding_never_takes_units_from_another_partys_account() -> None:
    """A6R-37/A6R-38: GHA's section administrator binds the commission to GHA with its own fee
    account; a transfer from GHA to CHE must not move CHE's units to GHA's fee account."""
    snap = snapshot(_by_section(COMMISSION, "GHA", fee_account="GHA-FEE", share="0.5"))
    out = verdict(snap, source=GHA, destination=CHE)
    assert out["outcome"] == "accept"
    assert out["supplementary_operations"] == [] and out["rules"] == []
    # On GHA's side (units arriving in GHA) the binding applies, taking from GHA's account.
    (op,) = verdict(snap, source=CHE, destination=GHA)["supplementary_operations"]
    assert (op["from_account"], op["to_account"], op["quantity"]) == ("GHA-100001", "GHA-FEE", 50)


def test_a6r38_a_section_binding_does_not_displace_the_registry_or_the_other_partys_binding() -> None:
    registry_wide = bind(COMMISSION, fee_account="REG-9")
    gha = _by_section(COMMISSION, "GHA", fee_account="GHA-FEE")
    (op,) = verdict(snapshot(registry_wide, gha), source=GHA, destination=CHE)["supplementary_operations"]
    assert (op["binding_id"], op["from_account"], op["to_account"]) == (registry_wide.id, "CHE-100002", "REG-9")
    che = _by_section(COMMISSION, "CHE", fee_account="CHE-FEE")
    (op,) = verdict(snapshot(registry_wide, gha, che), source=GHA, destination=CHE)["supplementary_operations"]
    assert (op["binding_id"], op["to_account"]) == (che.id, "CHE-FEE")


def test_a6r37_a_looser_section_cap_does_not_lift_the_registry_cap_on_the_other_side() -> None:
    """Each side keeps its own binding: GHA's cap of 1000 applies to GHA's account, the registry's
    cap of 10 still to CHE's, so a transfer of 100 from GHA to CHE is denied; inside GHA it is not."""
    registry_wide = bind(CAP, max_quantity=10)
    gha = _by_section(CAP, "GHA", max_quantity=1000)
    across = verdict(snapshot(registry_wide, gha), source=GHA, destination=CHE)
    assert across["outcome"] == "deny"
    assert {(r["binding_id"], r["fired"]) for r in across["rules"]} == {(gha.id, False), (registry_wide.id, True)}
    inside = verdict(snapshot(registry_wide, gha), source=GHA, destination=samples.account("GHA-2"))
    assert inside["outcome"] == "accept" and [r["binding_id"] for r in inside["rules"]] == [gha.id]
