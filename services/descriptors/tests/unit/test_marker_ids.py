"""A marker's id is derived from what decided it (A6R-45): deciding the same again stores nothing
new, and two markers that differ in their movement or their serials never share an id (a repeat of
an id is dropped as a redelivery, which would lose the second marker)."""

from __future__ import annotations

from datetime import UTC, datetime

from descriptors.domain.first_transfer import Decision, Move, Movement
from descriptors.domain.model import Basis, Descriptor, Kind, Scope, UnitRange
from descriptors.service_layer.sequencer import marker_draft

AT = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
SCOPE = Scope("INT01", "GHA", "GH-COOK-001", 2024, "tCO2e")
EARLIER = Descriptor("m0", Kind.FIRST_TRANSFER, "GHA", AT, AT, transaction_id="t0", basis=Basis.INTERNATIONAL_TRANSFER)


def moved(tx: str) -> Movement:
    return Movement(tx, 0, Move.INTERNATIONAL, "gha", "che", "GHA", "CHE", "holding", AT)


def draft_id(tx: str, first: int, last: int, decision: Decision) -> str:
    draft = marker_draft(moved(tx), decision, [UnitRange(SCOPE, first, last)], "m9", None)
    return str(draft.id)


def test_a6r45_a_markers_id_is_stable_and_names_its_movement_and_serials() -> None:
    own = Decision(Basis.INTERNATIONAL_TRANSFER, "GHA", ("m9",))
    assert draft_id("t1", 1, 50, own) == draft_id("t1", 1, 50, own)
    assert draft_id("t1", 1, 50, own) != draft_id("t1", 51, 100, own)
    restated = Decision(Basis.INTERNATIONAL_TRANSFER, "GHA", ("m9",), restates=EARLIER)
    assert draft_id("t1", 1, 50, restated) == draft_id("t1", 1, 50, restated)
    assert draft_id("t1", 1, 50, restated) != draft_id("t2", 1, 50, restated)
    assert draft_id("t1", 1, 50, restated) != draft_id("t1", 51, 100, restated)
    draft = marker_draft(moved("t1"), restated, [UnitRange(SCOPE, 1, 50)], "m9", None)
    assert (draft.created_at, draft.first_transfer["transaction_id"]) == (AT, "t0")  # type: ignore[index]
