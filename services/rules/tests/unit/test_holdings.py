"""The holdings read model converges whatever order the ledger's transaction events arrive in (A6R-19)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rules.domain.holdings import Placed, place, place_all, subtract


def test_subtract() -> None:
    assert subtract(1, 10, [(3, 4), (8, 20)]) == [(1, 2), (5, 7)]
    assert subtract(1, 10, [(0, 11)]) == []
    assert subtract(5, 5, []) == [(5, 5)]


def apply(state: list[Placed], new: Placed) -> list[Placed]:
    overlapping = [p for p in state if p.first <= new.last and new.first <= p.last]
    change = place(overlapping, new)
    return [p for p in state if p not in change.delete] + change.insert


def owners(state: list[Placed], size: int) -> dict[int, str]:
    held: dict[int, str] = {}
    for p in state:
        for serial in range(p.first, p.last + 1):
            assert serial not in held, "a serial is in two accounts"
            held[serial] = p.account
    return held


moves = st.lists(
    st.tuples(st.integers(1, 40), st.integers(0, 15), st.sampled_from(["A", "B", "C", "D"])), min_size=1, max_size=12
)


@given(moves=moves, data=st.data())
def test_a6r19_events_applied_in_any_order_give_the_same_holdings(
    moves: list[tuple[int, int, str]], data: st.DataObject
) -> None:
    # Block ids number the ledger's blocks in commit order; the first move issues all 40 serials.
    blocks = [Placed(1, 40, "ISSUER", 1, "t1")] + [
        Placed(first, min(40, first + span), account, i + 2, f"t{i + 2}")
        for i, (first, span, account) in enumerate(moves)
    ]
    in_order: list[Placed] = []
    for b in blocks:
        in_order = apply(in_order, b)
    shuffled: list[Placed] = []
    for b in data.draw(st.permutations(blocks)):
        shuffled = apply(shuffled, b)
    assert owners(shuffled, 40) == owners(in_order, 40)
    assert sorted(owners(in_order, 40)) == list(range(1, 41))


def test_a6r19_placing_reports_the_accounts_whose_holdings_changed() -> None:
    change = place([Placed(1, 100, "A", 1, "t1")], Placed(11, 20, "B", 2, "t2"))
    assert change.touched == {"A", "B"}
    assert sorted((p.first, p.last, p.account, p.transaction_id) for p in change.insert) == [
        (1, 10, "A", "t1"),
        (11, 20, "B", "t2"),
        (21, 100, "A", "t1"),
    ]
    # A late event about an older block changes nothing a newer block already placed.
    assert place([Placed(11, 20, "B", 2, "t2")], Placed(1, 100, "A", 1, "t1")).touched == {"A"}


@given(moves=moves, stored=st.integers(0, 12), scopes=st.lists(st.sampled_from(["s1", "s2"]), min_size=13, max_size=13))
def test_a6r19_a_batch_placed_at_once_ends_as_placed_one_at_a_time(
    moves: list[tuple[int, int, str]], stored: int, scopes: list[str]
) -> None:
    """`place_all` over the stored rows its ranges overlap gives, per serial, the holder of the newest
    block, as placing one range at a time does; its delete and insert are the net change only."""
    blocks = [Placed(1, 40, "ISSUER", 1, "t1")] + [
        Placed(first, min(40, first + span), account, i + 2, f"t{i + 2}")
        for i, (first, span, account) in enumerate(moves)
    ]
    keyed = list(zip(scopes, blocks, strict=False))
    # The first `stored` placements are in the table already; the rest arrive as one batch.
    table: dict[str, list[Placed]] = {"s1": [], "s2": []}
    for key, b in keyed[:stored]:
        table[key] = apply(table[key], b)
    batch = keyed[stored:]
    overlapped = [
        (key, row)
        for key, rows in table.items()
        for row in rows
        if any(k == key and row.first <= b.last and b.first <= row.last for k, b in batch)
    ]
    delete, insert = place_all(overlapped, batch)
    assert not set(insert) & set(delete), "no row both deleted and inserted"
    for key in ("s1", "s2"):
        one_at_a_time = list(table[key])
        for k, b in batch:
            if k == key:
                one_at_a_time = apply(one_at_a_time, b)
        at_once = [r for r in table[key] if (key, r) not in delete] + [r for k, r in insert if k == key]
        assert owners(at_once, 40) == owners(one_at_a_time, 40)
        assert sorted(at_once, key=lambda r: r.first) == sorted(one_at_a_time, key=lambda r: r.first)
