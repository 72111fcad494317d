"""The live blocks, in the single writer's memory (A6R-40, A6R-52).

Only the writer changes holdings (ARCHITECTURE.md §2), so it can keep every live block in memory
and answer A6R-52's selection, explicit range lookups and the neighbour lookups of coalescing
without a round trip to PostgreSQL. PostgreSQL stays the record: the index is loaded from the
holdings table at start and after a failed batch, every change is written in the same database
transaction as its journal entry, and the database's exclusion constraint still refuses
overlapping ranges, so a defect here can abandon a batch but not corrupt the record.

Invariants, checked on every change: a block retired is live; a block created does not overlap a
live block of its serial scope; each account's total is the sum of its live blocks. Changes since
a `mark()` can be undone (`rollback`), for proposals refused or batches abandoned after writing.
About 350 bytes per live block: 10^6 blocks take about 350 MB.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise

from sortedcontainers import SortedList

from ledger.domain.errors import InsufficientUnits
from ledger.domain.selection import plan_selection
from ledger.domain.splitting import remainders


@dataclass(frozen=True, slots=True)
class Holding:
    """A live block: serials first..last of one serial scope and issuance, held by one account."""

    block_id: int
    account_number: str
    scope_id: int
    issuance_id: int
    first: int
    last: int

    @property
    def quantity(self) -> int:
        return self.last - self.first + 1


@dataclass(frozen=True, slots=True)
class NewBlock:
    block_id: int
    issuance_id: int
    scope_id: int
    first: int
    last: int
    account_number: str
    parent_block: int | None

    def holding(self) -> Holding:
        return Holding(self.block_id, self.account_number, self.scope_id, self.issuance_id, self.first, self.last)


@dataclass(frozen=True, slots=True)
class Piece:
    """Serials first..last of a live block, to be moved."""

    holding: Holding
    first: int
    last: int

    @property
    def quantity(self) -> int:
        return self.last - self.first + 1


class InvariantViolation(Exception):
    """A change that would break the ledger's invariants: a defect, never a user's refusal."""


# A live block as stored: (block id, account, scope id, issuance id, first, last). Plain tuples of
# ints and a string, not objects: CPython's collector stops tracking such tuples, so a full
# collection does not walk a million blocks (measured: 0.35 s per collection at 10^6 with objects).
_Row = tuple[int, str, int, int, int, int]


def _row(h: Holding) -> _Row:
    return (h.block_id, h.account_number, h.scope_id, h.issuance_id, h.first, h.last)


class _Rows(dict[int, _Row]):
    """The live blocks by id. A dict subclass on purpose: CPython untracks a plain dict whose
    values are all untracked (these tuples, once a collection has seen them), and the next insert
    of a new tuple tracks it again, in the youngest generation, where each young collection then
    walks all of it (at 10^6 blocks: 28 ms per collection of each of the three generations, the
    10^6 latency tail). A subclass stays tracked, so once the writer freezes it at load
    (`gc.freeze`) no collection walks it again."""

    __slots__ = ()


class LiveHoldings:
    def __init__(self, holdings: Iterable[Holding] = ()) -> None:
        self._blocks = _Rows()
        by_account: dict[str, list[tuple[int, int, int]]] = {}
        by_scope: dict[int, list[tuple[int, int]]] = {}
        totals: dict[str, int] = {}
        for h in holdings:
            if h.block_id in self._blocks:
                raise InvariantViolation(f"block {h.block_id} is listed twice")
            self._blocks[h.block_id] = _row(h)
            by_account.setdefault(h.account_number, []).append((h.last - h.first + 1, h.first, h.block_id))
            by_scope.setdefault(h.scope_id, []).append((h.first, h.block_id))
            totals[h.account_number] = totals.get(h.account_number, 0) + h.last - h.first + 1
        # Per account, shortest first, ties by lower first serial then block id: A6R-52's order.
        self._by_account = {a: SortedList(keys) for a, keys in by_account.items()}
        # Per serial scope, by first serial: live blocks of a scope never overlap.
        self._by_scope = {s: SortedList(keys) for s, keys in by_scope.items()}
        self._totals = totals
        for scope_id, keys in self._by_scope.items():
            for (_, before), (first, after) in pairwise(keys):
                if self._blocks[before][5] >= first:
                    raise InvariantViolation(f"blocks {before} and {after} of scope {scope_id} overlap")
        # (retired, created) per change since the last `forget`, for `rollback`.
        self._undo: list[tuple[list[Holding], list[Holding]]] = []

    def __len__(self) -> int:
        return len(self._blocks)

    def get(self, block_id: int) -> Holding | None:
        row = self._blocks.get(block_id)
        return None if row is None else Holding(*row)

    def total(self, account: str) -> int:
        return self._totals.get(account, 0)

    def shortest_first(self, account: str, quantity: int = 0) -> Iterator[Holding]:
        """The account's blocks of at least `quantity` units, shortest first, ties by first serial."""
        keys = self._by_account.get(account)
        if keys is None:
            return
        for _, _, block_id in keys.irange((quantity,)):
            yield Holding(*self._blocks[block_id])

    def of_size(self, account: str, quantity: int) -> Iterator[Holding]:
        """The account's blocks of exactly `quantity` units, lowest first serial first."""
        for h in self.shortest_first(account, quantity):
            if h.last - h.first + 1 != quantity:
                return
            yield h

    def overlapping(self, scope_id: int, first: int, last: int) -> list[Holding]:
        """The live blocks of a scope holding any serial in first..last, by first serial."""
        keys = self._by_scope.get(scope_id)
        if not keys:
            return []
        # The block starting before `first` may reach into the range; later ones start in it.
        i = keys.bisect_left((first, -1))
        found = []
        if i > 0 and self._blocks[keys[i - 1][1]][5] >= first:
            found.append(Holding(*self._blocks[keys[i - 1][1]]))
        while i < len(keys) and keys[i][0] <= last:
            found.append(Holding(*self._blocks[keys[i][1]]))
            i += 1
        return found

    # -- changes --------------------------------------------------------------------------------

    def move(self, retire: Sequence[int], create: Sequence[Holding]) -> None:
        """Retire live blocks and add new ones, all or nothing."""
        if len(set(retire)) != len(retire) or any(b not in self._blocks for b in retire):
            raise InvariantViolation(f"blocks to retire are not all live: {sorted(retire)}")
        retired = [Holding(*self._blocks[b]) for b in retire]
        # Moving units never creates or loses one: what is retired is created again, serial for
        # serial, in the same issuance (only an issuance or an incoming transfer creates alone).
        if retired and _serials(retired) != _serials(create):
            raise InvariantViolation(f"blocks {sorted(retire)} are not replaced by exactly their serials")
        for h in retired:
            self._remove(h)
        added: list[Holding] = []
        try:
            for h in create:
                if h.first > h.last or h.block_id in self._blocks:
                    raise InvariantViolation(f"block {h.block_id} is malformed or exists")
                clash = self.overlapping(h.scope_id, h.first, h.last)
                if clash:
                    raise InvariantViolation(f"block {h.block_id} would overlap live block {clash[0].block_id}")
                self._add(h)
                added.append(h)
        except InvariantViolation:
            for h in added:
                self._remove(h)
            for h in retired:
                self._add(h)
            raise
        self._undo.append((retired, added))

    def mark(self) -> int:
        return len(self._undo)

    def rollback(self, mark: int) -> None:
        """Undo every change made since `mark`, latest first."""
        while len(self._undo) > mark:
            retired, added = self._undo.pop()
            for h in added:
                self._remove(h)
            for h in retired:
                self._add(h)

    def forget(self) -> None:
        """The changes are committed: they can no longer be undone."""
        self._undo.clear()

    def _add(self, h: Holding) -> None:
        self._blocks[h.block_id] = _row(h)
        self._by_account.setdefault(h.account_number, SortedList()).add((h.last - h.first + 1, h.first, h.block_id))
        self._by_scope.setdefault(h.scope_id, SortedList()).add((h.first, h.block_id))
        self._totals[h.account_number] = self._totals.get(h.account_number, 0) + h.last - h.first + 1

    def _remove(self, h: Holding) -> None:
        del self._blocks[h.block_id]
        self._by_account[h.account_number].remove((h.last - h.first + 1, h.first, h.block_id))
        self._by_scope[h.scope_id].remove((h.first, h.block_id))
        self._totals[h.account_number] -= h.last - h.first + 1


