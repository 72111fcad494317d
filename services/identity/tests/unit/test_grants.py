"""A6R-12, A6R-14, A6R-50, A6R-51, A6R-58: scopes, the granting hierarchy, suspension levels."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from identity.domain.errors import Refused
from identity.domain.grants import (
    GRANTED_BY,
    Scope,
    authority,
    check_administers_user,
    check_scope,
    check_separation_of_duties,
    may_grant,
    transition,
)
from registry_platform.auth import ROLES, Grant

SYSADMIN = [Grant("system_administrator")]
REGADMIN = [Grant("registry_administrator")]
GHA_ADMIN = [Grant("section_administrator", section="GHA")]
GHA = Scope(section="GHA")
ACCOUNT = Scope(section="GHA", account="GHA-100-1")


def test_a6r_50_system_administrators_grant_registry_administrators_and_nothing_else() -> None:
    assert may_grant(SYSADMIN, "registry_administrator", Scope())
    for role in ROLES - {"registry_administrator"}:
        for scope in (Scope(), GHA, ACCOUNT, Scope(cooperative_approach="CA0001")):
            assert not may_grant(SYSADMIN, role, scope), role


def test_a6r_58_registry_administrators_grant_section_administrators() -> None:
    assert may_grant(REGADMIN, "section_administrator", GHA)
    assert may_grant(REGADMIN, "approach_observer", Scope(cooperative_approach="CA0001"))
    assert not may_grant(REGADMIN, "registry_administrator", Scope())
    assert not may_grant(REGADMIN, "section_user", GHA)


def test_a6r_14_section_administrators_grant_in_their_own_section_only() -> None:
    assert may_grant(GHA_ADMIN, "section_user", GHA)
    assert may_grant(GHA_ADMIN, "account_initiator", ACCOUNT)
    assert not may_grant(GHA_ADMIN, "section_user", Scope(section="CHE"))
    assert not may_grant(GHA_ADMIN, "section_administrator", GHA)


@pytest.mark.parametrize(
    ("role", "scope"),
    [
        ("section_administrator", Scope()),
        ("section_user", Scope(section="GHA", account="A1")),
        ("account_viewer", GHA),
        ("approach_observer", GHA),
        ("registry_administrator", GHA),
        ("section_user", Scope(section="gh")),
        ("no_such_role", Scope()),
    ],
)
def test_a6r_12_each_role_has_exactly_its_scope(role: str, scope: Scope) -> None:
    with pytest.raises(Refused):
        check_scope(role, scope)


def test_a6r_51_suspension_levels() -> None:
    # A section administrator suspends; the registry administrator (higher) may reactivate.
    assert transition("active", "suspend", 1, None) == "suspended"
    assert transition("suspended", "reactivate", 2, 1) == "active"
    # Suspended by the registry administrator: the section administrator can neither reactivate
    # nor re-suspend it.
    with pytest.raises(Refused):
        transition("suspended", "reactivate", 1, 2)
    with pytest.raises(Refused):
        transition("suspended", "suspend", 1, 2)
    assert transition("suspended", "suspend", 2, 2) == "suspended"


def test_a6r_51_a_lower_level_cannot_revoke_a_higher_levels_suspension() -> None:
    """Revoking and granting anew would undo the suspension by another way."""
    with pytest.raises(Refused) as refused:
        transition("suspended", "revoke", 1, 2)
    assert refused.value.code == "suspended_by_higher_level"
    assert transition("suspended", "revoke", 1, 1) == "revoked"
    assert transition("suspended", "revoke", 3, 2) == "revoked"


def test_a6r_51_revocation_is_final() -> None:
    assert transition("suspended", "revoke", 2, 2) == "revoked"
    for action in ("suspend", "reactivate", "revoke"):
        with pytest.raises(Refused):
            transition("revoked", action, 3, None)


def test_a6r_51_authority_follows_the_hierarchy() -> None:
    assert authority(SYSADMIN, "registry_administrator", Scope()) == 3
    assert authority(SYSADMIN, "section_user", GHA) == 0
    assert authority(REGADMIN, "section_user", GHA) == 2
    assert authority(GHA_ADMIN, "section_user", GHA) == 1
    assert authority(GHA_ADMIN, "section_user", Scope(section="CHE")) == 0
    assert authority(REGADMIN, "registry_administrator", Scope()) == 0


roles = st.sampled_from(sorted(ROLES))
sections = st.sampled_from([None, "GHA", "CHE"])


@given(st.lists(st.builds(Grant, roles, sections), max_size=4), roles, sections)
def test_a6r_14_whoever_may_grant_also_administers_the_grant(
    actor: list[Grant], role: str, section: str | None
) -> None:
    scope = Scope(section=section)
    if may_grant(actor, role, scope):
        assert authority(actor, role, scope) >= 1
        assert role in GRANTED_BY


def test_a6r_50_system_administrator_and_business_roles_are_never_held_together() -> None:
    for role, held in [
        ("section_user", ["system_administrator"]),
        ("registry_administrator", ["system_administrator"]),
        ("system_administrator", ["account_viewer"]),
    ]:
        with pytest.raises(Refused) as refused:
            check_separation_of_duties(role, held)
        assert refused.value.code == "separation_of_duties"
    check_separation_of_duties("system_administrator", ["system_administrator"])
    check_separation_of_duties("section_user", ["registry_administrator", "account_viewer"])


def test_a6r_50_administrators_act_on_users_of_their_level_or_below() -> None:
    with pytest.raises(Refused) as refused:
        check_administers_user(REGADMIN, ["section_user", "system_administrator"])
    assert refused.value.code == "administered_by_higher_level"
    check_administers_user(REGADMIN, ["registry_administrator", "section_user"])
    check_administers_user(SYSADMIN, ["registry_administrator"])
    with pytest.raises(Refused):
        check_administers_user(GHA_ADMIN, ["registry_administrator"])
