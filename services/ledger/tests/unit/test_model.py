"""A6R-40, A6R-41, A6R-52: accounts and unit blocks (ledger.domain.model)."""

import dataclasses
import itertools
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.domain.errors import MalformedRange, RangeNotHeld
from ledger.domain.model import MAX_SERIAL, Account, AccountStatus, AccountType, SerialScope, UnitBlock

SCOPE = SerialScope("CHE01", "GHA", "GH-0001", 2024, "tCO2e")


def block(first: int = 100, last: int = 199, **overrides: object) -> UnitBlock:
    fields: dict[str, object] = {
        "block_id": "b1",
        "scope": SCOPE,
        "first": first,
        "last": last,
        "account": "CH-100-1",
        "cooperative_approach": "CA0001",
        "first_transferring_party": "GHA",
        "sectors": ("energy",),
        "activity_types": ("cookstoves",),
    }
    fields.update(overrides)
    return UnitBlock(**fields)


def minter() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"new-{next(counter)}"


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
    with pytest.raises(dataclasses.FrozenInstanceError):
        block().first = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    "scope_fields",
    [
        ("", "GHA", "GH-1", 2024, "tCO2e"),
        ("CHE01", "Ghana", "GH-1", 2024, "tCO2e"),
        ("CHE01", "GHA", "", 2024, "tCO2e"),
        ("CHE01", "GHA", "GH-1", 24, "tCO2e"),
        ("CHE01", "GHA", "GH-1", 2024, ""),
    ],
)
def test_a6r40_serial_scope_invariants(scope_fields: tuple[str, str, str, int, str]) -> None:
    with pytest.raises(ValueError):
        SerialScope(*scope_fields)


@pytest.mark.parametrize(("first", "last"), [(5, 4), (-1, 3), (0, MAX_SERIAL + 1), (1.0, 2), (True, 2)])
def test_a6r40_block_serials_must_form_an_int8_range(first: int, last: int) -> None:
    with pytest.raises(MalformedRange):
        block(first, last)


def test_a6r40_block_quantity_counts_both_ends() -> None:
    assert block(100, 199).quantity == 100
    assert block(0, MAX_SERIAL).quantity == MAX_SERIAL + 1


@pytest.mark.parametrize(
    "underlying",
    [
        {"underlying_registry": "VCS"},
        {"underlying_first": 1, "underlying_last": 100},
        {"underlying_registry": "VCS", "underlying_first": 1},
        {"underlying_registry": "VCS", "underlying_first": 1, "underlying_last": 99},
    ],
)
def test_a6r40_underlying_range_is_complete_and_of_the_same_length(underlying: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        block(100, 199, **underlying)


def test_a6r52_explicit_split_in_the_middle_gives_three_blocks() -> None:
    taken, remainders = block(100, 199).split(120, 129, minter())
    assert (taken.first, taken.last, taken.block_id) == (120, 129, "new-2")
    assert [(r.first, r.last, r.block_id) for r in remainders] == [(100, 119, "new-1"), (130, 199, "new-3")]
    assert {taken.account, taken.cooperative_approach, taken.scope} == {"CH-100-1", "CA0001", SCOPE}


@pytest.mark.parametrize(("first", "last", "rest"), [(100, 149, (150, 199)), (150, 199, (100, 149))])
def test_a6r52_explicit_split_at_an_edge_gives_two_blocks(first: int, last: int, rest: tuple[int, int]) -> None:
    taken, remainders = block(100, 199).split(first, last, minter())
    assert (taken.first, taken.last) == (first, last)
    assert [(r.first, r.last) for r in remainders] == [rest]


def test_a6r52_explicit_range_equal_to_the_block_does_not_split() -> None:
    original = block(100, 199)
    assert original.split(100, 199, minter()) == (original, ())


@pytest.mark.parametrize(("first", "last"), [(99, 120), (150, 200), (0, 5), (300, 400)])
def test_a6r52_explicit_range_must_be_wholly_within_the_block(first: int, last: int) -> None:
    with pytest.raises(RangeNotHeld) as refused:
        block(100, 199).split(first, last, minter())
    assert refused.value.code == "range_not_held"


def test_a6r52_explicit_range_must_not_be_reversed() -> None:
    with pytest.raises(MalformedRange):
        block(100, 199).split(150, 140, minter())


def test_a6r40_split_cuts_the_underlying_range_at_the_same_offsets() -> None:
    mirrored = block(100, 199, underlying_registry="VCS", underlying_first=5000, underlying_last=5099)
    taken, (head, tail) = mirrored.split(120, 129, minter())
    assert (taken.underlying_first, taken.underlying_last) == (5020, 5029)
    assert (head.underlying_first, head.underlying_last, tail.underlying_first) == (5000, 5019, 5030)
    assert taken.underlying_registry == "VCS"


@given(st.data())
def test_a6r52_split_pieces_partition_the_block(data: st.DataObject) -> None:
    first = data.draw(st.integers(0, 10**9))
    last = data.draw(st.integers(first, first + 50))
    cut_first = data.draw(st.integers(first, last))
    cut_last = data.draw(st.integers(cut_first, last))
    original = block(first, last)
    taken, remainders = original.split(cut_first, cut_last, minter())
    pieces = sorted([taken, *remainders], key=lambda piece: piece.first)
    assert pieces[0].first == first and pieces[-1].last == last
    assert all(a.last + 1 == b.first for a, b in itertools.pairwise(pieces))
    assert len(pieces) == 1 + (cut_first > first) + (cut_last < last)
    assert (taken.first, taken.last) == (cut_first, cut_last)
