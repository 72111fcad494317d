"""Evaluation: bindings, suspensions, corrections and failures (A6R-17, A6R-37, A6R-38, A6R-39, A6R-55)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules import samples
from rules.domain.catalogue import Deny, RuleVersion, Supplementary
from rules.domain.context import proposal_context
from rules.domain.evaluation import Snapshot, evaluate_proposal
from rules.domain.plugins import PluginOutcome
from rules.domain.shares import ROUNDINGS

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
    ops = verdict(snapshot(che, registry_wide, gha), source=GHA, destination=CHE)["supplementary_operations"]
    # CHE's own binding adds to the registry's on CHE's side; GHA's acts on neither side.
    assert [(op["binding_id"], op["to_account"]) for op in ops] == [(registry_wide.id, "REG-9"), (che.id, "CHE-FEE")]


def test_a6r37_a_looser_section_cap_lifts_the_registry_cap_on_no_side() -> None:
    """A6R-37/A6R-38: GHA's section administrator's cap of 1000 adds to the registry's cap of 10,
    on GHA's side too: a transfer of 100 is denied across sections and inside GHA alike."""
    registry_wide = bind(CAP, max_quantity=10)
    gha = _by_section(CAP, "GHA", max_quantity=1000)
    across = verdict(snapshot(registry_wide, gha), source=GHA, destination=CHE)
    assert across["outcome"] == "deny"
    assert [(r["binding_id"], r["fired"]) for r in across["rules"]] == [(registry_wide.id, True), (gha.id, False)]
    inside = verdict(snapshot(gha, registry_wide), source=GHA, destination=samples.account("GHA-2"))
    assert inside["outcome"] == "deny"
    assert [(r["binding_id"], r["fired"]) for r in inside["rules"]] == [(registry_wide.id, True), (gha.id, False)]


def test_a6r38_a_section_administrators_share_adds_to_the_registrys_and_never_replaces_it() -> None:
    """A6R-38 b: GHA's section administrator binds the commission to GHA with a negligible share and
    their own account; the registry's 2% is still taken on GHA's side, then GHA's share after it."""
    registry_wide = bind(COMMISSION, fee_account="REG-9", share="0.02")
    gha = _by_section(COMMISSION, "GHA", fee_account="GHA-FEE", share="0.000000000001")
    out = verdict(snapshot(gha, registry_wide), source=CHE, destination=GHA)
    assert [(r["binding_id"], r["fired"]) for r in out["rules"]] == [(registry_wide.id, True), (gha.id, True)]
    (op,) = out["supplementary_operations"]  # GHA's share of 100 rounds down to nothing
    assert (op["binding_id"], op["from_account"], op["to_account"], op["quantity"]) == (
        registry_wide.id,
        "GHA-100001",
        "REG-9",
        2,
    )


def test_a6r38_an_issuance_does_not_escape_the_registrys_share_through_a_section_binding() -> None:
    """A6R-38 b: an issuance has a destination side only; a section administrator's binding of the
    share of proceeds there adds its operation after the registry's, in a stable order."""
    rule = "share-of-proceeds"
    versions = pack_versions()
    versions[rule] = [replace(versions[rule][0], section_bindable=True)]
    registry_wide = bind(rule, adaptation_account="AF-1", share="0.05")
    gha = _by_section(rule, "GHA", adaptation_account="GHA-AF", share="0.01")
    for bindings in ((registry_wide, gha), (gha, registry_wide)):
        out = verdict(snapshot(*bindings, versions=versions), kind="issuance", destination=GHA)
        assert [(op["to_account"], op["quantity"], op["sequence"]) for op in out["supplementary_operations"]] == [
            ("AF-1", 5, 1),
            ("GHA-AF", 1, 2),
        ]


def test_a6r38_supplementary_operations_together_take_at_most_half_the_units() -> None:
    """A6R-38 b: two shares of 0.5 (the registry's and GHA's) would take all 100 units the
    destination receives: denied, naming the rule whose operation passes the limit of 50."""
    registry_wide = bind(COMMISSION, fee_account="REG-9", share="0.5")
    gha = _by_section(COMMISSION, "GHA", fee_account="GHA-FEE", share="0.5")
    out = verdict(snapshot(registry_wide, gha), source=CHE, destination=GHA)
    assert out["outcome"] == "deny" and out["supplementary_operations"] == []
    ((rule, code, message),) = [(d["rule"], d["code"], d["message"]) for d in out["denials"]]
    assert (rule, code) == (COMMISSION, "supplementary_above_limit")
    assert "take 100 of the 100 units" in message and "more than 50" in message


