"""Markers decided from transactions consumed in any order end as if decided in ledger order (A6R-45,
A6R-55): the sequencer's re-decisions, simulated on one piece of units. A transaction consumed late
replaces every marker made after it while it was unknown (the whole chain, not only its first
link), with its own marker or, where it keeps the current marker standing, with that one restated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from descriptors.domain.applicability import applicable_from
from descriptors.domain.first_transfer import Movement, classify, decide
from descriptors.domain.in_force import segments
from descriptors.domain.model import Covering, Descriptor, Kind

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
PARTY = {"x": "GHA", "x2": "GHA", "y": "CHE", "z": "JPN", "w": "KOR"}
FAR = T0 + timedelta(days=30)


def transfer(tx: str, src: str, dst: str, hours: float, corrective: bool = False) -> Movement:
    kind = classify("corrective_transfer" if corrective else "transfer_units", "transfer", PARTY[src], PARTY[dst],
                    "holding")  # fmt: skip
    return Movement(tx, 0, kind, src, dst, PARTY[src], PARTY[dst], "holding", T0 + timedelta(hours=hours))


class Sequencer:
    """What service_layer.sequencer does for one piece: decide each transaction as it comes, then
    decide again every already decided one recorded after it. Markers are never deleted, and a
    marker's id is derived from its decision, so deciding the same again stores nothing new."""

    def __init__(self) -> None:
        self.movements: list[Movement] = []
        self.markers: list[Descriptor] = []

    def _decide(self, m: Movement) -> None:
        decision = decide(m, None, self.markers, self.movements)
        if decision is None:
            return
        stated = decision.restates
        for supersedes in decision.supersedes or (None,):
            if stated is None:
                id, tx, created = f"{m.transaction_id}:{decision.basis.value}:{decision.party}:{supersedes}", \
                    m.transaction_id, m.recorded_at  # fmt: skip
            else:
                id, tx, created = f"restated:{stated.id}:{supersedes}", stated.transaction_id, stated.created_at
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


def outcome(movements: list[Movement], order: list[int]) -> list[tuple[str | None, str | None] | None]:
    sequencer = Sequencer()
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
@given(histories())
def test_a6r45_markers_in_force_after_any_order_of_arrival_are_those_of_ledger_order(
    case: tuple[list[Movement], list[int]],
) -> None:
    movements, order = case
    assert outcome(movements, order)[-1] == outcome(movements, list(range(len(movements))))[-1]
