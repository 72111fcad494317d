"""The writer's in-memory live blocks (A6R-40, A6R-52): lookups agree with a plain list, changes
keep the invariants or are refused whole, rollback restores any earlier state exactly, and the
implicit selection over them is A6R-52's algorithm (the pure `select_for_transfer`)."""

from __future__ import annotations

import dataclasses
import gc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.errors import InsufficientUnits
from ledger.domain.live_holdings import Holding, InvariantViolation, LiveHoldings, select_implicit
from ledger.domain.selection import select_for_transfer
from ledger.domain.splitting import remainders

ACCOUNTS = ("A", "B", "C")


@st.composite
def registries(draw: st.DrawFn) -> list[Holding]:
    """Disjoint blocks in two serial scopes, spread over three accounts and two issuances."""
    holdings = []
    block_id = 1
    for scope_id in (1, 2):
        serial = draw(st.integers(1, 5))
        for _ in range(draw(st.integers(0, 12))):
            size = draw(st.integers(1, 9))
            account = draw(st.sampled_from(ACCOUNTS))
            holdings.append(Holding(block_id, account, scope_id, draw(st.integers(1, 2)), serial, serial + size - 1))
            block_id += 1
            serial += size + draw(st.integers(0, 3))
    return holdings


def _state(live: LiveHoldings) -> list[Holding]:
    return sorted((h for a in ACCOUNTS for h in live.shortest_first(a)), key=lambda h: h.block_id)


@given(registries(), st.integers(1, 2), st.integers(0, 60), st.integers(0, 60))
def test_a6r40_overlapping_finds_what_a_scan_finds(holdings: list[Holding], scope: int, a: int, b: int) -> None:
    first, last = min(a, b), max(a, b)
    live = LiveHoldings(holdings)
    expected = sorted(
        (h for h in holdings if h.scope_id == scope and h.first <= last and first <= h.last), key=lambda h: h.first
    )
    assert live.overlapping(scope, first, last) == expected


@given(registries())
def test_a6r52_blocks_come_shortest_first_with_totals(holdings: list[Holding]) -> None:
    live = LiveHoldings(holdings)
    for account in ACCOUNTS:
        mine = [h for h in holdings if h.account_number == account]
        assert list(live.shortest_first(account)) == sorted(mine, key=lambda h: (h.quantity, h.first, h.block_id))
        assert live.total(account) == sum(h.quantity for h in mine)
        for size in range(1, 10):
            assert list(live.of_size(account, size)) == sorted(
                (h for h in mine if h.quantity == size), key=lambda h: (h.first, h.block_id)
            )


@settings(max_examples=200)
@given(registries(), st.data())
def test_a6r40_changes_keep_the_invariants_and_roll_back_exactly(holdings: list[Holding], data: st.DataObject) -> None:
    live = LiveHoldings(holdings)
    before = _state(live)
    mark = live.mark()
    next_id = 1000
    for _ in range(data.draw(st.integers(1, 6))):
        current = _state(live)
        if not current:
            break
        retired = data.draw(st.lists(st.sampled_from(current), max_size=3, unique_by=lambda h: h.block_id))
        created = []
        # Hand the retired serials to other accounts, as a transfer would (sometimes in pieces),
        # and now and then try a change the index refuses whole: a block that overlaps one still
        # live, or (the serials balancing) a new block with a live block's id, refused after some
        # new blocks were added and the retired ones removed, which are all put back.
        for h in retired:
            cut = data.draw(st.integers(h.first, h.last))
            for first, last in ((h.first, cut), (cut + 1, h.last)):
                if first <= last:
                    account = data.draw(st.sampled_from(ACCOUNTS))
                    created.append(Holding(next_id, account, h.scope_id, h.issuance_id, first, last))
                    next_id += 1
        clash = data.draw(st.booleans())
        survivors = [h for h in current if h not in retired]
        if clash and survivors:
            victim = data.draw(st.sampled_from(survivors))
            if created and data.draw(st.booleans()):
                created[-1] = dataclasses.replace(created[-1], block_id=victim.block_id)
            else:
                created.append(Holding(next_id, "A", victim.scope_id, 1, victim.last, victim.last))
                next_id += 1
            with pytest.raises(InvariantViolation):
                live.move([h.block_id for h in retired], created)
            assert _state(live) == current
        else:
            live.move([h.block_id for h in retired], created)
            expected = sorted(survivors + created, key=lambda h: h.block_id)
            assert _state(live) == expected
            for account in ACCOUNTS:
                assert live.total(account) == sum(h.quantity for h in expected if h.account_number == account)
    live.rollback(mark)
    assert _state(live) == before
    assert [live.total(a) for a in ACCOUNTS] == [
        sum(h.quantity for h in before if h.account_number == a) for a in ACCOUNTS
    ]


def test_a6r40_retiring_a_block_that_is_not_live_changes_nothing() -> None:
    live = LiveHoldings([Holding(1, "A", 1, 1, 1, 10)])
    with pytest.raises(InvariantViolation):
        live.move([1, 2], [Holding(3, "B", 1, 1, 1, 10)])
    assert live.get(1) is not None and live.get(3) is None and live.total("A") == 10


