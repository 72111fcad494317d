"""A6R-52: implicit selection of units for a transfer (ledger.domain.selection)."""

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.errors import InsufficientUnits, InvalidQuantity, MalformedRange, OverlappingRanges
from ledger.domain.selection import plan_selection, select_for_transfer

Range = tuple[int, int]
# Sizes 2, 3 and 4: the worked example of the module docstring.
SMALL_MEDIUM_LARGE = [(1, 2), (10, 12), (20, 23)]


def size(block: Range) -> int:
    return block[1] - block[0] + 1


def reference(blocks: Sequence[Range], quantity: int) -> list[Range]:
    """A6R-52 transcribed step by step, independently of the implementation (quadratic is fine)."""
    for block in sorted(blocks):
        if size(block) == quantity:
            return [block]
    ranked = sorted(blocks, key=lambda b: (size(b), b[0]))
    accumulated: list[Range] = []
    for block in ranked:
        accumulated.append(block)
        if sum(map(size, accumulated)) >= quantity:
            break
    last = accumulated[-1]
    if size(last) > quantity:
        missing = quantity - sum(map(size, accumulated[:-1]))
        return sorted([*accumulated[:-1], (last[0], last[0] + missing - 1)])
    taken: list[Range] = []
    need = quantity
    for block in reversed(accumulated):
        if need == 0:
            break
        take = min(size(block), need)
        taken.append((block[0], block[0] + take - 1))
        need -= take
    return sorted(taken)


def test_a6r52_rule1_exact_match_is_taken_whole() -> None:
    assert select_for_transfer(SMALL_MEDIUM_LARGE, 3) == [(10, 12)]


def test_a6r52_rule1_exact_match_beats_a_combination_of_smaller_blocks() -> None:
    assert select_for_transfer([(1, 1), (5, 6), (10, 12)], 3) == [(10, 12)]


def test_a6r52_rule1_tie_break_takes_the_lowest_first_serial() -> None:
    assert select_for_transfer([(100, 104), (1, 5), (50, 54)], 5) == [(1, 5)]


def test_a6r52_rule2d_takes_smaller_blocks_whole_and_splits_the_largest() -> None:
    assert select_for_transfer([(20, 39), (1, 2), (10, 14)], 10) == [(1, 2), (10, 14), (20, 22)]


def test_a6r52_rule2d_with_only_larger_blocks_splits_the_smallest_larger_one() -> None:
    assert select_for_transfer([(1, 100), (200, 249)], 30) == [(200, 229)]


def test_a6r52_rule2c_splits_the_smallest_block() -> None:
    assert select_for_transfer(SMALL_MEDIUM_LARGE, 8) == [(1, 1), (10, 12), (20, 23)]


def test_a6r52_rule2c_leaves_out_blocks_that_fit_in_the_excess() -> None:
    # 2 + 3 + 4 = 9 overshoots 6 by 3: the 2-block is not needed, the 3-block gives 2.
    assert select_for_transfer(SMALL_MEDIUM_LARGE, 6) == [(10, 11), (20, 23)]


def test_a6r52_rule2c_exact_accumulation_splits_nothing() -> None:
    assert select_for_transfer(SMALL_MEDIUM_LARGE, 5) == [(1, 2), (10, 12)]
    assert select_for_transfer(SMALL_MEDIUM_LARGE, 9) == SMALL_MEDIUM_LARGE


def test_a6r52_equal_sizes_sort_by_first_serial() -> None:
    # Three 2-blocks for 3 units: (10, 11) sorts first, so it is the smallest and is split.
    assert select_for_transfer([(30, 31), (10, 11), (20, 21)], 3) == [(10, 10), (20, 21)]


def test_a6r52_split_takes_the_lowest_serials() -> None:
    assert select_for_transfer([(50, 59), (1, 10)], 5) == [(1, 5)]


def test_a6r52_insufficient_units_reports_held_and_requested() -> None:
    with pytest.raises(InsufficientUnits) as refused:
        select_for_transfer([(1, 2), (5, 6)], 5)
    assert (refused.value.held, refused.value.requested, refused.value.code) == (4, 5, "insufficient_units")


def test_a6r52_no_blocks_hold_nothing() -> None:
    with pytest.raises(InsufficientUnits) as refused:
        select_for_transfer([], 1)
    assert refused.value.held == 0


