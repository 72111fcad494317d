"""A6R-41: accounts (ledger.domain.model)."""

import dataclasses

import pytest

from ledger.domain.model import Account, AccountStatus, AccountType


def test_a6r41_account_type_and_status_codes() -> None:
    assert {t.value for t in AccountType} == {
        "issuance",
        "holding",
        "use_ndc",
        "use_oimp",
        "cancellation",
        "administrative_cancellation",
        "administrative_holding",
        "proxy",
    }
    assert [s.value for s in AccountStatus] == [
        "initial",
        "active",
        "restricted",
        "suspended",
        "frozen",
        "terminated",
    ]


def test_a6r41_accounts_are_created_initial() -> None:
    account = Account("GH-100-1", "Acme", "GHA", None, AccountType.HOLDING)
    assert account.status is AccountStatus.INITIAL


@pytest.mark.parametrize(
    ("number", "holder", "party", "approach", "type_"),
    [
        ("", "Acme", "GHA", None, AccountType.HOLDING),
        ("GH-1", " ", "GHA", None, AccountType.HOLDING),
        ("GH-1", "Acme", "gha", None, AccountType.HOLDING),
        ("GH-1", "Acme", "GH", None, AccountType.HOLDING),
        ("GH-1", "Acme", "GHA", "", AccountType.HOLDING),
        # A6R-54: the proxy account is the registry's, not a Party's.
        ("PX-1", "Registry", "GHA", None, AccountType.PROXY),
    ],
)
def test_a6r41_account_invariants(
    number: str, holder: str, party: str | None, approach: str | None, type_: AccountType
) -> None:
    with pytest.raises(ValueError):
        Account(number, holder, party, approach, type_)


def test_a6r55_records_are_immutable() -> None:
    account = Account("GHA-1", "holder", "GHA", None, AccountType.HOLDING)
    with pytest.raises(dataclasses.FrozenInstanceError):
        account.status = AccountStatus.ACTIVE  # type: ignore[misc]


def test_a6r41_account_types_match_the_common_nomenclature() -> None:
    """The ledger's behaviour per account type and the nomenclature's reference data agree."""
    from registry_contracts.nomenclatures import load_default

    assert {t.code for t in load_default().account_types} == {t.value for t in AccountType}
    assert {s.code for s in load_default().account_statuses} == {s.value for s in AccountStatus}