Eligible = Callable[[Holding], bool] | None
Range = tuple[int, int, int]


def select_implicit(
    live: LiveHoldings, source: str, quantity: int, eligible: Eligible = None, reserved: Sequence[Range] = ()
) -> list[Piece]:
    """A6R-52's implicit selection from `source`'s eligible blocks (all when `eligible` is None),
    around the serials `reserved` (scope id, first, last) for proposals awaiting their verdict:
    those are cut out of their blocks, and what is left of such a block competes as a block of
    its own size. Reads only the shortest-first prefix of the untouched blocks: the merged order
    reaches the quantity no later than that prefix does."""
    if eligible is None and not reserved and live.total(source) < quantity:
        raise InsufficientUnits(live.total(source), quantity)
    admits = eligible or (lambda h: True)
    touched = {
        h.block_id: h
        for scope_id, first, last in reserved
        for h in live.overlapping(scope_id, first, last)
        if h.account_number == source and admits(h)
    }
    available = [Piece(h, first, last) for h in touched.values() for first, last in _uncut(h, reserved)]
    exacts = [p for p in available if p.quantity == quantity]
    exact = next((h for h in live.of_size(source, quantity) if h.block_id not in touched and admits(h)), None)
    if exact is not None:
        exacts.append(Piece(exact, exact.first, exact.last))
    if exacts:
        return [min(exacts, key=lambda p: (p.first, p.holding.block_id))]
    total = 0
    for h in live.shortest_first(source):
        if h.block_id in touched or not admits(h):
            continue
        available.append(Piece(h, h.first, h.last))
        total += h.last - h.first + 1
        if total >= quantity:
            break
    merged = sorted(available, key=lambda p: (p.quantity, p.first, p.holding.block_id))
    held = sum(p.quantity for p in merged)
    if held < quantity:
        raise InsufficientUnits(held, quantity)
    plan = plan_selection([p.quantity for p in merged], quantity)
    return [Piece(merged[i].holding, merged[i].first, merged[i].first + n - 1) for i, n in plan]


def _uncut(h: Holding, reserved: Sequence[Range]) -> list[tuple[int, int]]:
    """What is left of block `h` once the reserved serials are cut out."""
    cuts = [
        (max(first, h.first), min(last, h.last))
        for scope_id, first, last in reserved
        if scope_id == h.scope_id and first <= h.last and h.first <= last
    ]
    return remainders((h.first, h.last), cuts)


def _serials(blocks: Sequence[Holding]) -> dict[tuple[int, int], list[tuple[int, int]]]:
    """The serials of some blocks, per (scope, issuance), as runs of consecutive serials."""
    runs: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for h in sorted(blocks, key=lambda h: (h.scope_id, h.issuance_id, h.first, h.last)):
        these = runs.setdefault((h.scope_id, h.issuance_id), [])
        if these and these[-1][1] + 1 == h.first:
            these[-1] = (these[-1][0], h.last)
        else:
            these.append((h.first, h.last))
    return runs
