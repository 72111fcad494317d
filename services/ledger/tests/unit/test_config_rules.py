"""Rule set 5's checks on account configuration (A6R-41, A6R-42): pure domain rules."""

import pytest

from ledger.domain.builtin_rules import SECTION_STATUS, require_section_acting
from ledger.domain.errors import RuleRefused
from ledger.domain.model import Role


@pytest.mark.parametrize("role", [Role.SECTION_ADMINISTRATOR, Role.ACCOUNT_HOLDER])
def test_a6r42_a_suspended_sections_own_people_no_longer_act_in_it(role: Role) -> None:
    with pytest.raises(RuleRefused) as refused:
        require_section_acting("GHA", {"GHA"}, role)
    assert (refused.value.code, refused.value.rule) == ("section_suspended", SECTION_STATUS.ref)
    require_section_acting("CHE", {"GHA"}, role)
    require_section_acting(None, {"GHA"}, role)  # a registry service account has no section


def test_a6r42_registry_administrators_still_act_in_a_suspended_section() -> None:
    require_section_acting("GHA", {"GHA"}, Role.REGISTRY_ADMINISTRATOR)
