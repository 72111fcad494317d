"""How values are shown (issue 7, item 6): thousands separators, A6R-40 serials, UTC times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from web.domain.formatting import block_serials, label, quantity, time_element, utc_text


def test_quantities_have_thousands_separators() -> None:
    assert quantity(0) == "0"
    assert quantity(1234567) == "1,234,567"
    assert quantity("40000") == "40,000"
    assert quantity(None) == ""
    assert quantity("²") == "²" and quantity("-3") == "-3"
    assert quantity(True) == "True"


def test_a6r40_block_is_first_and_last_human_readable_serial() -> None:
    block = {
        "first": 1001,
        "last": 2000,
        "cooperative_approach": "CA0001",
        "first_transferring_party": "GHA",
        "scope": {"originating_registry": "GHA01", "issuing_party": "GHA", "vintage": 2024},
    }
    assert block_serials(block) == "CA0001-GHA01-GHA-1001-2024..CA0001-GHA01-GHA-2000-2024"
    # The ledger's own rendering wins when it gives one.
    assert block_serials({**block, "serials": "as the ledger says"}) == "as the ledger says"


def test_a6r40_block_without_cooperative_approach_keeps_the_other_components() -> None:
    block = {"first": 5, "last": 9, "scope": {"originating_registry": "INT01", "issuing_party": "GHA", "vintage": 2023}}
    assert block_serials(block) == "INT01-GHA-5-2023..INT01-GHA-9-2023"


def test_times_are_utc_in_a_time_element_with_machine_readable_datetime() -> None:
    moment = datetime(2026, 3, 1, 11, 30, 5, tzinfo=timezone(timedelta(hours=2)))
    html = str(time_element(moment))
    assert html == ('<time datetime="2026-03-01T09:30:05Z" title="2026-03-01 09:30:05 UTC">2026-03-01 09:30 UTC</time>')
    assert utc_text("2026-03-01T09:30:05+00:00") == "2026-03-01 09:30 UTC"
    assert utc_text(datetime(2026, 1, 2, tzinfo=UTC), seconds=True) == "2026-01-02 00:00:00 UTC"


def test_times_escape_what_is_not_a_time() -> None:
    assert str(time_element("<script>")) == "&lt;script&gt;"
    assert str(time_element(None)) == ""


def test_codes_get_their_nomenclature_labels() -> None:
    assert label("use_ndc", "account_type") == "Use account (NDC)"
    assert label("active", "account_status") == "Active"
    assert label("transfer_units", "kind") == "Transfer"
    assert label("something_new", "kind") == "something new"
