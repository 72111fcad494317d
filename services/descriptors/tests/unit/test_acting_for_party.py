"""A6R-8, A6R-45: who issues a Party's authorizations. An external system's grant speaks for the
Party only when it is scoped to the whole section, or to the section and the authorization's
cooperative approach; a grant narrowed to one account or another approach does not."""

from __future__ import annotations

import pytest

from descriptors.service_layer.authorizations import acts_for_party
from registry_platform.auth import Grant, Principal


def caller(*grants: Grant) -> Principal:
    return Principal(subject="caller", grants=grants)


@pytest.mark.parametrize(
    ("grant", "allowed"),
    [
        (Grant("section_administrator", section="GHA"), True),
        (Grant("external_system", section="GHA"), True),
        (Grant("external_system", section="GHA", cooperative_approach="CA0001"), True),
        (Grant("external_system", section="GHA", cooperative_approach="CA0002"), False),
        (Grant("external_system", section="GHA", account="GHA-100002"), False),
        (Grant("external_system", section="GHA", account="GHA-100002", cooperative_approach="CA0001"), False),
        (Grant("external_system", section="CHE"), False),
        (Grant("section_user", section="GHA"), False),
    ],
)
def test_a6r8_external_system_acts_for_a_party_only_with_a_section_wide_grant(grant: Grant, allowed: bool) -> None:
    assert acts_for_party(caller(grant), "GHA", "CA0001") is allowed
