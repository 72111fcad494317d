"""Shares of a quantity for supplementary operations (A6R-38 b), in exact arithmetic.

Quantities are whole units, so a share (5% of proceeds, a 2% OMGE cancellation) is rounded by a
stated mode. The supplementary operations of one transaction are allocated in order, each capped
by what the earlier ones left: together they never take more than the quantity, and what they take
plus what remains is exactly the quantity. Together they may take at most MAX_SHARE of it, rounded
down (`limit`): several operations, or a share rounded up, could otherwise take every unit.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

ROUNDINGS = ("floor", "ceil", "half_up", "half_even")
_DECIMAL = re.compile(r"^[0-9]+(\.[0-9]{1,12})?$")


# A share takes part of what the transaction moves, never all of it: a binding with share "1"
# would take every unit a transfer delivers.
MAX_SHARE = Fraction(1, 2)


def parse_share(text: str) -> Fraction:
    """A share as an exact fraction: a decimal text more than 0 and at most MAX_SHARE, e.g. "0.05"."""
    if not isinstance(text, str) or not _DECIMAL.match(text):
        raise ValueError(f"a share is a decimal number such as 0.05, got {text!r}")
    share = Fraction(Decimal(text))
    if not 0 < share <= MAX_SHARE:
        raise ValueError(f"a share is more than 0 and at most {decimal_text(MAX_SHARE)}, got {text}")
    return share


def round_fraction(value: Fraction, mode: str) -> int:
    """Round a non-negative exact value to a whole number of units."""
    floor = value.numerator // value.denominator
    remainder = value - floor
    if remainder == 0 or mode == "floor":
        return floor
    if mode == "ceil":
        return floor + 1
    if mode == "half_up":
        return floor + (1 if remainder >= Fraction(1, 2) else 0)
    if mode == "half_even":
        if remainder == Fraction(1, 2):
            return floor + (floor % 2)
        return floor + (1 if remainder > Fraction(1, 2) else 0)
    raise ValueError(f"unknown rounding mode {mode!r}; use one of {', '.join(ROUNDINGS)}")


def decimal_text(value: Fraction) -> str:
    """Exact decimal text of a terminating fraction (a whole quantity times a decimal share)."""
    whole, rest = divmod(value.numerator, value.denominator)
    if rest == 0:
        return str(whole)
    digits = []
    seen = 0
    while rest and seen < 40:
        rest *= 10
        digit, rest = divmod(rest, value.denominator)
        digits.append(str(digit))
        seen += 1
    return f"{whole}.{''.join(digits)}"


@dataclass(frozen=True)
class Share:
    basis: int  # the quantity the share is taken of
    share: Fraction
    rounding: str

    @property
    def exact(self) -> Fraction:
        return self.basis * self.share


def allocate(quantity: int, shares: Sequence[Share]) -> tuple[list[int], int]:
    """Whole quantities for each share, in order, each capped by what is left of `quantity`;
    returns them with the remainder (their sum plus the remainder is `quantity`)."""
    if quantity < 0:
        raise ValueError("a quantity is never negative")
    left = quantity
    amounts = []
    for s in shares:
        amount = min(round_fraction(s.exact, s.rounding), left)
        amounts.append(amount)
        left -= amount
    return amounts, left


def limit(quantity: int) -> int:
    """The most units all the supplementary operations of a transaction of `quantity` may take."""
    return quantity * MAX_SHARE.numerator // MAX_SHARE.denominator


def first_over_limit(quantity: int, amounts: Sequence[int]) -> int | None:
    """The index of the amount with which the running total first passes `limit(quantity)`, if any."""
    total = 0
    for i, amount in enumerate(amounts):
        total += amount
        if total > limit(quantity):
            return i
    return None
