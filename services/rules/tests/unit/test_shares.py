"""Supplementary operations take shares of whole units with a stated rounding (A6R-38 b)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.domain.shares import ROUNDINGS, Share, allocate, decimal_text, parse_share, round_fraction


@pytest.mark.parametrize(
    ("value", "floor", "ceil", "half_up", "half_even"),
    [("2.5", 2, 3, 3, 2), ("3.5", 3, 4, 4, 4), ("2.49", 2, 3, 2, 2), ("2.51", 2, 3, 3, 3), ("7", 7, 7, 7, 7)],
)
def test_a6r38_rounding_modes(value: str, floor: int, ceil: int, half_up: int, half_even: int) -> None:
    exact = Fraction(value)
    assert [round_fraction(exact, m) for m in ROUNDINGS] == [floor, ceil, half_up, half_even]


def test_a6r38_exact_quantities_are_stated_as_decimals() -> None:
    assert decimal_text(Fraction(101) * parse_share("0.05")) == "5.05"
    assert decimal_text(Fraction(100) * parse_share("0.02")) == "2"
    with pytest.raises(ValueError):
        parse_share("1.01")


@pytest.mark.parametrize("text", ["0", "0.0", "0.500000000001", "1"])
def test_a6r38_a_share_is_more_than_nothing_and_never_takes_all_the_units(text: str) -> None:
    """A share is bounded (MAX_SHARE, stated in the pack and the README): a binding with share "1"
    would take every unit a transfer delivers."""
    with pytest.raises(ValueError, match=r"more than 0 and at most 0\.5"):
        parse_share(text)
    assert parse_share("0.5") == Fraction(1, 2)
    with pytest.raises(ValueError):
        parse_share("-0.1")


shares = st.lists(
    st.tuples(
        st.decimals(min_value="0.0001", max_value="0.5", places=4).map(lambda d: parse_share(str(d))),
        st.sampled_from(ROUNDINGS),
    ),
    max_size=6,
)


@given(quantity=st.integers(min_value=0, max_value=10**12), shares=shares)
def test_a6r38_shares_never_exceed_the_quantity_and_sum_exactly(
    quantity: int, shares: list[tuple[Fraction, str]]
) -> None:
    wanted = [Share(quantity, share, mode) for share, mode in shares]
    amounts, remainder = allocate(quantity, wanted)
    assert all(a >= 0 for a in amounts)
    assert sum(amounts) + remainder == quantity
    assert remainder >= 0
    left = quantity
    for share, amount in zip(wanted, amounts, strict=True):
        exact = share.exact
        # Each share is its exact value rounded (within one unit), unless the earlier ones left less.
        assert amount == min(round_fraction(exact, share.rounding), left)
        assert abs(Fraction(round_fraction(exact, share.rounding)) - exact) < 1
        if share.rounding == "floor":
            assert amount <= exact
        left -= amount


@given(quantity=st.integers(min_value=1, max_value=10**9), share=st.decimals(min_value=0, max_value=1, places=3))
def test_a6r38_shares_summing_to_at_most_one_whole_never_run_out(quantity: int, share: object) -> None:
    s = Fraction(str(share))
    amounts, remainder = allocate(quantity, [Share(quantity, s, "floor"), Share(quantity, 1 - s, "floor")])
    assert sum(amounts) + remainder == quantity
    assert remainder <= 1
