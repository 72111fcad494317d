"""Explicit splitting (A6R-52): what stays behind when ranges are cut out of one block."""

from __future__ import annotations

from collections.abc import Sequence

from ledger.domain.errors import MalformedRange, OverlappingRanges, RangeNotHeld


def remainders(block: tuple[int, int], taken: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The pieces of `block` (first, last) left after cutting out every range in `taken`.

    One range cut from a block leaves 0, 1 or 2 pieces (the block splits into 2 or 3); several
    ranges cut from the same block in one transaction are cut in one pass, so the result never
    overlaps what was taken. Ranges must lie within the block and not overlap each other."""
    first, last = block
    cursor = first
    rest: list[tuple[int, int]] = []
    for cut_first, cut_last in sorted(taken):
        if cut_first > cut_last:
            raise MalformedRange(f"range ({cut_first}, {cut_last}) has first > last")
        if cut_first < first or cut_last > last:
            raise RangeNotHeld(f"range ({cut_first}, {cut_last}) is not within block ({first}, {last})")
        if cut_first < cursor:
            raise OverlappingRanges(f"range ({cut_first}, {cut_last}) overlaps another range cut from the block")
        if cut_first > cursor:
            rest.append((cursor, cut_first - 1))
        cursor = cut_last + 1
    if cursor <= last:
        rest.append((cursor, last))
    return rest
