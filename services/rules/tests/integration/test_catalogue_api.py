"""The catalogue through the API: refusals at save time, versions in force, suspension, bindings
(A6R-17, A6R-38, A6R-39)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from registry_platform.auth import Grant
from rules import samples

from .conftest import CAP, T0, RulesClient, add_rule, bind

pytestmark = pytest.mark.integration
HOUR = timedelta(hours=1)


async def test_a6r38_invalid_cel_is_refused_at_save_with_its_position(rules: RulesClient) -> None:
    bad = {
        **CAP,
        "expression": "proposal.quantity > params.max_quantity &&\n  proposal.units.exists(u, u.vintag < 2021)",
    }
    response = await rules.call("POST", "/rules/cap/versions", bad)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "unknown_field"
    assert error["details"] == {"field": "expression", "line": 2, "column": 30}
    assert "vintag" in error["message"] and "line 2, column 30" in error["message"]
    syntax = await rules.call("POST", "/rules/cap/versions", {**CAP, "expression": "proposal.quantity >"})
    assert (syntax.status_code, syntax.json()["error"]["code"]) == (422, "cel_syntax_error")
    assert syntax.json()["error"]["details"]["column"] == 20
    types = await rules.call("POST", "/rules/cap/versions", {**CAP, "expression": "proposal.quantity > 'ten'"})
    assert (types.status_code, types.json()["error"]["code"]) == (422, "type_error")
    # Nothing was saved or journaled.
    assert (await rules.call("GET", "/rules/cap")).status_code == 404
    assert (await rules.ok("GET", "/journal"))["items"] == []


async def test_a6r39_a_retired_version_applies_before_its_retire_at_and_not_after(rules: RulesClient) -> None:
    await add_rule(rules, "cap", **CAP, retire_at=T0 + 2 * HOUR)
    await bind(rules, "cap", max_quantity=10)
    before = await rules.preview(samples.proposal(proposed_at=T0 + HOUR))
    assert before["outcome"] == "deny" and before["rules"][0]["version"] == 1
    rules.clock.advance(2 * HOUR)
    after = await rules.preview(samples.proposal(proposed_at=T0 + 2 * HOUR))
    assert after["outcome"] == "accept" and after["rules"] == []
    # A retirement is only ever brought forward, to a future instant.
    past = await rules.call(
        "POST", "/rules/cap/versions/1/retirement", {"retire_at": T0.isoformat(), "reason": "x" * 5}
    )
    assert past.json()["error"]["code"] == "retire_at_in_past"
    # A new version takes effect for new proposals, without a restart.
    await add_rule(rules, "cap", **{**CAP, "params": {"max_quantity": {"type": "int", "default": 50}}})
    rule = await rules.ok("GET", "/rules/cap")
    assert (rule["version_in_force"], [v["version"] for v in rule["versions"]]) == (2, [1, 2])
    assert (await rules.preview(samples.proposal(proposed_at=rules.clock.now)))["rules"][0]["version"] == 2


async def test_a6r17_a_suspended_rule_stops_applying_and_the_suspension_is_journaled(rules: RulesClient) -> None:
    await add_rule(rules, "cap", **CAP)
    binding = await bind(rules, "cap", max_quantity=10)
    proposal = samples.proposal(proposed_at=T0 + HOUR)
    assert (await rules.preview(proposal))["outcome"] == "deny"

    reason = {"reason": "cap entered as 10 instead of 10000"}
    no_step_up = await rules.call("POST", "/rules/cap/suspension", reason, step_up=False)
    assert (no_step_up.status_code, no_step_up.json()["error"]["code"]) == (401, "step_up_required")
    section_admin = await rules.call(
        "POST", "/rules/cap/suspension", reason, grants=[Grant("section_administrator", "GHA")]
    )
    assert section_admin.status_code == 403
    await rules.ok("POST", "/rules/cap/suspension", reason, subject="ra-1")
    assert (await rules.preview(proposal))["outcome"] == "accept"
    state = await rules.ok("GET", "/rules/cap")
    assert state["suspended"] and state["suspension"]["reason"] == reason["reason"]
    again = await rules.call("POST", "/rules/cap/suspension", reason)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_suspended")

    await rules.ok("POST", "/rules/cap/reactivation", {"reason": "cap corrected"})
    assert (await rules.preview(proposal))["outcome"] == "deny"
    await rules.ok("POST", f"/bindings/{binding}/suspension", {"reason": "binding under review"})
    assert (await rules.preview(proposal))["outcome"] == "accept"
    (listed,) = await rules.ok("GET", "/bindings", params={"rule": "cap"})
    assert listed["suspended"] is True

    journal = (await rules.ok("GET", "/journal"))["items"]
    assert [e["kind"] for e in journal] == [
        "rule_version_added",
        "binding_added",
        "suspended",
        "reactivated",
        "suspended",
    ]
    suspended = journal[2]
    assert suspended["body"]["reason"] == reason["reason"] and suspended["body"]["by"]["subject"] == "ra-1"
    assert suspended["previous_hash"] == journal[1]["entry_hash"]
    assert (await rules.ok("GET", "/journal/verification"))["valid"] is True
    # Page by page: a full last page says there is no next one (five entries, pages of five and of two).
    whole = await rules.ok("GET", "/journal", params={"limit": 5})
    assert len(whole["items"]) == 5 and whole["next"] is None
    first = await rules.ok("GET", "/journal", params={"limit": 2})
    second = await rules.ok("GET", "/journal", params={"limit": 2, "after": first["next"]})
    third = await rules.ok("GET", "/journal", params={"limit": 2, "after": second["next"]})
    assert [e["sequence"] for e in first["items"] + second["items"] + third["items"]] == [
        e["sequence"] for e in journal
    ]
    assert third["next"] is None and len(third["items"]) == 1


async def test_a6r17_a_binding_suspended_by_its_id_in_upper_case_stops_applying(rules: RulesClient) -> None:
    """A6R-17: the id in any case names the same binding, and the suspension is recorded against
    its canonical (lower-case) text, the one evaluations compare with."""
    await add_rule(rules, "cap", **CAP)
    binding = await bind(rules, "cap", max_quantity=10)
    proposal = samples.proposal(proposed_at=T0 + HOUR)
    await rules.ok("POST", f"/bindings/{binding.upper()}/suspension", {"reason": "binding under review"})
    assert (await rules.preview(proposal))["outcome"] == "accept"
    (listed,) = await rules.ok("GET", "/bindings", params={"rule": "cap"})
    assert listed["suspended"] is True
    assert (await rules.ok("GET", "/journal"))["items"][-1]["body"]["target"] == binding
    await rules.ok("POST", f"/bindings/{binding.upper()}/reactivation", {"reason": "binding reviewed"})
    assert (await rules.preview(proposal))["outcome"] == "deny"
    await rules.ok("POST", f"/bindings/{binding.upper()}/removal", {"reason": "binding withdrawn"})
    assert (await rules.ok("GET", "/journal"))["items"][-1]["body"]["binding_id"] == binding


async def test_section_administrators_bind_only_bindable_rules_to_their_own_section(rules: RulesClient) -> None:
    gha = [Grant("section_administrator", section="GHA")]
    await add_rule(rules, "cap", **CAP)
    await add_rule(rules, "strict", **{**CAP, "section_bindable": False})
    body = {"rule": "cap", "target_type": "section", "target": "GHA", "params": {"max_quantity": 5}}
    created = await rules.ok("POST", "/bindings", body, grants=gha, subject="gha-admin")
    assert created["by_section_administrator"] is True
    other = await rules.call("POST", "/bindings", {**body, "target": "CHE"}, grants=gha)
    assert other.status_code == 403
    whole = await rules.call("POST", "/bindings", {**body, "target_type": "registry", "target": "*"}, grants=gha)
    assert whole.status_code == 403
    strict = await rules.call("POST", "/bindings", {**body, "rule": "strict"}, grants=gha)
    assert (strict.status_code, strict.json()["error"]["code"]) == (403, "not_section_bindable")
    missing = await rules.call("POST", "/bindings", {**body, "params": {}})
    assert (missing.status_code, missing.json()["error"]["code"]) == (422, "missing_param")
    viewer = await rules.call("POST", "/bindings", body, grants=[Grant("account_viewer", account="GHA-1")])
    assert viewer.status_code == 403
    assert (await rules.preview(samples.proposal(proposed_at=T0 + HOUR)))["outcome"] == "deny"
    await rules.ok("POST", f"/bindings/{created['id']}/removal", {"reason": "no longer needed"}, grants=gha)
    assert (await rules.preview(samples.proposal(proposed_at=T0 + HOUR)))["outcome"] == "accept"


async def test_a6r38_a_section_commission_takes_only_from_its_own_section_and_is_bounded(rules: RulesClient) -> None:
    """A6R-37/A6R-38: GHA's section administrator binds the commission to GHA. A share of "1"
    is refused; a transfer from GHA to CHE leaves CHE's units alone; only GHA's and the registry's
    administrators see GHA's binding."""
    gha, che = [Grant("section_administrator", section="GHA")], [Grant("section_administrator", section="CHE")]
    await rules.ok("POST", "/packs/article6-basic")
    body = {
        "rule": "registry-commission",
        "target_type": "section",
        "target": "GHA",
        "params": {"fee_account": "GHA-9"},
    }
    greedy = await rules.call(
        "POST", "/bindings", {**body, "params": {"fee_account": "GHA-9", "share": "1"}}, grants=gha
    )
    assert (greedy.status_code, greedy.json()["error"]["code"]) == (422, "invalid_param_value")
    created = await rules.ok("POST", "/bindings", body, grants=gha)
    gha_account, che_account = samples.account("GHA-100001"), samples.account("CHE-100002", section="CHE")
    rules.clock.advance(HOUR)
    out = await rules.preview(
        samples.proposal(proposed_at=rules.clock.now, source=gha_account, destination=che_account)
    )
    assert out["outcome"] == "accept" and out["supplementary_operations"] == []
    into_gha = await rules.preview(
        samples.proposal(proposed_at=rules.clock.now, source=che_account, destination=gha_account)
    )
    assert [(o["from_account"], o["to_account"]) for o in into_gha["supplementary_operations"]] == [
        ("GHA-100001", "GHA-9")
    ]
    assert [b["id"] for b in await rules.ok("GET", "/bindings", grants=gha)] == [created["id"]]
    assert [b["id"] for b in await rules.ok("GET", "/bindings")] == [created["id"]]
    assert await rules.ok("GET", "/bindings", grants=che) == []