def test_a6r38_a_share_rounded_up_never_takes_the_only_unit() -> None:
    """A6R-38 b: half of 1 unit, rounded half up, is the whole unit: denied, not taken."""
    snap = snapshot(bind("share-of-proceeds", adaptation_account="AF-1", share="0.5"))
    one = verdict(snap, kind="issuance", destination=GHA, units=[samples.unit(1, 1)])
    assert [d["code"] for d in one["denials"]] == ["supplementary_above_limit"]
    two = verdict(snap, kind="issuance", destination=GHA, units=[samples.unit(1, 2)])
    assert [op["quantity"] for op in two["supplementary_operations"]] == [1]


_shares = st.decimals(min_value="0.0001", max_value="0.5", places=4).map(str)


@settings(max_examples=60, deadline=None)
@given(
    quantity=st.integers(min_value=1, max_value=10**6),
    registry_share=_shares,
    section_share=_shares,
    rounding=st.sampled_from(ROUNDINGS),
)
def test_a6r38_a_verdicts_operations_never_take_more_than_half_the_quantity(
    quantity: int, registry_share: str, section_share: str, rounding: str
) -> None:
    """A6R-38 b: whatever the shares and rounding bound, an accepted verdict's operations take at
    most half the units, rounded down; otherwise the verdict denies, with no operations."""
    versions = pack_versions()
    v = versions[COMMISSION][0]
    assert isinstance(v.effect, Supplementary)
    ops = tuple(replace(op, rounding=rounding) for op in v.effect.operations)
    versions[COMMISSION] = [replace(v, effect=Supplementary(ops))]
    registry_wide = bind(COMMISSION, fee_account="REG-9", share=registry_share)
    gha = _by_section(COMMISSION, "GHA", fee_account="GHA-FEE", share=section_share)
    out = verdict(
        snapshot(registry_wide, gha, versions=versions), source=CHE, destination=GHA, units=[samples.unit(1, quantity)]
    )
    taken = [op["quantity"] for op in out["supplementary_operations"]]
    assert all(t > 0 for t in taken) and sum(taken) <= quantity // 2
    if out["outcome"] == "deny":
        assert taken == [] and [d["code"] for d in out["denials"]] == ["supplementary_above_limit"]


class _Basis:
    """A plugin firing with a given basis (the quantity a share is taken of)."""

    params = {"fee_account": "string", "share": "decimal"}
    kinds = frozenset({"business"})

    def __init__(self, basis: int | None) -> None:
        self.basis = basis

    def evaluate(self, proposal: Any, params: Any) -> PluginOutcome:
        return PluginOutcome(True, basis=self.basis)


@pytest.mark.parametrize(("basis", "taken"), [(None, [1]), (0, []), (40, [0]), (100, [1])])
def test_a6r38_a_plugins_basis_is_the_quantity_a_share_is_taken_of(basis: int | None, taken: list[int]) -> None:
    """A6R-38 b: no basis means the whole quantity; a basis of 0 takes nothing (not everything)."""
    out = _with_basis(basis)
    assert out["outcome"] == "accept"
    assert [op["quantity"] for op in out["supplementary_operations"]] == [q for q in taken if q]


@pytest.mark.parametrize("basis", [-10, 101])
def test_a6r38_a_basis_outside_the_quantity_denies_as_a_rule_error(basis: int) -> None:
    out = _with_basis(basis)
    assert out["outcome"] == "deny" and out["supplementary_operations"] == []
    ((code, message),) = [(d["code"], d["message"]) for d in out["denials"]]
    assert code == "rule_error" and f"the basis {basis} is not between 0 and the quantity 100" in message


def _with_basis(basis: int | None) -> dict[str, Any]:
    versions = pack_versions()
    v = replace(versions[COMMISSION][0], expression=None, plugin="basis.v1")
    snap = snapshot(bind(COMMISSION, fee_account="REG-9"), versions={COMMISSION: [v]})
    snap.plugins = {"basis.v1": _Basis(basis)}
    return verdict(snap, source=CHE, destination=GHA)


def test_a6r39_a_plugin_whose_code_changed_since_its_version_was_saved_denies_as_a_rule_error() -> None:
    """A6R-39: a version naming a plugin pins the plugin's code digest; other code under the same
    name must not decide proposals recorded under that version."""
    versions = pack_versions()
    v = replace(versions[COMMISSION][0], expression=None, plugin="basis.v1", plugin_digest="a" * 64)
    snap = snapshot(bind(COMMISSION, fee_account="REG-9"), versions={COMMISSION: [v]})
    snap.plugins = {"basis.v1": _Basis(None)}
    snap.plugin_digests = {"basis.v1": "a" * 64}
    assert verdict(snap, source=CHE, destination=GHA)["outcome"] == "accept"
    snap.plugin_digests = {"basis.v1": "b" * 64}
    out = verdict(snap, source=CHE, destination=GHA)
    ((code, message),) = [(d["code"], d["message"]) for d in out["denials"]]
    assert out["outcome"] == "deny" and code == "rule_error" and "changed since" in message
