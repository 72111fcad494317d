"""Implicit selection of units for a transfer: A6R-52's algorithm, as a pure function.

A6R-52, for the blocks that satisfy the user's constraints:

1. If there is a range that matches the transfer amount by length, transfer this range.
2. Otherwise (a) sort the ranges by size, shortest first; (b) accumulate ranges until the
   transfer amount is reached; then
   (c) if the last range in the resulting list is shorter than the amount, transfer this range and
       all smaller ranges, splitting the smallest one if necessary;
   (d) if the last range in the resulting list is longer than the amount, transfer all the ranges
       from the smallest one and split the largest one.

Interpretation. Let the accumulated list be L = [b1 <= ... <= bk], the shortest prefix of the
sorted ranges with sum(L) >= quantity, so sum(b1..b(k-1)) < quantity. `bk` cannot equal the
quantity (rule 1 would have taken it), hence exactly one of:

(d) len(bk) > quantity: take b1..b(k-1) whole and the missing `quantity - sum(b1..b(k-1))` units
    from bk. Taking them from bk alone would also split one block; the spec asks for the small
    ranges to go along, which empties the source of its fragments first.
(c) len(bk) < quantity: the excess `sum(L) - quantity` is below len(bk), but it may reach or pass
    len(b1), and a block cannot give up more units than it has. "This range and all smaller
    ranges, splitting the smallest one" is therefore read as: walking down from bk, take the
    ranges needed to reach the quantity; the smallest range so taken gives only what is missing.
    Equivalently: drop from the front of L each range that fits wholly in the excess, then split
    the smallest remaining one (no split when the excess is then zero).

In both branches at most ONE block is split, every other selected block moves whole, the
ranges sum exactly to the quantity, and each block is used at most once.

Tie-breaks, so that the selection is deterministic:
- among equal-sized blocks (in rule 1 and in the sort), the one with the lower first serial
  comes first;
- a split block gives its LOWEST serials; its remainder keeps the tail of the block.

Worked example, blocks (1, 2), (10, 12), (20, 23) (sizes 2, 3, 4):
- quantity 3: rule 1 -> [(10, 12)].
- quantity 8: L = all three (sum 9), 4 < 8, excess 1 -> (c) split (1, 2):
  [(1, 1), (10, 12), (20, 23)].
- quantity 6: L = all three (sum 9), 4 < 6, excess 3 -> (c) drop (1, 2), excess 1, split (10, 12):
  [(10, 11), (20, 23)].
- blocks (1, 2), (10, 14), (20, 39), quantity 10: L = all three (sum 27), 20 > 10 -> (d):
  [(1, 2), (10, 14), (20, 22)].

Cost: O(n log n) for n blocks (two sorts done by the C sort with integer keys, the rest linear),
so a candidate set of 10^6 blocks is handled in about a second of CPython.
"""

from collections.abc import Sequence
from operator import ge, itemgetter

from ledger.domain.errors import InsufficientUnits, InvalidQuantity, MalformedRange, OverlappingRanges


def select_for_transfer(blocks: Sequence[tuple[int, int]], quantity: int) -> list[tuple[int, int]]:
    """Return the (first, last) serial ranges to transfer, ascending by first serial.

    `blocks` are the eligible blocks of one serial scope as inclusive (first, last) ranges, in
    any order. Raises InvalidQuantity (a ValueError) for quantity <= 0, MalformedRange or
    OverlappingRanges (ValueErrors) for bad blocks, InsufficientUnits when they hold too few.
    """
    _check_quantity(quantity)
    ordered, sizes = _by_first_serial(blocks)
    # Sizes are in first-serial order, so _plan's index tie-break is the serial tie-break.
    chosen = _plan(sizes, quantity)
    return sorted((ordered[i][0], ordered[i][0] + take - 1) for i, take in chosen)


def plan_selection(sizes: Sequence[int], quantity: int) -> list[tuple[int, int]]:
    """A6R-52 on block sizes alone: return (index, units taken from the block's start) pairs.

    Ties between equal sizes go to the lower index. This is the scope-agnostic core: a caller
    whose candidates come from several serial scopes (where serial numbers may coincide) orders
    them by its own tie-break and maps the indices back.
    """
    _check_quantity(quantity)
    sizes = list(sizes)
    if not all(type(size) is int and size > 0 for size in sizes):
        raise MalformedRange("block sizes must be positive integers")
    return _plan(sizes, quantity)


def _plan(sizes: list[int], quantity: int) -> list[tuple[int, int]]:
    held = sum(sizes)
    if held < quantity:
        raise InsufficientUnits(held=held, requested=quantity)
    # Rule 1; list.index returns the lowest index, which is the documented tie-break.
    if quantity in sizes:
        return [(sizes.index(quantity), quantity)]
    # Rule 2 (a); the sort is stable, so equal sizes keep index order.
    order = sorted(range(len(sizes)), key=sizes.__getitem__)
    # Rule 2 (b).
    total = 0
    count = 0
    while total < quantity:
        total += sizes[order[count]]
        count += 1
    accumulated = order[:count]
    largest = accumulated[-1]
    if sizes[largest] > quantity:
        # (d): everything smaller whole, the rest from the largest.
        smaller = total - sizes[largest]
        return [(i, sizes[i]) for i in accumulated[:-1]] + [(largest, quantity - smaller)]
    # (c): shed whole ranges that fit in the excess; the loop stops at the latest at `largest`
    # because the excess is below its size.
    excess = total - quantity
    start = 0
    while sizes[accumulated[start]] <= excess:
        excess -= sizes[accumulated[start]]
        start += 1
    smallest = accumulated[start]
    return [(smallest, sizes[smallest] - excess)] + [(i, sizes[i]) for i in accumulated[start + 1 :]]


def _check_quantity(quantity: int) -> None:
    if type(quantity) is not int or quantity <= 0:
        raise InvalidQuantity(f"quantity must be a positive integer, got {quantity!r}")


def _by_first_serial(blocks: Sequence[tuple[int, int]]) -> tuple[list[tuple[int, int]], list[int]]:
    """Validate the ranges; return them sorted by first serial, with their sizes.

    Comprehensions and map() keep the per-block work in C: this runs over every candidate.
    """
    try:
        ordered = sorted(blocks, key=itemgetter(0))
        sizes = [last - first + 1 for first, last in ordered]
    except (TypeError, ValueError, IndexError) as exc:
        raise MalformedRange(f"blocks must be (first, last) pairs of integers: {exc}") from exc
    if not set(map(type, sizes)) <= {int}:
        raise MalformedRange("block serials must be integers")
    if sizes and min(sizes) <= 0:
        first, last = ordered[next(i for i, size in enumerate(sizes) if size <= 0)]
        raise MalformedRange(f"block ({first}, {last}) has first > last")
    lasts = list(map(itemgetter(1), ordered))
    firsts = list(map(itemgetter(0), ordered))
    # Sorted by first serial, blocks are disjoint iff each ends before the next one starts.
    if any(map(ge, lasts, firsts[1:])):
        at = next(i for i, (last, first) in enumerate(zip(lasts, firsts[1:], strict=False)) if last >= first)
        raise OverlappingRanges(f"block {ordered[at]} overlaps block {ordered[at + 1]}")
    return ordered, sizes