def test_a6r40_a_move_that_does_not_create_again_exactly_what_it_retires_changes_nothing() -> None:
    """Units are created only by issuance: a move that would lose a serial, add one, or move one
    to another issuance is refused whole."""
    live = LiveHoldings([Holding(1, "A", 1, 1, 1, 10), Holding(2, "A", 1, 2, 11, 20)])
    for wrong in (
        [Holding(3, "B", 1, 1, 1, 9)],  # serial 10 lost
        [Holding(3, "B", 1, 2, 1, 10)],  # the serials moved to another issuance
        [Holding(3, "B", 1, 1, 1, 10), Holding(4, "B", 1, 1, 21, 21)],  # serial 21 made from nothing
        [Holding(3, "B", 1, 1, 1, 10), Holding(4, "B", 1, 2, 21, 21)],  # and in the other issuance
    ):
        with pytest.raises(InvariantViolation):
            live.move([1], wrong)
        assert live.get(1) is not None and live.get(3) is None and live.total("A") == 20
    live.move([1], [Holding(3, "B", 1, 1, 1, 4), Holding(4, "C", 1, 1, 5, 10)])
    live.move([3, 4], [Holding(5, "A", 1, 1, 1, 10)])
    assert live.total("A") == 20 and live.total("B") == 0


def test_a6r40_overlapping_blocks_are_refused_at_load() -> None:
    with pytest.raises(InvariantViolation):
        LiveHoldings([Holding(1, "A", 1, 1, 1, 10), Holding(2, "B", 1, 1, 10, 12)])


@settings(max_examples=300)
@given(registries(), st.integers(1, 40), st.lists(st.tuples(st.integers(0, 20), st.integers(0, 5)), max_size=3))
def test_a6r52_selection_over_live_blocks_is_the_algorithm(
    holdings: list[Holding], quantity: int, reservations: list[tuple[int, int]]
) -> None:
    """In one scope, selecting from the index around reservations equals A6R-52's pure function
    over the account's blocks with the reserved serials cut out."""
    holdings = [h for h in holdings if h.scope_id == 1]
    # Reservations never overlap: a proposal cannot reserve serials another one holds.
    reserved, serial = [], 0
    for gap, length in reservations:
        reserved.append((1, serial + gap, serial + gap + length))
        serial += gap + length + 1
    live = LiveHoldings(holdings)
    pieces = [
        piece
        for h in holdings
        if h.account_number == "A"
        for piece in remainders(
            (h.first, h.last),
            sorted({(max(f, h.first), min(t, h.last)) for _, f, t in reserved if f <= h.last and h.first <= t}),
        )
    ]
    try:
        expected = select_for_transfer(pieces, quantity)
    except InsufficientUnits as exc:
        with pytest.raises(InsufficientUnits) as refused:
            select_implicit(live, "A", quantity, reserved=reserved)
        assert (refused.value.held, refused.value.requested) == (exc.held, exc.requested)
        return
    chosen = select_implicit(live, "A", quantity, reserved=reserved)
    assert sorted((p.first, p.last) for p in chosen) == expected
    assert all(p.holding.first <= p.first <= p.last <= p.holding.last for p in chosen)


@given(registries(), st.integers(1, 30))
def test_a6r52_selection_takes_only_eligible_blocks(holdings: list[Holding], quantity: int) -> None:
    live = LiveHoldings(holdings)
    eligible = [h for h in holdings if h.account_number == "B" and h.issuance_id == 2 and h.scope_id == 2]
    try:
        chosen = select_implicit(live, "B", quantity, lambda h: h.issuance_id == 2 and h.scope_id == 2)
    except InsufficientUnits as exc:
        assert exc.held == sum(h.quantity for h in eligible) < quantity
        return
    assert sorted((p.first, p.last) for p in chosen) == select_for_transfer(
        [(h.first, h.last) for h in eligible], quantity
    )


def test_a6r40_the_frozen_index_never_returns_to_the_young_generation() -> None:
    """The writer freezes the index it loads (gc.freeze), so no collection walks 10^6 blocks. That
    holds only if no part of it is tracked again later: a plain dict of untracked tuples is
    untracked by a collection and re-tracked, young, by the next insert (28 ms per young collection
    at 10^6 blocks, the 10^6 latency tail)."""
    live = LiveHoldings(Holding(b, "GHA-1", 1, 1, b * 10, b * 10 + 4) for b in range(1, 1001))
    gc.collect()
    gc.freeze()
    try:
        for b in range(1, 51):
            live.move([b], [Holding(5000 + b, "CHE-2", 1, 1, b * 10, b * 10 + 4)])
        young = {id(o) for o in gc.get_objects(0)} | {id(o) for o in gc.get_objects(1)}
        assert id(live._blocks) not in young
        assert len(live) == 1000
    finally:
        gc.unfreeze()
