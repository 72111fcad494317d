"""Menus by role (A6R-27) and working contexts per section (A6R-15)."""

from __future__ import annotations

from web.domain.access import Grant, contexts_for, grantable_roles, may, menu_for, pick_context


def labels(grants: list[Grant], key: str | None = None) -> list[str]:
    contexts = contexts_for(grants)
    return [item.label for item in menu_for(pick_context(contexts, key), grants)]


def test_a6r27_account_holders_get_the_simplest_menu() -> None:
    holder = [Grant("section_user", "GHA"), Grant("account_initiator", "GHA", "GHA-100002")]
    assert labels(holder) == ["My accounts", "Transfer units", "My transactions", "Apply for an account"]


def test_a6r27_a_viewer_cannot_initiate_and_a_new_user_can_only_apply() -> None:
    assert labels([Grant("account_viewer", "GHA", "GHA-1")]) == ["My accounts", "My transactions"]
    assert labels([Grant("section_user", "GHA")]) == ["My accounts", "My transactions", "Apply for an account"]
    assert labels([]) == ["Home"]


def test_a6r27_section_administrators_get_the_rich_menu_of_their_section() -> None:
    admin = [Grant("section_administrator", "GHA")]
    menu = menu_for(contexts_for(admin)[0], admin)
    assert [i.label for i in menu] == [
        "Overview",
        "Accounts",
        "Account applications",
        "Issue units",
        "Authorizations",
        "Transfer units",
        "Open an account",
        "Transactions",
        "People and access",
        "Profile changes",
    ]
    assert menu[1].href == "/accounts?section=GHA"


def test_a6r27_registry_and_system_administrators() -> None:
    registry = labels([Grant("registry_administrator")])
    assert "Corrective transfer" in registry and "Sections" in registry and "Daily summary" in registry
    assert "Profile changes" in registry
    system = labels([Grant("system_administrator")])
    assert system == ["Overview", "Registry administrators", "People", "Identity log"]


def test_a6r15_one_user_with_roles_in_several_sections_switches_between_them() -> None:
    grants = [
        Grant("section_administrator", "GHA"),
        Grant("account_initiator", "CHE", "CHE-100001"),
        Grant("registry_administrator"),
    ]
    keys = [c.key for c in contexts_for(grants)]
    assert keys == ["registry", "section:GHA", "holder:CHE"]
    assert labels(grants, "holder:CHE")[0] == "My accounts"
    assert labels(grants, "section:GHA")[0] == "Overview"
    assert pick_context(contexts_for(grants), "section:XXX").key == "registry"  # type: ignore[union-attr]


def test_functions_are_scoped_to_the_section_of_the_grant() -> None:
    grants = [Grant("section_administrator", "GHA")]
    assert may(grants, "issue", "GHA")
    assert not may(grants, "issue", "CHE")
    assert not may(grants, "corrections")
    assert may([Grant("registry_administrator")], "issue", "CHE")


def test_a6r14_grant_forms_offer_only_what_the_hierarchy_allows() -> None:
    assert grantable_roles([Grant("system_administrator")]) == ["registry_administrator"]
    assert grantable_roles([Grant("registry_administrator")]) == ["section_administrator", "approach_observer"]
    assert "section_user" in grantable_roles([Grant("section_administrator", "GHA")])
