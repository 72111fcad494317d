"""A6R-52 explicit splitting: the cut ranges and the remainders partition the block."""

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.domain.errors import OverlappingRanges, RangeNotHeld
from ledger.domain.splitting import remainders


def test_a6r52_one_range_splits_a_block_into_two_or_three() -> None:
    assert remainders((1, 100), [(1, 100)]) == []
    assert remainders((1, 100), [(1, 10)]) == [(11, 100)]
    assert remainders((1, 100), [(91, 100)]) == [(1, 90)]
    assert remainders((1, 100), [(40, 49)]) == [(1, 39), (50, 100)]


def test_a6r52_several_ranges_of_one_block_are_cut_in_one_pass() -> None:
    assert remainders((1, 100), [(50, 59), (10, 19)]) == [(1, 9), (20, 49), (60, 100)]


@pytest.mark.parametrize(("taken", "error"), [([(0, 5)], RangeNotHeld), ([(5, 9), (9, 12)], OverlappingRanges)])
def test_a6r52_cuts_outside_the_block_or_overlapping_are_refused(taken, error) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error):
        remainders((1, 100), taken)


@given(st.lists(st.integers(1, 200), min_size=2, max_size=12, unique=True).map(sorted))
def test_a6r52_taken_and_remaining_partition_the_block(points: list[int]) -> None:
    block = (points[0], points[-1])
    inner = points[1:-1]
    taken = list(zip(inner[0::2], inner[1::2], strict=False))
    pieces = sorted(taken + remainders(block, taken))
    assert pieces[0][0] == block[0] and pieces[-1][1] == block[1]
    for (_, end), (start, _) in itertools.pairwise(pieces):
        assert start == end + 1, "no gap, no overlap"
