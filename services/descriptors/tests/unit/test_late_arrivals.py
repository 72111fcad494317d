"""Markers decided from transactions consumed in any order end as if decided in ledger order (A6R-45,
A6R-55): the sequencer's re-decisions, simulated on one piece of units. A transaction consumed late
replaces every marker made after it while it was unknown (the whole chain, not only its first
link), with its own marker or, where it keeps the current marker standing, with that one restated;
deciding the later transactions again makes again those ledger order makes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from descriptors.domain.applicability import applicable_from
from descriptors.domain.first_transfer import Move, Movement, classify, decide
from descriptors.domain.in_force import segments
from descriptors.domain.model import Basis, Covering, Dedication, Descriptor, Kind, OimpTrigger

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
# "u" is a GHA account for OIMP use.
PARTY = {"x": "GHA", "x2": "GHA", "u": "GHA", "y": "CHE", "z": "JPN", "w": "KOR"}
FAR = T0 + timedelta(days=30)
OIMP_AT_USE = Descriptor("a1", Kind.AUTHORIZATION, "GHA", T0 - timedelta(days=1), T0 - timedelta(days=1),
                         dedication=Dedication.OIMP, oimp_trigger=OimpTrigger.USE_OR_CANCELLATION)  # fmt: skip


def transfer(tx: str, src: str, dst: str, hours: float, corrective: bool = False) -> Movement:
    kind_of = "corrective_transfer" if corrective else "transfer_units"
    to = "use_oimp" if dst == "u" else "holding"
    kind = classify(kind_of, "transfer", PARTY[src], PARTY[dst], to)
    return Movement(tx, 0, kind, src, dst, PARTY[src], PARTY[dst], to, T0 + timedelta(hours=hours))


class Sequencer:
    """What service_layer.sequencer does for one piece: decide each transaction as it comes, then
    decide again every already decided one recorded after it. Markers are never deleted, and a
    marker's id is derived from its decision, so deciding the same again stores nothing new."""

    def __init__(self, authorization: Descriptor | None = None, markers: tuple[Descriptor, ...] = ()) -> None:
        self.movements: list[Movement] = []
        self.markers: list[Descriptor] = list(markers)
        self.authorization = authorization

    def _decide(self, m: Movement) -> None:
        decision = decide(m, self.authorization, self.markers, self.movements)
        if decision is None:
            return
        stated = decision.restates
        for supersedes in decision.supersedes or (None,):
            own = f"{m.transaction_id}:{m.op_index}"
            if stated is None:
                id, tx, created = f"{own}:{decision.basis.value}:{decision.party}:{supersedes}", m.transaction_id, \
                    m.recorded_at  # fmt: skip
            else:
                id, tx, created = f"restated:{stated.id}:by:{own}:{supersedes}", stated.transaction_id, \
                    stated.created_at  # fmt: skip
            if all(d.id != id for d in self.markers):
                marker = Descriptor(id, Kind.FIRST_TRANSFER, decision.party, created, applicable_from(created),
                                    supersedes, transferred_at=created, transaction_id=tx,
                                    basis=decision.basis)  # fmt: skip
                self.markers.append(marker)

    def arrive(self, m: Movement) -> None:
        self.movements.append(m)
        self._decide(m)
        for q in sorted((q for q in self.movements if q.key() > m.key()), key=Movement.key):
            self._decide(q)

    def in_force(self, at: datetime) -> tuple[str | None, str | None] | None:
        """(transaction, Party) of the marker in force at `at`."""
        (segment,) = segments(1, 1, [Covering(d, 1, 1) for d in self.markers], [], at)
        return (segment.marker.transaction_id, segment.marker.issuing_party) if segment.marker else None


def outcome(
    movements: list[Movement], order: list[int], authorization: Descriptor | None = None, *markers: Descriptor
) -> list[tuple[str | None, str | None] | None]:
    sequencer = Sequencer(authorization, markers)
    for i in order:
        sequencer.arrive(movements[i])
    instants = sorted({d.applicable_from for d in sequencer.markers} | {FAR})
    return [sequencer.in_force(t) for t in instants]


def test_a6r45_a_late_transaction_ends_the_marker_chain_it_forks() -> None:
    """The reviewer's history: T2.5 is consumed after T5."""
    history = [
        transfer("t1", "x", "y", 1),
        transfer("t2", "y", "x", 2, corrective=True),
        transfer("t2.5", "x", "y", 2.5),
        transfer("t3", "y", "z", 3),
        transfer("t4", "z", "y", 4, corrective=True),
        transfer("t5", "y", "w", 5),
    ]
    in_order = Sequencer()
    for m in history:
        in_order.arrive(m)
    assert in_order.in_force(FAR) == ("t2.5", "GHA")
    late = Sequencer()
    for i in (0, 1, 3, 4, 5, 2):
        late.arrive(history[i])
    assert late.in_force(FAR) == ("t2.5", "GHA")


def test_a6r45_a_late_transfer_that_keeps_the_marker_standing_replaces_a_reissue_made_without_it() -> None:
    """T1 (never reversed) is consumed after T5: without it T5 looked like a re-issue of T0's
    marker; with it T0's marker stands, and is stated again over T5's."""
    history = [
        transfer("t0", "x", "w", 0),
        transfer("t1", "w", "x2", 1),
        transfer("t2", "x2", "x", 2),
        transfer("t3", "x", "w", 3),
        transfer("t4", "w", "x", 4, corrective=True),
        transfer("t5", "x", "w", 5),
    ]
    late = Sequencer()
    for i in (0, 2, 3, 4, 5):
        late.arrive(history[i])
    assert late.in_force(FAR) == ("t5", "GHA")
    late.arrive(history[1])
    assert late.in_force(FAR) == ("t0", "GHA")
    assert outcome(history, list(range(len(history))))[-1] == ("t0", "GHA")


