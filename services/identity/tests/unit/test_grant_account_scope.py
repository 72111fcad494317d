"""A6R-12, A6R-14: an account grant names an account of the section it is scoped to."""

import pytest

from identity.domain.errors import Refused
from identity.domain.grants import Scope, check_scope


@pytest.mark.parametrize("role", ["account_initiator", "account_approver", "account_viewer", "external_system"])
def test_a6r12_an_account_grant_names_an_account_of_its_section(role: str) -> None:
    check_scope(role, Scope(section="GHA", account="GHA-100001"))
    # Another section's account, a registry service account, a number that only begins with the code.
    for account in ("CHE-100001", "REG-100005", "GHAX-1", "GHA100001"):
        with pytest.raises(Refused) as refused:
            check_scope(role, Scope(section="GHA", account=account))
        assert (refused.value.status, refused.value.code) == (422, "account_not_in_section"), account
