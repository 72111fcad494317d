"""Who holds which serials, as the rules service learns it from the ledger's recorded transactions.

Events of different transactions can arrive out of order (the ledger's transactions topic is keyed
by transaction, over several partitions). Each event names, for every range it moves, the ledger
block now holding it, and the ledger numbers blocks in commit order. So for every serial the
holding from the newest block wins, whatever order the events come in: placing a range keeps what
newer blocks already placed and replaces what older ones did.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

SCOPE_FIELDS = ("originating_registry", "issuing_party", "activity_id", "vintage", "metric")


def subtract(first: int, last: int, cuts: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of first..last outside every cut (all ranges inclusive), in order."""
    parts = [(first, last)]
    for cut_first, cut_last in cuts:
        kept = []
        for a, b in parts:
            if cut_last < a or cut_first > b:
                kept.append((a, b))
                continue
            if a < cut_first:
                kept.append((a, cut_first - 1))
            if cut_last < b:
                kept.append((cut_last + 1, b))
        parts = kept
    return parts


@dataclass(frozen=True)
class Placed:
    """A range held by an account as of a ledger block."""

    first: int
    last: int
    account: str
    block_id: int
    transaction_id: str = ""


@dataclass(frozen=True)
class Placement:
    """What placing a range changes: rows to delete, rows to insert, accounts whose holdings changed."""

    delete: list[Placed]
    insert: list[Placed]
    touched: set[str]


def place(existing: list[Placed], new: Placed) -> Placement:
    """Place `new` over the overlapping `existing` ranges of its scope (newest block wins)."""
    newer = [e for e in existing if e.block_id > new.block_id]
    older = [e for e in existing if e.block_id <= new.block_id]
    insert = []
    for e in older:
        remainders = subtract(e.first, e.last, [(new.first, new.last)])
        insert += [Placed(a, b, e.account, e.block_id, e.transaction_id) for a, b in remainders]
    kept = subtract(new.first, new.last, [(e.first, e.last) for e in newer])
    insert += [Placed(a, b, new.account, new.block_id, new.transaction_id) for a, b in kept]
    touched = {e.account for e in older} | ({new.account} if kept else set())
    return Placement(older, insert, touched)


ScopeKey = tuple[Any, ...]


def place_all(
    existing: Iterable[tuple[ScopeKey, Placed]], placements: Iterable[tuple[ScopeKey, Placed]]
) -> tuple[list[tuple[ScopeKey, Placed]], list[tuple[ScopeKey, Placed]]]:
    """Place ranges in order, as `place` one at a time would, over `existing` (every stored row
    that any of them overlaps). Returns only the net change: the stored rows to delete and the
    rows to insert, so a batch of events costs one delete and one insert."""
    held: dict[ScopeKey, set[Placed]] = {}
    for key, row in existing:
        held.setdefault(key, set()).add(row)
    before = {key: set(rows) for key, rows in held.items()}
    for key, new in placements:
        rows = held.setdefault(key, set())
        change = place([r for r in rows if r.first <= new.last and new.first <= r.last], new)
        rows.difference_update(change.delete)
        rows.update(change.insert)
    delete = [(key, row) for key, rows in before.items() for row in rows - held[key]]
    insert = [(key, row) for key, rows in held.items() for row in rows - before.get(key, set())]
    return delete, insert
