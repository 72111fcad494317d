"""The transfer form's confirmation step (A6R-52): exactly which units would move."""

from __future__ import annotations

from web.domain.transfer_form import plan_transfer

SCOPE = {
    "originating_registry": "INT01",
    "issuing_party": "GHA",
    "activity_id": "A1",
    "vintage": 2024,
    "metric": "tCO2e",
}
BLOCKS = [
    {
        "block_id": 7,
        "first": 1,
        "last": 5000,
        "quantity": 5000,
        "scope": SCOPE,
        "cooperative_approach": "CA0001",
        "first_transferring_party": "GHA",
    },
    {
        "block_id": 9,
        "first": 1,
        "last": 300,
        "quantity": 300,
        "scope": {**SCOPE, "vintage": 2023},
        "cooperative_approach": None,
        "first_transferring_party": "GHA",
    },
]


def test_a6r52_explicit_range_typed_in_human_readable_form_shows_the_split() -> None:
    form = {
        "source": "GHA-1",
        "destination": "gha-2",
        "mode": "explicit",
        "range": "CA0001-INT01-GHA-2001-2024..CA0001-INT01-GHA-2500-2024",
    }
    plan, errors = plan_transfer(form, BLOCKS)
    assert errors == {} and plan is not None
    assert plan.command == {
        "kind": "transfer_units",
        "source": "GHA-1",
        "destination": "GHA-2",
        "units": {"ranges": [{"scope": SCOPE, "first": 2001, "last": 2500}]},
    }
    assert plan.quantity == 500
    assert [(p["first"], p["last"]) for p in plan.moving] == [(2001, 2500)]
    assert [(p["first"], p["last"]) for p in plan.remaining] == [(1, 2000), (2501, 5000)]


def test_a6r52_explicit_range_from_a_chosen_block() -> None:
    form = {"source": "GHA-1", "destination": "GHA-2", "mode": "explicit", "block": "9", "first": "1", "last": "300"}
    plan, errors = plan_transfer(form, BLOCKS)
    assert errors == {} and plan is not None and plan.remaining == [] and plan.quantity == 300


def test_a6r52_range_not_held_is_refused_next_to_the_field() -> None:
    form = {
        "source": "GHA-1",
        "destination": "GHA-2",
        "mode": "explicit",
        "range": "CA0001-INT01-GHA-4001-2024..CA0001-INT01-GHA-6000-2024",
    }
    assert plan_transfer(form, BLOCKS) == (
        None,
        {"range": "The source account does not hold all of these serial numbers."},
    )
    bad = plan_transfer({**form, "range": "CA1-X"}, BLOCKS)[1]
    assert "range" in bad


def test_a6r52_implicit_selection_is_the_ledgers_command() -> None:
    """The web does not pick the units: the ledger's preview of this command does (POST /transfers/preview)."""
    form = {"source": "GHA-1", "destination": "gha-2", "mode": "selection", "quantity": "1,200", "vintage_from": "2024"}
    plan, errors = plan_transfer(form, BLOCKS)
    assert errors == {} and plan is not None
    assert plan.command == {
        "kind": "transfer_units",
        "source": "GHA-1",
        "destination": "GHA-2",
        "units": {"selection": {"quantity": 1200, "vintage_from": 2024}},
    }
    assert plan.quantity == 1200 and plan.moving == []
    approach, _ = plan_transfer({**form, "cooperative_approach": "ca0001"}, [])
    assert approach is not None and approach.command["units"]["selection"]["cooperative_approach"] == "CA0001"


def test_form_problems_name_their_fields() -> None:
    _, errors = plan_transfer({"mode": "selection", "quantity": "x", "vintage_to": "12"}, BLOCKS)
    assert set(errors) == {"source", "destination", "quantity", "vintage_to"}
    _, same = plan_transfer({"source": "A", "destination": "A", "quantity": "1"}, BLOCKS)
    assert "destination" in same


def test_a6r40_vintages_outside_those_the_registry_records_are_refused_next_to_the_field() -> None:
    base = {"source": "GHA-1", "destination": "GHA-2", "mode": "selection", "quantity": "1"}
    for year in ("1990", "2100"):
        plan, errors = plan_transfer({**base, "vintage_from": year, "vintage_to": year}, BLOCKS)
        assert errors == {} and plan is not None
    for year in ("1989", "2101"):
        _, errors = plan_transfer({**base, "vintage_to": year}, BLOCKS)
        assert errors == {"vintage_to": "Give a year from 1990 to 2100."}
