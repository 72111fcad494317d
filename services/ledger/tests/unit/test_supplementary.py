"""A6R-38 b, A6R-54: what the ledger refuses in a verdict's supplementary operations, whatever the
rules service says (ledger.domain.supplementary)."""

import pytest

from ledger.domain.errors import DomainError
from ledger.domain.model import Account, AccountStatus, AccountType
from ledger.domain.supplementary import check_supplementary


def _account(number: str, party: str | None = "GHA", type: AccountType = AccountType.HOLDING) -> Account:
    return Account(number, "holder", party, None, type, AccountStatus.ACTIVE)


GHA, CHE, FEE = _account("GHA-1"), _account("CHE-1", "CHE"), _account("GHA-9")
PROXY = _account("PROXY-1", None, AccountType.PROXY)
CANCEL = _account("REG-1", None, AccountType.CANCELLATION)


def _refusal(*args: object) -> str:
    with pytest.raises(DomainError) as refused:
        check_supplementary(*args)  # type: ignore[arg-type]
    return refused.value.code


def test_a6r38_a_section_binding_never_takes_from_another_partys_account() -> None:
    """A6R-37/A6R-38, defence in depth: an operation ordered by GHA's section binding that takes
    from CHE's account is refused, as is an account binding's from another account."""
    assert _refusal("transfer", CHE, FEE, ("section", "GHA")) == "supplementary_outside_binding_scope"
    assert _refusal("transfer", CHE, FEE, ("account", "GHA-1")) == "supplementary_outside_binding_scope"
    check_supplementary("transfer", GHA, FEE, ("section", "GHA"))
    check_supplementary("transfer", GHA, FEE, ("account", "GHA-1"))
    check_supplementary("transfer", CHE, FEE, ("registry", "*"))
    assert _refusal("transfer", CHE, FEE, None) == "supplementary_without_binding"


def test_a6r54_no_supplementary_operation_takes_from_the_proxy_account() -> None:
    """The units in the proxy account are in another registry now: taking some would put the same
    serials in two registries."""
    assert _refusal("transfer", PROXY, FEE, ("registry", "*")) == "supplementary_from_proxy"


def test_a6r54_no_supplementary_operation_puts_units_into_the_proxy_account() -> None:
    """Units put there would count as gone to another registry, none named to receive them."""
    assert _refusal("transfer", GHA, PROXY, ("registry", "*")) == "supplementary_to_proxy"


def test_a6r38_a_cancellation_goes_to_a_cancellation_account() -> None:
    registry = ("registry", "*")
    assert _refusal("cancellation", GHA, FEE, registry) == "cancellation_not_to_cancellation_account"
    admin = _account("REG-2", None, AccountType.ADMINISTRATIVE_CANCELLATION)
    assert _refusal("cancellation", GHA, admin, registry) == "cancellation_not_to_cancellation_account"
    check_supplementary("cancellation", GHA, CANCEL, registry)