async def test_a6r38_huge_integers_and_deeply_nested_expressions_are_refused_with_422(rules: RulesClient) -> None:
    """Saving never answers 500: integers beyond the JSON-safe range (the journal hashes canonical
    JSON, RFC 8785) and expressions nesting too deep for the checker are refused with a code."""
    big = {**CAP, "params": {"max_quantity": {"type": "int", "default": 2**53}}}
    refused = await rules.call("POST", "/rules/cap/versions", big)
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "invalid_param_value"), refused.text
    listed = {**CAP, "params": {"max_quantity": {"type": "int"}, "codes": {"type": "list_int", "default": [-(2**60)]}}}
    refused = await rules.call("POST", "/rules/cap/versions", listed)
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "invalid_param_value"), refused.text
    deep = await rules.call("POST", "/rules/cap/versions", {**CAP, "expression": "!" * 700 + "true"})
    assert (deep.status_code, deep.json()["error"]["code"]) == (422, "expression_too_deep"), deep.text
    await add_rule(rules, "cap", **CAP)
    body = {"rule": "cap", "target_type": "registry", "target": "*", "params": {"max_quantity": 2**53}}
    refused = await rules.call("POST", "/bindings", body)
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "invalid_param_value"), refused.text
    await rules.ok("POST", "/bindings", {**body, "params": {"max_quantity": 2**53 - 1}})
    assert (await rules.ok("GET", "/journal/verification"))["valid"] is True


