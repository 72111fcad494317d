"""Account configuration (A6R-41, A6R-42, A6R-46, A6R-56), built-in rule set 5: an application
names an approach its section's Party takes part in; a suspended section's own administrators no
longer act in it; a section's administrators open its administrative issuance, holding and
cancellation accounts directly. Entries recorded under rule set 4 replay as decided."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.domain import builtin_rules
from ledger.domain.builtin_rules import SECTION_STATUS, SERVICE_ACCOUNT
from registry_platform.auth import Grant

from .conftest import GHA_ADMIN, LedgerClient, section_status, setup_registry
from .test_journal_tools import replay_into_fresh_database

pytestmark = pytest.mark.integration
CHE_ADMIN = [Grant("section_administrator", section="CHE")]


def user_of(section: str) -> list[Grant]:
    return [Grant("section_user", section=section)]


def application(section: str, approach: str | None = None, holder: str = "Acme Carbon") -> dict[str, Any]:
    command = {"kind": "apply_for_account", "holder": holder, "section": section, "type": "holding"}
    return command if approach is None else {**command, "cooperative_approach": approach}


def decision(applied: dict[str, Any], approve: bool) -> dict[str, Any]:
    return {"kind": "decide_application", "application_id": applied["application_id"], "approve": approve}


async def sections_and_approach(ledger: LedgerClient) -> None:
    """GHA and CHE take part in CA0001; PER does not."""
    for party, name in (("GHA", "Ghana"), ("CHE", "Switzerland"), ("PER", "Peru")):
        await ledger.ok({"kind": "create_section", "party": party, "name": name})
    await ledger.ok(
        {"kind": "create_cooperative_approach", "id": "CA0001", "name": "GHA-CHE", "parties": ["CHE", "GHA"]}
    )


def refusal(response: Any) -> tuple[str, str]:
    assert 400 <= response.status_code < 500, response.text
    error = response.json()["error"]
    return error["code"], error.get("details", {}).get("rule", "")


async def test_a6r41_a6r46_an_application_for_an_unknown_approach_or_one_its_party_is_not_in_is_refused(
    ledger: LedgerClient,
) -> None:
    await sections_and_approach(ledger)
    unknown = await ledger.propose(application("GHA", "CA9999"), grants=user_of("GHA"), subject="alice")
    assert unknown.status_code == 404 and refusal(unknown)[0] == "unknown_cooperative_approach", unknown.text
    outsider = await ledger.propose(application("PER", "CA0001"), grants=user_of("PER"), subject="lucia")
    assert refusal(outsider)[0] == "party_not_in_approach", outsider.text
    assert "PER" in outsider.json()["error"]["message"]
    # Nothing was left pending for an approval that could only fail; a participant's application is.
    applied = await ledger.ok(application("GHA", "CA0001"), grants=user_of("GHA"), subject="alice")
    pending = await ledger.get("/applications", state="pending")
    assert [a["application_id"] for a in pending["items"]] == [applied["application_id"]]
    await ledger.ok(decision(applied, True), grants=GHA_ADMIN, subject="sam")


async def test_a6r42_a_suspended_sections_administrators_change_no_status_and_decide_no_application(
    ledger: LedgerClient,
) -> None:
    acc = await setup_registry(ledger)
    applied = await ledger.ok(application("GHA"), grants=user_of("GHA"), subject="alice")
    await ledger.ok(section_status("GHA", "suspended"))

    def status(account: str, value: str) -> dict[str, Any]:
        return {"kind": "change_account_status", "account": account, "status": value, "reason": "audit"}

    for command in (status(acc["gha_holding"], "suspended"), decision(applied, False), decision(applied, True)):
        refused = await ledger.propose(command, grants=GHA_ADMIN, subject="sam")
        assert refused.status_code == 409, refused.text
        assert refusal(refused) == ("section_suspended", SECTION_STATUS.ref), command
    # Registry administrators still act there; another section's administrators act in theirs.
    await ledger.ok(status(acc["gha_holding"], "suspended"))
    await ledger.ok(status(acc["che_holding"], "restricted"), grants=CHE_ADMIN, subject="carl")
    # Reactivated, the section is its administrators' again.
    await ledger.ok(section_status("GHA", "active"))
    changed = await ledger.ok(status(acc["gha_holding"], "active"), grants=GHA_ADMIN, subject="sam")
    entry = (await ledger.get("/journal", after=changed["journal_sequence"] - 1, limit=1))["items"][0]
    assert SECTION_STATUS.ref in entry["body"]["rules_applied"]
    await ledger.ok(decision(applied, False), grants=GHA_ADMIN, subject="sam")


def opening(section: str | None, type: str) -> dict[str, Any]:
    return {"kind": "open_account", "holder": "Ministry of Environment", "section": section, "type": type}


async def test_a6r56_a_section_administrator_opens_the_sections_administrative_accounts_directly(
    ledger: LedgerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await sections_and_approach(ledger)
    for type in ("issuance", "holding", "cancellation"):
        opened = await ledger.ok(opening("GHA", type), grants=GHA_ADMIN, subject="sam")
        account = await ledger.get(f"/accounts/{opened['account']}")
        assert (account["section"], account["type"], account["status"]) == ("GHA", type, "initial"), account
    # Not another section's, not a registry service account, not a type others apply for.
    for command in (opening("CHE", "holding"), opening(None, "administrative_holding"), opening("GHA", "use_ndc")):
        refused = await ledger.propose(command, grants=GHA_ADMIN, subject="sam")
        assert refusal(refused)[0] == "not_authorized", refused.text
    # A section's users apply; they open nothing directly.
    refused = await ledger.propose(opening("GHA", "holding"), grants=user_of("GHA"), subject="alice")
    assert refusal(refused)[0] == "not_authorized", refused.text
    # Nor while the section is suspended.
    await ledger.ok(section_status("GHA", "suspended"))
    refused = await ledger.propose(opening("GHA", "holding"), grants=GHA_ADMIN, subject="sam")
    assert refusal(refused) == ("section_suspended", SECTION_STATUS.ref), refused.text
    # Before rule set 5, only registry administrators opened accounts directly.
    await ledger.ok(section_status("GHA", "active"))
    monkeypatch.setattr(builtin_rules, "RULESET", 4)
    refused = await ledger.propose(opening("GHA", "holding"), grants=GHA_ADMIN, subject="sam")
    assert refusal(refused)[0] == "not_authorized", refused.text


async def test_a6r39_a6r48_applications_recorded_before_rule_set_5_replay_as_decided_then(
    ledger: LedgerClient, service_settings: Any, infra: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rule set 4 recorded an outsider's application (a Party not in the approach); that entry
    replays as it was, while rule set 5 refuses the same again, the outsider's application at
    approval too."""
    monkeypatch.setattr(builtin_rules, "RULESET", 4)
    await sections_and_approach(ledger)
    outsider = await ledger.ok(application("PER", "CA0001"), grants=user_of("PER"), subject="lucia")
    opened = await ledger.ok(application("GHA"), grants=GHA_ADMIN, subject="sam")
    await ledger.ok(decision(opened, True), grants=GHA_ADMIN, subject="sam")
    monkeypatch.setattr(builtin_rules, "RULESET", 5)
    at_approval = await ledger.propose(decision(outsider, True))
    assert refusal(at_approval)[0] == "party_not_in_approach", at_approval.text
    again = await ledger.propose(application("PER", "CA0001"), grants=user_of("PER"), subject="lucia")
    assert refusal(again)[0] == "party_not_in_approach", again.text
    replayed, rebuilt, live = replay_into_fresh_database(service_settings("ledger"), infra)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert rebuilt == live


