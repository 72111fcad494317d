"""A6R-41, A6R-37 (c): who may set which account status, who may initiate transactions."""

import itertools

import pytest

from ledger.domain.errors import StatusChangeRefused
from ledger.domain.model import Account, AccountStatus, AccountType, Role
from ledger.domain.status_rules import check_status_change, may_initiate

S = AccountStatus
# Rows: current status; columns: new status. R = registry administrator, S = section
# administrator, "-" = nobody, "=" = unchanged (refused), "X" = account terminated (refused).
TRANSITIONS = """
            initial  active  restricted  suspended  frozen  terminated
initial     =        RS      RS          RS         R       RS
active      -        =       RS          RS         R       RS
restricted  -        RS      =           RS         R       RS
suspended   -        RS      RS          =          R       RS
frozen      -        R       R           R          =       R
terminated  X        X       X           X          X       X
"""
ROLE_LETTERS = {Role.REGISTRY_ADMINISTRATOR: "R", Role.SECTION_ADMINISTRATOR: "S"}


def _table() -> dict[tuple[AccountStatus, AccountStatus], str]:
    header, *rows = TRANSITIONS.strip().splitlines()
    columns = [S(name) for name in header.split()]
    table = {}
    for row in rows:
        current, *cells = row.split()
        for new, cell in zip(columns, cells, strict=True):
            table[S(current), new] = cell
    return table


TABLE = _table()
CASES = list(itertools.product(S, S, Role))


def account(status: AccountStatus, party: str | None = "GHA") -> Account:
    return Account("GH-100-1", "Acme", party, None, AccountType.HOLDING, status)


def expected_code(cell: str, role: Role) -> str | None:
    if cell == "X":
        return "account_terminated"
    if cell == "=":
        return "status_unchanged"
    return None if ROLE_LETTERS.get(role, "?") in cell else "status_change_not_permitted"


def outcome(acc: Account, new: AccountStatus, role: Role, balance: int = 0) -> str | None:
    try:
        check_status_change(acc, new, role, balance)
    except StatusChangeRefused as refused:
        return refused.code
    return None


def test_a6r41_transition_table_covers_every_pair() -> None:
    assert len(TABLE) == len(S) ** 2


@pytest.mark.parametrize(("current", "new", "role"), CASES)
def test_a6r41_status_change_matrix_for_a_section_account(
    current: AccountStatus, new: AccountStatus, role: Role
) -> None:
    assert outcome(account(current), new, role) == expected_code(TABLE[current, new], role)


@pytest.mark.parametrize(("current", "new", "role"), CASES)
def test_a6r41_only_registry_administrators_change_service_accounts(
    current: AccountStatus, new: AccountStatus, role: Role
) -> None:
    cell = TABLE[current, new].replace("S", "")
    assert outcome(account(current, party=None), new, role) == expected_code(cell, role)


@pytest.mark.parametrize("role", [Role.REGISTRY_ADMINISTRATOR, Role.SECTION_ADMINISTRATOR])
def test_a6r41_closing_refuses_an_account_that_holds_units(role: Role) -> None:
    assert outcome(account(S.ACTIVE), S.TERMINATED, role, balance=1) == "account_not_empty"
    assert outcome(account(S.ACTIVE), S.TERMINATED, role, balance=0) is None


def test_a6r41_balance_is_not_disclosed_to_those_who_may_not_close() -> None:
    assert outcome(account(S.ACTIVE), S.TERMINATED, Role.ACCOUNT_HOLDER, balance=5) == "status_change_not_permitted"


def test_a6r41_balance_only_matters_for_closing() -> None:
    assert outcome(account(S.ACTIVE), S.SUSPENDED, Role.SECTION_ADMINISTRATOR, balance=5) is None


def test_a6r41_negative_balance_is_a_caller_bug() -> None:
    with pytest.raises(ValueError):
        check_status_change(account(S.ACTIVE), S.SUSPENDED, Role.REGISTRY_ADMINISTRATOR, -1)


def test_a6r41_refusal_carries_a_message() -> None:
    with pytest.raises(StatusChangeRefused) as refused:
        check_status_change(account(S.FROZEN), S.ACTIVE, Role.SECTION_ADMINISTRATOR, 0)
    assert "frozen" in refused.value.message and refused.value.code == "status_change_not_permitted"


# Rows: status; which roles may initiate a transaction involving an account in it.
INITIATION = {
    S.INITIAL: set(),
    S.ACTIVE: set(Role),
    S.RESTRICTED: {Role.REGISTRY_ADMINISTRATOR},
    S.SUSPENDED: set(),
    S.FROZEN: set(),
    S.TERMINATED: set(),
}


@pytest.mark.parametrize(("status", "role"), list(itertools.product(S, Role)))
def test_a6r37c_a6r41_who_may_initiate_in_each_status(status: AccountStatus, role: Role) -> None:
    assert may_initiate(status, role) is (role in INITIATION[status])
