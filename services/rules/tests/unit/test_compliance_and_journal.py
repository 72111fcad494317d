"""Compliance rules over holdings (A6R-19), the first-transfer plugin (A6R-38), the journal (A6R-17)."""

from __future__ import annotations

from datetime import timedelta

from registry_contracts.chain import Break
from rules import samples
from rules.adapters.plugins import installed_plugins
from rules.domain.catalogue import ParamSpec, RuleVersion, Violation
from rules.domain.compliance import check_holding
from rules.domain.context import holding_context, proposal_context
from rules.domain.journal import catalogue_record, first_difference, next_entry, verify_chain
from rules.domain.validation import validate_version

from .conftest import T0, bind, snapshot

OLD_VINTAGES = RuleVersion(
    "no-old-vintages",
    1,
    "compliance",
    Violation("Holding accounts of this section hold no units of vintages before 2021."),
    "holding.account.type == 'holding' && holding.vintage < params.before",
    params={"before": ParamSpec("int", 2021)},
    section_bindable=True,
    effective_from=T0,
)


def test_a6r19_a_compliance_rule_finds_forbidden_holdings_of_its_section() -> None:
    validate_version(OLD_VINTAGES, plugins={}, now=T0)
    snap = snapshot(bind("no-old-vintages", "section", "GHA"), versions={"no-old-vintages": [OLD_VINTAGES]})
    at = T0 + timedelta(hours=1)
    old = {**samples.SCOPE, "vintage": 2019}
    (found,) = check_holding(snap, holding_context(samples.account("GHA-1"), old, 10), at=at)
    assert found.version.ref == "no-old-vintages@1" and "before 2021" in found.message
    assert check_holding(snap, holding_context(samples.account("GHA-1"), samples.SCOPE, 10), at=at) == []
    assert check_holding(snap, holding_context(samples.account("CHE-1", section="CHE"), old, 10), at=at) == []
    assert check_holding(snap, holding_context(samples.account("GHA-1", type="issuance"), old, 10), at=at) == []
    assert check_holding(snap, holding_context(samples.account("GHA-1"), old, 0), at=at) == []


def test_a6r38_first_transfer_plugin_counts_units_without_a_first_transfer_marker() -> None:
    plugin = installed_plugins()["first_transfer.v1"]
    proposal = samples.proposal(units=[samples.unit(1, 100)])
    marker = {"descriptor_id": "ft-1", "transferred_at": T0, "party": "GHA"}
    proposal["descriptors"] = [{"scope": samples.SCOPE, "first": 1, "last": 30, "first_transfer": marker}]
    outcome = plugin.evaluate(proposal_context(proposal), {})
    assert (outcome.fires, outcome.basis) == (True, 70)
    proposal["descriptors"][0]["last"] = 100
    assert plugin.evaluate(proposal_context(proposal), {}).fires is False


def test_a6r17_the_configuration_journal_is_a_hash_chain() -> None:
    first = next_entry(None, T0, "suspended", {"target": "cap", "reason": "error"})
    second = next_entry((first.sequence, first.entry_hash), T0, "reactivated", {"target": "cap", "reason": "fixed"})
    assert verify_chain([first, second]) is None
    tampered = type(first)(
        1, T0, "suspended", {"target": "cap", "reason": "other"}, first.previous_hash, first.entry_hash
    )
    assert verify_chain([tampered, second]) == Break(1, "content does not match its entry_hash (altered)")
    assert verify_chain([second]) == Break(1, "entry 1 is missing (found 2 next)")


def test_a6r48_the_catalogue_rebuilt_from_the_journal_names_a_row_no_entry_made() -> None:
    by = {"subject": "ra-1", "actor": None, "roles": ["registry_administrator"]}
    entry = next_entry(None, T0, "suspended", {"target_type": "rule", "target": "cap", "reason": "error", "by": by})
    made = catalogue_record(entry)
    assert made is not None
    table, row = made
    assert (table, row["changed_at"], row["changed_by"], row["suspended"]) == ("suspensions", T0, "ra-1", True)
    assert first_difference([entry], {table: [row]}) is None
    # A row inserted beside the journal (an INSERT passes the insert-only triggers).
    forged = {**row, "journal_sequence": 2, "suspended": False}
    extra = first_difference([entry], {table: [row, forged]})
    assert extra is not None and (extra.table, extra.record, extra.field, extra.journal) == (
        "suspensions",
        "2",
        None,
        None,
    )
    assert "made by no journal entry" in extra.message
    unknown = next_entry(None, T0, "renamed", {})
    assert first_difference([unknown], {}) is not None