async def test_a6r54_a6r41_service_accounts_belong_to_no_section_and_the_proxy_to_no_approach(
    ledger: LedgerClient, service_settings: Any, infra: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rule set 8. A proxy bound to CA0001 refused every other approach's units leaving for another
    registry, for good (the proxy is never terminated, and there is one); an administrative account
    of a section put units withheld by the registry under that section's administrators. Both were
    recorded under rule set 7, and replay as they were."""
    await sections_and_approach(ledger)
    proxy = {"kind": "open_account", "holder": "Registry", "section": None, "type": "proxy"}
    bound = await ledger.propose({**proxy, "cooperative_approach": "CA0001"})
    assert bound.status_code == 409 and refusal(bound) == ("proxy_bound_to_approach", SERVICE_ACCOUNT.ref), bound.text
    assert "open it with no cooperative approach" in bound.json()["error"]["message"]
    for type in ("administrative_cancellation", "administrative_holding"):
        refused = await ledger.propose(opening("GHA", type))
        assert refusal(refused) == ("service_account_in_section", SERVICE_ACCOUNT.ref), refused.text
        # Bound to an approach, it is still the registry's, in no section.
        opened = await ledger.ok({**opening(None, type), "cooperative_approach": "CA0001"})
        assert (await ledger.get(f"/accounts/{opened['account']}"))["section"] is None
    assert (await ledger.get("/accounts", type="proxy"))["items"] == []
    opened = await ledger.ok(proxy)
    assert (await ledger.get(f"/accounts/{opened['account']}"))["cooperative_approach"] is None

    monkeypatch.setattr(builtin_rules, "RULESET", 7)
    await ledger.ok(opening("GHA", "administrative_holding"))
    replayed, rebuilt, live = replay_into_fresh_database(service_settings("ledger"), infra)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert rebuilt == live


async def test_a6r41_a6r56_nobody_decides_their_own_application(
    ledger: LedgerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rule set 8, four eyes: a section administrator who applies for a use account (one rule set 5
    keeps out of what they open directly) does not approve it, nor does an administrator acting on
    their behalf; another of the section's administrators does. The applicant may withdraw it."""
    await sections_and_approach(ledger)
    use = {"kind": "apply_for_account", "holder": "Ghana NDC", "section": "GHA", "type": "use_ndc"}
    applied = await ledger.ok(use, grants=GHA_ADMIN, subject="sam")
    for kw in ({"grants": GHA_ADMIN, "subject": "sam"}, {"subject": "sam", "actor": "admin"}):
        refused = await ledger.propose(decision(applied, True), **kw)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "own_application", refused.text
        assert "another administrator of section GHA" in refused.json()["error"]["message"]
    assert (await ledger.get("/accounts", type="use_ndc"))["items"] == []
    approved = await ledger.ok(decision(applied, True), grants=GHA_ADMIN, subject="sara")
    assert (await ledger.get(f"/accounts/{approved['account']}"))["type"] == "use_ndc"
    # An applicant may withdraw (reject) their own application.
    withdrawn = await ledger.ok(use, grants=GHA_ADMIN, subject="sam")
    assert (await ledger.ok(decision(withdrawn, False), grants=GHA_ADMIN, subject="sam"))["approved"] is False
    # Before rule set 8, the applicant's approval was recorded.
    monkeypatch.setattr(builtin_rules, "RULESET", 7)
    again = await ledger.ok(use, grants=GHA_ADMIN, subject="sam")
    await ledger.ok(decision(again, True), grants=GHA_ADMIN, subject="sam")
