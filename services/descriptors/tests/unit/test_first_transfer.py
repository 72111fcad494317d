"""First-transfer markers: what constitutes one (A6R-45) and when one may be re-issued (A6R-55)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from descriptors.domain.applicability import applicable_from
from descriptors.domain.first_transfer import (
    Decision,
    Move,
    Movement,
    classify,
    current_marker,
    decide,
    may_reissue,
)
from descriptors.domain.model import Basis, Dedication, Descriptor, Kind, OimpTrigger

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
ACCOUNTS = {"gha": "GHA", "gha2": "GHA", "che": "CHE", "jpn": "JPN", "proxy": None}


def move(
    tx: str, src: str, dst: str, hours: float, *, kind: str = "transfer_units", dst_type: str = "holding"
) -> Movement:
    tx_kind = "external_transfer_out" if dst == "proxy" else kind
    return Movement(
        transaction_id=tx,
        op_index=0,
        kind=classify(tx_kind, "transfer", ACCOUNTS[src], ACCOUNTS[dst], "proxy" if dst == "proxy" else dst_type),
        source_account=src,
        destination_account=dst,
        source_party=ACCOUNTS[src],
        destination_party=ACCOUNTS[dst],
        destination_type="proxy" if dst == "proxy" else dst_type,
        recorded_at=T0 + timedelta(hours=hours),
    )


def reversal(tx: str, of: Movement, hours: float) -> Movement:
    return move(tx, of.destination_account, of.source_account or "", hours, kind="corrective_transfer")


def marker_for(m: Movement, decision: Decision, supersedes: str | None, id: str) -> Descriptor:
    created = m.recorded_at
    return Descriptor(
        id, Kind.FIRST_TRANSFER, decision.party, created, applicable_from(created), supersedes,
        transferred_at=created, transaction_id=m.transaction_id, basis=decision.basis,
    )  # fmt: skip


def authorization(dedication: Dedication, trigger: OimpTrigger | None = None) -> Descriptor:
    return Descriptor("a1", Kind.AUTHORIZATION, "GHA", T0, T0, dedication=dedication, oimp_trigger=trigger)


class Units:
    """One piece of units: the movements and markers the service would know, applied in order."""

    def __init__(self, authorization: Descriptor | None = None) -> None:
        self.movements: list[Movement] = []
        self.markers: list[Descriptor] = []
        self.authorization = authorization

    def apply(self, m: Movement) -> Decision | None:
        self.movements.append(m)
        decision = decide(m, self.authorization, self.markers, self.movements)
        if decision is not None:
            (supersedes,) = decision.supersedes or (None,)
            self.markers.append(marker_for(m, decision, supersedes, f"m-{m.transaction_id}"))
        return decision


def test_a6r45_classification_of_operations() -> None:
    assert classify("transfer_units", "transfer", "GHA", "GHA", "holding") is Move.DOMESTIC
    assert classify("transfer_units", "transfer", "GHA", "CHE", "holding") is Move.INTERNATIONAL
    assert classify("transfer_units", "transfer", "GHA", None, "cancellation") is Move.DOMESTIC
    assert classify("external_transfer_out", "transfer", "GHA", None, "proxy") is Move.EXTERNAL_OUT
    assert classify("corrective_transfer", "transfer", "CHE", "GHA", "holding") is Move.CORRECTION
    assert classify("issue_units", "issue", None, "GHA", "issuance") is Move.ISSUE


def test_a6r45_marker_exactly_once_for_the_first_international_transfer_never_for_a_domestic_one() -> None:
    units = Units()
    assert units.apply(move("t1", "gha", "gha2", 1)) is None
    first = units.apply(move("t2", "gha2", "che", 2))
    assert first == Decision(Basis.INTERNATIONAL_TRANSFER, "GHA")
    assert units.apply(move("t3", "che", "jpn", 3)) is None
    assert units.apply(move("t4", "jpn", "che", 4)) is None
    assert len(units.markers) == 1


def test_a6r45_an_external_transfer_out_is_a_first_transfer() -> None:
    assert Units().apply(move("t1", "gha", "proxy", 1)) == Decision(Basis.EXTERNAL_TRANSFER, "GHA")


def test_a6r55_after_the_first_transfer_is_reversed_the_next_international_transfer_reissues() -> None:
    units = Units()
    t1 = move("t1", "gha", "che", 1)
    units.apply(t1)
    units.apply(reversal("c1", t1, 2))
    again = units.apply(move("t2", "gha", "jpn", 3))
    assert again == Decision(Basis.INTERNATIONAL_TRANSFER, "GHA", ("m-t1",))
    assert current_marker(units.markers, (T0 + timedelta(hours=4),)).id == "m-t2"  # type: ignore[union-attr]


def test_a6r55_marker_cannot_be_reissued_after_an_external_transfer_unless_reversed() -> None:
    units = Units()
    units.apply(move("t1", "gha", "che", 1))
    out = move("t2", "che", "proxy", 2)
    units.apply(out)
    marker = units.markers[0]
    allowed, reason = may_reissue(marker, units.movements, (T0 + timedelta(hours=3),))
    assert not allowed and "t2" in reason and "not reversed" in reason
    units.apply(reversal("c2", out, 4))
    assert may_reissue(marker, units.movements, (T0 + timedelta(hours=5),)) == (True, "")
    # Before the reversal was recorded, it still blocked.
    assert not may_reissue(marker, units.movements, (T0 + timedelta(hours=3, minutes=30),))[0]


def test_a6r55_reissue_allowed_when_the_units_stayed_put_since_the_marker() -> None:
    units = Units()
    units.apply(move("t1", "gha", "che", 1))
    units.apply(move("t2", "che", "che", 2))  # domestic, within CHE
    assert may_reissue(units.markers[0], units.movements, (T0 + timedelta(hours=3),)) == (True, "")


def test_a6r55_a_later_unreversed_international_transfer_blocks_automatic_reissue() -> None:
    units = Units()
    t1 = move("t1", "gha", "che", 1)
    units.apply(t1)
    units.apply(move("t2", "che", "jpn", 2))
    units.apply(reversal("c1", t1, 3))  # names the wrong leg: JPN holds the units, not GHA
    assert units.apply(move("t3", "jpn", "gha", 4)) is None


def test_a6r45_events_consumed_out_of_order_correct_the_marker_by_superseding_it() -> None:
    t1, t2 = move("t1", "gha", "che", 1), move("t2", "che", "jpn", 2)
    units = Units()
    late = units.apply(t2)  # t2 arrives first: it looks like the first transfer
    assert late is not None and late.party == "CHE"
    early = units.apply(t1)
    assert early == Decision(Basis.INTERNATIONAL_TRANSFER, "GHA", ("m-t2",))
    # The correction applies no later than the wrong marker, so the wrong one never applies alone.
    assert units.markers[1].applicable_from <= units.markers[0].applicable_from


def test_a6r45_oimp_only_units_are_first_transferred_by_the_partys_chosen_event() -> None:
    units = Units(authorization(Dedication.OIMP, OimpTrigger.USE_OR_CANCELLATION))
    assert units.apply(move("t1", "gha", "che", 1)) is None
    used = units.apply(move("t2", "che", "che", 2, dst_type="use_oimp"))
    assert used == Decision(Basis.OIMP_USE_OR_CANCELLATION, "GHA")


def test_a6r45_ndc_and_oimp_whichever_comes_first() -> None:
    units = Units(authorization(Dedication.BOTH, OimpTrigger.USE_OR_CANCELLATION))
    assert units.apply(move("t1", "gha", "gha2", 1, dst_type="cancellation")) == Decision(
        Basis.OIMP_USE_OR_CANCELLATION, "GHA"
    )
    assert units.apply(move("t2", "gha2", "che", 2)) is None


def test_a6r45_oimp_issuance_trigger() -> None:
    issue = Movement("t0", 0, Move.ISSUE, None, "gha", None, "GHA", "issuance", T0)
    units = Units(authorization(Dedication.OIMP, OimpTrigger.ISSUANCE))
    assert units.apply(issue) == Decision(Basis.OIMP_ISSUANCE, "GHA")
    assert Units(authorization(Dedication.NDC)).apply(issue) is None


def test_a6r55_a_marker_superseded_on_some_units_is_still_current_on_the_others() -> None:
    """The sequencer decides per piece: a successor covering only another piece leaves this piece's
    marker current (and an undone one is re-issued by this piece's next transfer)."""
    t1 = move("t1", "gha", "che", 1)
    moved, stayed = Units(), Units()
    for piece in (moved, stayed):
        piece.apply(t1)
        piece.apply(reversal("c1", t1, 2))
    assert moved.apply(move("t2", "gha", "jpn", 3)) == Decision(Basis.INTERNATIONAL_TRANSFER, "GHA", ("m-t1",))
    assert current_marker(stayed.markers, (T0 + timedelta(hours=4),)).id == "m-t1"  # type: ignore[union-attr]
    assert stayed.apply(move("t4", "gha", "che", 4)) == Decision(Basis.INTERNATIONAL_TRANSFER, "GHA", ("m-t1",))


def peer_marker(created: datetime, received: datetime) -> Descriptor:
    """A first-transfer marker a peer registry dated `created`, stored here at `received`."""
    return Descriptor("peer", Kind.FIRST_TRANSFER, "GHA", created, applicable_from(created),
                      transferred_at=created, basis=Basis.INTERNATIONAL_TRANSFER, received_at=received)  # fmt: skip


def test_a6r21_a_peers_marker_stored_late_counts_for_decisions_only_from_its_storage() -> None:
    """A peer's marker dated before a transfer but stored here after it changes no decision on that
    transfer (deciding it again, or replay, decide as the live service did); it counts for those
    recorded after its storage."""
    crossing = move("t1", "gha", "che", 2)
    stored_late = peer_marker(T0, received=T0 + timedelta(hours=3))
    assert decide(crossing, None, [stored_late], [crossing]) == Decision(Basis.INTERNATIONAL_TRANSFER, "GHA")
    after = move("t2", "gha", "che", 4)
    assert decide(after, None, [stored_late], [after]) is None
    stored_in_time = peer_marker(T0, received=T0 + timedelta(hours=1))
    assert decide(crossing, None, [stored_in_time], [crossing]) is None


def test_a6r55_a_transfer_consumed_after_an_authorization_marked_its_units_supersedes_that_marker() -> None:
    """An OIMP authorization marked the units while a transfer recorded before it had not reached
    this registry: in ledger order the transfer's marker was in force at the authorization, which
    would have marked nothing, so the transfer's marker supersedes the authorization's."""
    crossing = move("t1", "gha", "che", 1)
    at_authorization = Descriptor("by-auth", Kind.FIRST_TRANSFER, "GHA", T0 + timedelta(hours=2),
                                  applicable_from(T0 + timedelta(hours=2)), basis=Basis.OIMP_AUTHORIZATION)  # fmt: skip
    assert decide(crossing, None, [at_authorization], [crossing]) == Decision(
        Basis.INTERNATIONAL_TRANSFER, "GHA", ("by-auth",)
    )
    # A re-issue by hand made after it is not superseded: the latest by date applies (A6R-55).
    reissued = Descriptor("again", Kind.FIRST_TRANSFER, "GHA", T0 + timedelta(hours=2),
                          applicable_from(T0 + timedelta(hours=2)), "m-t0", basis=Basis.REISSUE)  # fmt: skip
    assert decide(crossing, None, [reissued], [crossing]) == Decision(Basis.INTERNATIONAL_TRANSFER, "GHA")