async def test_a6r38_a_section_administrator_dry_runs_only_proposals_of_their_own_section(rules: RulesClient) -> None:
    """A6R-38: a dry run's verdict names the bindings that applied; CHE's administrator may not read
    GHA's section binding through a proposal into GHA's account, but may dry-run one inside CHE."""
    gha, che = [Grant("section_administrator", section="GHA")], [Grant("section_administrator", section="CHE")]
    await rules.ok("POST", "/packs/article6-basic")
    body = {"rule": "registry-commission", "target_type": "section", "target": "GHA", "params": {"fee_account": "G"}}
    await rules.ok("POST", "/bindings", body, grants=gha)
    gha_account, che_account = samples.account("GHA-100001"), samples.account("CHE-100002", section="CHE")
    rules.clock.advance(HOUR)
    into_gha = samples.proposal(proposed_at=rules.clock.now, source=che_account, destination=gha_account)
    payload = {k: (v.isoformat() if k == "proposed_at" else v) for k, v in into_gha.items()}
    refused = await rules.call("POST", "/evaluations", payload, grants=che)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "not_authorized"), refused.text
    assert "own sections" in refused.json()["error"]["message"]
    inside = {**payload, "source": {**che_account, "number": "CHE-1"}, "destination": che_account}
    assert (await rules.ok("POST", "/evaluations", inside, grants=che))["rules"] == []
    # Nor GHA's administrator: CHE's section bindings would apply on the source side.
    assert (await rules.call("POST", "/evaluations", payload, grants=gha)).status_code == 403
    inside_gha = {**payload, "source": {**gha_account, "number": "GHA-1"}}
    assert (await rules.ok("POST", "/evaluations", inside_gha, grants=gha))["rules"][0]["target"] == "GHA"
    assert (await rules.preview(into_gha))["rules"][0]["target"] == "GHA"