def test_a6r45_a_late_oimp_use_keeps_its_marker_though_reversed_and_used_again() -> None:
    """OIMP units used (marked), the use reversed, then used again: the reversal does not undo an
    OIMP use's marker, so the first use's stands. Consumed late, the first use replaces the marker
    the second made without it (it was reversed before that one: no exception for that)."""
    history = [transfer("t0", "x", "u", 0), transfer("t1", "u", "x", 1, corrective=True), transfer("t2", "x", "u", 2)]
    in_order = outcome(history, [0, 1, 2], OIMP_AT_USE)[-1]
    assert in_order == ("t0", "GHA")
    assert outcome(history, [1, 2, 0], OIMP_AT_USE)[-1] == in_order


def test_a6r45_a_late_transfer_under_a_peers_marker_replaces_a_marker_made_without_it() -> None:
    """A peer's marker stored here before later transfers stands in ledger order over them; a
    transfer consumed late replaces the marker one of them made while it was unknown."""
    peer = Descriptor("peer", Kind.FIRST_TRANSFER, "CHE", T0 + timedelta(hours=0.1),
                      applicable_from(T0 + timedelta(hours=0.1)), transferred_at=T0 + timedelta(hours=0.1),
                      transaction_id="peer-tx", basis=Basis.INTERNATIONAL_TRANSFER,
                      received_at=T0 + timedelta(hours=1.25))  # fmt: skip
    history = [
        transfer("t0", "x", "w", 0),
        transfer("t1", "w", "y", 1),
        transfer("t2", "y", "w", 2, corrective=True),
        transfer("t3", "w", "x", 3, corrective=True),
        Movement("t4", 0, Move.EXTERNAL_OUT, "x", "proxy", "GHA", None, "proxy", T0 + timedelta(hours=4)),
    ]
    in_order = outcome(history, [0, 1, 2, 3, 4], None, peer)[-1]
    assert outcome(history, [1, 2, 3, 4, 0], None, peer)[-1] == in_order


def test_a6r45_transfers_consumed_in_reverse_make_one_marker_each_at_most() -> None:
    """Each late transfer replaces the markers standing somewhere after it, not those already
    replaced wherever they are known: the markers grow with the transfers, not exponentially."""
    accounts = ["x", "y", "z", "w"]
    history = [transfer(f"t{i}", accounts[i % 4], accounts[(i + 1) % 4], i) for i in range(9)]
    late = Sequencer()
    for m in reversed(history):
        late.arrive(m)
    assert len(late.markers) <= len(history)
    assert late.in_force(FAR) == outcome(history, list(range(len(history))))[-1] == ("t0", "GHA")


def test_a6r45_late_transfers_that_change_nothing_add_no_marker() -> None:
    """Units re-marked twice (transferred, reversed, transferred...), then domestic transfers made
    before all of it consumed late: each decides the markers' transactions again, which find their
    own markers current and must not state them again (that grew without bound)."""
    history = [transfer(f"d{i}", "x2", "x", i / 10) for i in range(1, 4)]
    for n in range(2):
        history += [transfer(f"t{n}", "x", "w", 1 + 2 * n), transfer(f"c{n}", "w", "x", 2 + 2 * n, corrective=True)]
    history.append(transfer("t9", "x", "w", 9))
    late = Sequencer()
    for m in history[3:] + history[:3]:
        late.arrive(m)
    in_order = Sequencer()
    for m in history:
        in_order.arrive(m)
    assert len(late.markers) == len(in_order.markers) == 3
    assert late.in_force(FAR) == in_order.in_force(FAR) == ("t9", "GHA")


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Movement], list[int]]:
    """A few transfers of the units and corrective transfers reversing any earlier transfer into the
    account holding them now, and an order of arrival: each transaction consumed in ledger order or
    later."""
    at, out, undoable = "x", [], []
    for i in range(draw(st.integers(1, 8))):
        here = [u for u in undoable if u[1] == at]
        if here and draw(st.booleans()):
            src, dst = draw(st.sampled_from(here))
            undoable.remove((src, dst))
            out.append(transfer(f"t{i}", dst, src, i, corrective=True))
            at = src
        else:
            dst = draw(st.sampled_from(sorted(set(PARTY) - {at})))
            out.append(transfer(f"t{i}", at, dst, i))
            undoable.append((at, dst))
            at = dst
    order = draw(st.permutations(range(len(out))))
    return out, list(order)


@settings(max_examples=1000, deadline=None)
@given(histories(), st.sampled_from([None, OIMP_AT_USE]))
def test_a6r45_markers_in_force_after_any_order_of_arrival_are_those_of_ledger_order(
    case: tuple[list[Movement], list[int]], authorization: Descriptor | None
) -> None:
    """Without an authorization (first international transfer) and with an OIMP-only one whose
    first transfer is the use (units moved to "u")."""
    movements, order = case
    in_order = outcome(movements, list(range(len(movements))), authorization)[-1]
    assert outcome(movements, order, authorization)[-1] == in_order
