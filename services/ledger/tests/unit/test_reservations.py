"""What proposals awaiting their verdict are promised (A6R-52, A6R-54): serials to move, and serials
to generate, by an issuance or by an incoming transfer of units new to this registry."""

from __future__ import annotations

import uuid

from ledger.service_layer.saga import Reservations, units_reserved

GHA = ("CHE01", "GHA", "GH-COOK-001", 2024, "tCO2e")
CHE = ("CHE01", "CHE", "CH-HEAT-7", 2024, "tCO2e")


def test_a6r54_serials_generated_by_one_proposal_are_refused_to_another_and_issued_past() -> None:
    incoming, issuance, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    held = Reservations()
    held.hold(incoming, (), ((GHA, 1, 10), (CHE, 5, 9)))
    held.hold(issuance, ((1, 1, 3),), ((GHA, 11, 15),))
    assert held.serial_floor() == {GHA: 16, CHE: 10}
    assert held.clashes(other, (), ((CHE, 9, 20),)) == {incoming: [(CHE, 9, 9)]}
    assert held.clashes(other, (), ((GHA, 15, 15),)) == {issuance: [(GHA, 15, 15)]}
    # Serials are unique within their scope only: each clash names its scope, and each once.
    both = held.clashes(other, ((1, 2, 7), (1, 2, 7)), ((GHA, 8, 12),))
    assert both == {incoming: [(GHA, 8, 10)], issuance: [(1, 2, 3), (GHA, 11, 12)]}
    assert held.clashes(other, (), ((CHE, 10, 20), (GHA, 16, 30))) == {}
    assert held.clashes(incoming, (), ((GHA, 1, 10),)) == {}, "a proposal does not clash with itself"
    held.release(incoming)
    assert held.serial_floor() == {GHA: 16}
    assert held.clashes(other, (), ((CHE, 5, 9),)) == {}


def test_a6r47_a_refusal_for_reserved_units_names_which_and_whose_and_asks_for_a_new_id() -> None:
    a, b = uuid.UUID(int=1), uuid.UUID(int=2)
    refusal = units_reserved({a: [("CHE01/GHA/X/2024/tCO2e", 5, 9)], b: [("S", 20, 20), ("S", 30, 31)]})
    assert refusal.code == "units_reserved"
    assert f"serials 5-9 of CHE01/GHA/X/2024/tCO2e by {a}; 20-20 of S by {b}; 30-31 of S by {b})" in refusal.message
    assert refusal.message.endswith("propose again under a new transaction id")
    # A long list is cut: the journal keeps ten ranges and how many more.
    many = units_reserved({a: [("S", n, n) for n in range(1, 26)]})
    assert f"10-10 of S by {a} and 15 more ranges)" in many.message and "11-11" not in many.message


def test_a6r54_reservations_load_as_they_were_kept_including_an_earlier_build_s_one_issued_range() -> None:
    """Pending proposals are reloaded from the database when the writer starts; a proposal kept by
    an earlier build names its one issued range on its own, or none (a build rolled back to reads
    the generated serials under a key it does not know, and so reserves none of them)."""
    new, old, none = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    kept = Reservations()
    kept.hold(new, ((2, 4, 8),), ((GHA, 1, 10), (CHE, 1, 3)))
    rows = [
        (new, Reservations.as_json(kept.moved[new], kept.issued[new])),
        (old, {"moved": [], "issued": [list(CHE), 20, 29]}),
        (none, {"moved": [[1, 1, 5]], "issued": None}),
    ]
    loaded = Reservations()
    loaded.load(rows)
    assert loaded.issued == {new: ((GHA, 1, 10), (CHE, 1, 3)), old: ((CHE, 20, 29),)}
    assert loaded.moved == {new: ((2, 4, 8),), old: (), none: ((1, 1, 5),)}


def test_a6r52_the_preview_counts_every_reservation_the_nil_ids_too() -> None:
    """The preview of an implicit selection leaves out every serial a waiting proposal holds. It
    asked for the reservations of proposals other than the nil id, so a proposal a client named by
    the nil id had its serials offered by every preview."""
    nil, other = uuid.UUID(int=0), uuid.uuid4()
    held = Reservations()
    held.hold(nil, ((1, 1, 3),), ())
    held.hold(other, ((1, 7, 9),), ())
    assert sorted(held.others(None)) == [(1, 1, 3), (1, 7, 9)]
    assert held.others(nil) == ((1, 7, 9),)