@pytest.mark.parametrize("quantity", [0, -1, True, 1.5, "3"])
def test_a6r52_quantity_must_be_a_positive_integer(quantity: object) -> None:
    with pytest.raises(InvalidQuantity) as refused:
        select_for_transfer(SMALL_MEDIUM_LARGE, quantity)  # type: ignore[arg-type]
    assert isinstance(refused.value, ValueError)


@pytest.mark.parametrize(
    "blocks",
    [[(5, 4)], [(1, 2, 3)], [(1,)], [(1.0, 2.0)], [("1", "2")], [5], [(1, 2), (4, "x")]],
)
def test_a6r52_malformed_blocks_are_refused(blocks: list[Range]) -> None:
    with pytest.raises(MalformedRange) as refused:
        select_for_transfer(blocks, 1)
    assert isinstance(refused.value, ValueError)


@pytest.mark.parametrize("blocks", [[(1, 5), (5, 9)], [(1, 10), (3, 4)], [(7, 7), (7, 7)]])
def test_a6r52_overlapping_blocks_are_refused(blocks: list[Range]) -> None:
    with pytest.raises(OverlappingRanges) as refused:
        select_for_transfer(blocks, 1)
    assert refused.value.code == "overlapping_range"


def test_a6r52_adjacent_blocks_are_distinct_blocks() -> None:
    assert select_for_transfer([(1, 5), (6, 10)], 7) == [(1, 2), (6, 10)]


def test_a6r52_plan_selection_breaks_ties_by_index() -> None:
    assert plan_selection([4, 2, 2], 2) == [(1, 2)]
    assert plan_selection([4, 2, 2], 3) == [(1, 1), (2, 2)]


@pytest.mark.parametrize("sizes", [[0], [-1, 3], [1.5]])
def test_a6r52_plan_selection_refuses_non_positive_sizes(sizes: list[int]) -> None:
    with pytest.raises(MalformedRange):
        plan_selection(sizes, 1)


@st.composite
def blocks_and_quantity(draw: st.DrawFn) -> tuple[list[Range], int]:
    """Disjoint blocks in shuffled order (sizes drawn small so that ties and exact matches occur)."""
    layout = draw(st.lists(st.tuples(st.integers(0, 5), st.integers(1, 12)), min_size=1, max_size=25))
    blocks = []
    cursor = draw(st.integers(0, 10**12))
    for gap, length in layout:
        cursor += gap
        blocks.append((cursor, cursor + length - 1))
        cursor += length
    quantity = draw(st.integers(1, sum(map(size, blocks))))
    return draw(st.permutations(blocks)), quantity


@settings(max_examples=400)
@given(blocks_and_quantity())
def test_a6r52_selection_properties(case: tuple[list[Range], int]) -> None:
    blocks, quantity = case
    selected = select_for_transfer(blocks, quantity)
    assert sum(map(size, selected)) == quantity
    assert selected == sorted(selected)
    # Each range lies in exactly one block, no block is used twice.
    owners = [next(b for b in blocks if b[0] <= first and last <= b[1]) for first, last in selected]
    assert len(set(owners)) == len(owners)
    # Fragmentation resistance: at most one block is split, and it gives its lowest serials.
    partial = [(r, b) for r, b in zip(selected, owners, strict=True) if r != b]
    assert len(partial) <= 1
    assert all(r[0] == b[0] for r, b in partial)
    exact = sorted(b for b in blocks if size(b) == quantity)
    if exact:
        assert selected == [exact[0]]


@settings(max_examples=400)
@given(blocks_and_quantity())
def test_a6r52_selection_matches_the_transcribed_algorithm_whatever_the_input_order(
    case: tuple[list[Range], int],
) -> None:
    blocks, quantity = case
    assert select_for_transfer(blocks, quantity) == reference(blocks, quantity)
    assert select_for_transfer(list(reversed(blocks)), quantity) == reference(blocks, quantity)


@given(blocks_and_quantity(), st.integers(1, 100))
def test_a6r52_asking_for_more_than_held_is_refused(case: tuple[list[Range], int], extra: int) -> None:
    blocks, _ = case
    held = sum(map(size, blocks))
    with pytest.raises(InsufficientUnits) as refused:
        select_for_transfer(blocks, held + extra)
    assert refused.value.held == held
