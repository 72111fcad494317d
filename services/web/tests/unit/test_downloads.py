"""Data downloads (A6R-23): cells a spreadsheet never evaluates, the rows of holdings and
transactions, the window of a transactions download, and the routes over a ledger stand-in: they
stream page after page, refuse as the pages do, and turn bad input into the usual 4xx page."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_platform.auth import ACCOUNT_INITIATOR, APPROACH_OBSERVER, REGISTRY_ADMINISTRATOR
from web.adapters.backends import ServiceError
from web.bootstrap import create_app
from web.domain.downloads import (
    BOM,
    FORMULA_STARTS,
    HOLDINGS_HEADER,
    TRANSACTIONS_HEADER,
    BadWindow,
    Window,
    csv_lines,
    filename,
    holding_row,
    safe_cell,
    transaction_row,
    window,
)
from web.settings import WebSettings

from .conftest import MemoryStore

ACCOUNT = "GHA-1001"
BLOCK = {
    "block_id": 7,
    "first": 1,
    "last": 5000,
    "quantity": 5000,
    "serials": "CA0001-INT01-GHA-1-2024..CA0001-INT01-GHA-5000-2024",
    "scope": {
        "originating_registry": "INT01",
        "issuing_party": "GHA",
        "activity_id": '=HYPERLINK("http://evil.example")',
        "vintage": 2024,
        "metric": "t_co2e",
    },
    "cooperative_approach": "CA0001",
    "first_transferring_party": "GHA",
    "sectors": ["energy", "waste"],
    "activity_types": ["cookstoves"],
    "underlying": None,
}
TRANSFER = {
    "transaction_id": "5f0a7a4e-8f43-4d8e-9d3f-1f3b1b6c2a10",
    "kind": "transfer_units",
    "outcome": "recorded",
    "initiator": "ama",
    "on_behalf_of": None,
    "command": {"kind": "transfer_units", "source": ACCOUNT, "destination": "GHA-2002", "units": {}},
    "result": {"source": ACCOUNT, "destination": "GHA-2002", "quantity": 1200, "blocks": []},
    "journal_sequence": 12,
    "recorded_at": "2026-03-01T09:30:05+00:00",
}


def spreadsheet_would_evaluate(cell: str) -> bool:
    return cell[:1] in FORMULA_STARTS or cell.lstrip()[:1] in FORMULA_STARTS


def parsed(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


# Cells a spreadsheet shows as they are.


def test_a6r23_formulas_become_text_and_numbers_stay_numbers() -> None:
    assert safe_cell("=1+1") == "'=1+1"
    assert safe_cell("+33 1 23") == "'+33 1 23"
    assert safe_cell("-2+3") == "'-2+3"
    assert safe_cell("@SUM(A1:A9)") == "'@SUM(A1:A9)"
    assert safe_cell("\t=cmd") == "'\t=cmd"
    assert safe_cell("\r=cmd") == "'\r=cmd"
    assert safe_cell("  =cmd") == "'  =cmd"
    assert safe_cell("\uff1dcmd") == "'\uff1dcmd"  # a full-width equals sign
    assert safe_cell(5000) == "5000"
    assert safe_cell(-3) == "-3"
    assert safe_cell("-3") == "-3"
    assert safe_cell("GHA-1001") == "GHA-1001"
    assert safe_cell("CA0001-INT01-GHA-1-2024..CA0001-INT01-GHA-5000-2024").startswith("CA0001")
    assert safe_cell(None) == ""
    assert safe_cell(True) == "True"


@given(st.text())
def test_a6r23_any_text_becomes_a_cell_a_spreadsheet_will_not_evaluate(text: str) -> None:
    cell = safe_cell(text)
    assert cell in (text, "'" + text)
    assert re.fullmatch(r"-?[0-9]+", text) or not spreadsheet_would_evaluate(cell)


@given(st.integers())
def test_a6r23_whole_numbers_stay_numbers(number: int) -> None:
    assert safe_cell(number) == str(number)
    assert safe_cell(str(number)) == str(number)


@given(st.lists(st.lists(st.one_of(st.text(), st.integers(), st.none()), min_size=1), max_size=5))
def test_a6r23_csv_lines_read_back_as_the_safe_cells(rows: list[list[Any]]) -> None:
    assert parsed(csv_lines(rows)) == [[safe_cell(v) for v in row] for row in rows]


# Rows.


def test_a6r23_a_holding_row_has_the_scope_serials_quantity_and_metadata() -> None:
    row = dict(zip(HOLDINGS_HEADER, (safe_cell(v) for v in holding_row(ACCOUNT, BLOCK)), strict=True))
    assert row["account"] == ACCOUNT and row["block_id"] == "7"
    assert (row["originating_registry"], row["issuing_party"], row["vintage"], row["metric"]) == (
        "INT01",
        "GHA",
        "2024",
        "t_co2e",
    )
    assert row["activity_id"].startswith("'=HYPERLINK")
    assert (row["first_serial"], row["last_serial"], row["quantity"]) == ("1", "5000", "5000")
    assert row["serials"] == BLOCK["serials"]
    assert (row["cooperative_approach"], row["first_transferring_party"]) == ("CA0001", "GHA")
    assert (row["sectors"], row["activity_types"]) == ("energy; waste", "cookstoves")
    assert row["underlying_registry"] == row["underlying_first"] == ""


def test_a6r23_a_transaction_row_says_what_moved_and_why_a_refusal_was() -> None:
    row = dict(zip(TRANSACTIONS_HEADER, transaction_row(TRANSFER), strict=True))
    assert row["transaction_id"] == TRANSFER["transaction_id"] and row["journal_sequence"] == 12
    assert (row["source"], row["destination"], row["quantity"]) == (ACCOUNT, "GHA-2002", 1200)
    assert row["refusal_code"] is None
    refused = {**TRANSFER, "outcome": "rejected", "result": {"error": {"code": "insufficient_units"}}}
    refused["command"] = {**TRANSFER["command"], "quantity": 9}
    row = dict(zip(TRANSACTIONS_HEADER, transaction_row(refused), strict=True))
    assert (row["refusal_code"], row["quantity"], row["source"]) == ("insufficient_units", 9, ACCOUNT)


# Windows and file names.


def test_a6r23_a_window_of_days_includes_both_days() -> None:
    span = window({"from": "2026-01-01", "to": "2026-01-31"})
    assert span.params == {
        "recorded_from": "2026-01-01T00:00:00+00:00",
        "recorded_before": "2026-02-01T00:00:00+00:00",
    }
    assert span.label == "2026-01-01-to-2026-01-31"
    assert window({}) == Window()
    assert window({"to": "9999-12-31"}).params == {}
    assert window({"from": "2026-01-01"}).label == "2026-01-01-to-now"


def test_a6r23_a_window_of_instants_is_in_utc() -> None:
    span = window({"recorded_from": "2026-01-01T02:00:00+02:00", "recorded_before": "2026-01-02T00:00:00Z"})
    assert span.params == {
        "recorded_from": "2026-01-01T00:00:00+00:00",
        "recorded_before": "2026-01-02T00:00:00+00:00",
    }
    assert span.label == "20260101T000000Z-to-20260102T000000Z"


@pytest.mark.parametrize(
    "query",
    [
        {"recorded_from": "2026-01-01T00:00:00"},  # naive: could be any of 26 hours
        {"recorded_before": "yesterday"},
        {"recorded_from": "0001-01-01T00:00:00+14:00"},  # before the calendar once in UTC
        {"from": "2026-13-45"},
        {"to": "2026-1-1"},
        {"from": "2026-02-01", "to": "2026-01-01"},
        {"recorded_from": "2026-02-01T00:00:00Z", "recorded_before": "2026-01-01T00:00:00Z"},
        {"from": "2026-01-01", "recorded_before": "2026-02-01T00:00:00Z"},
    ],
)
def test_a6r23_a_window_it_cannot_take_is_refused_with_what_to_give(query: dict[str, str]) -> None:
    with pytest.raises(BadWindow, match=r"Give|before|after|outside"):
        window(query)


@given(st.dictionaries(st.sampled_from(["from", "to", "recorded_from", "recorded_before"]), st.text()))
def test_a6r23_any_window_is_taken_or_refused_never_failing(query: dict[str, str]) -> None:
    try:
        window(query)
    except BadWindow:
        pass


@given(st.lists(st.text(), min_size=1, max_size=4))
def test_a6r23_file_names_hold_only_safe_characters(parts: list[str]) -> None:
    name = filename(*parts)
    assert name.endswith(".csv") and len(name) <= 124
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in name)


# The routes over a ledger stand-in.


class Ledger:
    """The ledger's listings, two items a page, its refusals, and the calls the web made."""

    def __init__(
        self, listings: dict[str, list[dict[str, Any]]], refusals: dict[str, ServiceError], later: ServiceError | None
    ) -> None:
        self.listings = listings
        self.refusals = refusals
        self.later = later  # the answer to every page after the first
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def call(self, service: str, method: str, path: str, **kwargs: Any) -> Any:
        params = dict(kwargs.get("params") or {})
        self.calls.append((path, params))
        if path in self.refusals:
            raise self.refusals[path]
        if self.later is not None and params.get("after"):
            raise self.later
        if path not in self.listings:
            return {"number": path.rsplit("/", 1)[1]}
        start = int(params.get("after") or 0)
        items = self.listings[path][start : start + 2]
        more = start + 2 < len(self.listings[path])
        return {"items": items, "next": str(start + 2) if more else None}


def signed_in_app(
    roles: list[str],
    listings: dict[str, list[dict[str, Any]]],
    refusals: dict[str, ServiceError] | None = None,
    later: ServiceError | None = None,
) -> tuple[httpx.AsyncClient, Ledger]:
    app = create_app()
    store = MemoryStore()
    ledger = Ledger(listings, refusals or {}, later)
    settings = WebSettings(service_name="web", mode="test")
    app.state.runtime.state["web"] = SimpleNamespace(settings=settings, sessions=store, backends=ledger)
    grants = [{"role": r, "section": "GHA", "account": ACCOUNT} for r in roles]
    session = store.new({"auth": {"access": "a", "expires_at": 9e12, "grants": grants}})
    store.rows[session.id] = session
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    http.cookies.set("registry-session", session.id)
    return http, ledger


BLOCKS = [{**BLOCK, "block_id": n, "first": n * 10, "last": n * 10 + n, "quantity": n + 1} for n in range(5)]


async def test_a6r23_holdings_stream_every_page_of_the_ledger_at_one_instant() -> None:
    http, ledger = signed_in_app([ACCOUNT_INITIATOR], {f"/accounts/{ACCOUNT}/blocks": BLOCKS})
    async with http:
        response = await http.get(f"/accounts/{ACCOUNT}/holdings.csv?at=2026-03-01T09:30:05")
    assert response.status_code == 200 and response.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = response.headers["content-disposition"]
    assert disposition == f'attachment; filename="holdings-{ACCOUNT}-20260301T093005Z.csv"'
    assert response.content.startswith(BOM.encode())
    rows = parsed(response.content.decode("utf-8-sig"))
    assert tuple(rows[0]) == HOLDINGS_HEADER
    assert sum(int(r[HOLDINGS_HEADER.index("quantity")]) for r in rows[1:]) == sum(b["quantity"] for b in BLOCKS)
    assert [p.get("after") for _, p in ledger.calls] == [None, "2", "4"]
    assert {p["at"] for _, p in ledger.calls} == {"2026-03-01T09:30:05+00:00"}
    assert all(p["limit"] == 1000 for _, p in ledger.calls)


async def test_a6r23_holdings_without_an_instant_are_the_current_ones_named_after_the_time_read() -> None:
    """Without `at` the ledger is asked for its current holdings (its cursor pins the pages to the
    first page's moment): an `at` of the web's clock could be later than the ledger's final instant
    and be refused (instant_not_yet_final)."""
    http, ledger = signed_in_app([REGISTRY_ADMINISTRATOR], {f"/accounts/{ACCOUNT}/blocks": BLOCKS})
    before = datetime.now(UTC).replace(microsecond=0)
    async with http:
        response = await http.get(f"/accounts/{ACCOUNT}/holdings.csv")
    after = datetime.now(UTC)
    assert response.status_code == 200
    assert [p.get("after") for _, p in ledger.calls] == [None, "2", "4"]
    assert all("at" not in p for _, p in ledger.calls), ledger.calls
    stamp = re.search(rf'filename="holdings-{ACCOUNT}-(\d{{8}}T\d{{6}})Z.csv"', response.headers["content-disposition"])
    assert stamp is not None, response.headers["content-disposition"]
    assert before <= datetime.strptime(stamp.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC) <= after


async def test_a6r23_a_refusal_of_the_first_page_is_the_usual_error_page() -> None:
    unknown = ServiceError(404, "unknown_account", "There is no account GHA-1001 you may see.", {}, "ledger")
    http, _ = signed_in_app([ACCOUNT_INITIATOR], {}, {f"/accounts/{ACCOUNT}/blocks": unknown})
    async with http:
        response = await http.get(f"/accounts/{ACCOUNT}/holdings.csv")
    assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")
    assert "There is no account GHA-1001 you may see." in response.text


async def test_a6r23_a_failure_after_the_first_page_breaks_the_download_off() -> None:
    """Never a file that looks complete but is not."""
    broken = ServiceError(503, "ledger_starting", "Retry in a moment.", {}, "ledger")
    http, ledger = signed_in_app([ACCOUNT_INITIATOR], {"/transactions": [TRANSFER] * 3}, later=broken)
    async with http:
        with pytest.raises(ServiceError):
            await http.get(f"/accounts/{ACCOUNT}/transactions.csv")
    assert [p.get("after") for _, p in ledger.calls[1:]] == [None, "2"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (f"/accounts/{ACCOUNT}/holdings.csv?at=2026-13-45T99:99:99", "Give a date and time"),
        (f"/accounts/{ACCOUNT}/holdings.csv?at=0001-01-01T00:00:00%2B14:00", "Give a date and time"),
        (f"/accounts/{ACCOUNT}/transactions.csv?recorded_from=2026-01-01T00:00:00", "with its time zone"),
        ("/transactions.csv?recorded_before=2026-01-01T00:00:00", "with its time zone"),
        ("/transactions.csv?from=2026-01-01&recorded_before=2026-01-01T00:00:00Z", "not both"),
        ("/transactions.csv?from=yesterday", "year-month-day"),
    ],
)
async def test_a6r23_bad_input_gets_the_usual_400_page(url: str, message: str) -> None:
    http, ledger = signed_in_app([REGISTRY_ADMINISTRATOR], {})
    async with http:
        response = await http.get(url)
    assert response.status_code == 400 and message in response.text
    assert not ledger.calls


async def test_a6r23_an_accounts_transactions_in_a_window_read_after_the_account_itself() -> None:
    http, ledger = signed_in_app([ACCOUNT_INITIATOR], {"/transactions": [TRANSFER] * 3})
    async with http:
        response = await http.get(f"/accounts/{ACCOUNT}/transactions.csv?from=2026-03-01&to=2026-03-01")
    assert response.status_code == 200
    name = f"transactions-{ACCOUNT}-2026-03-01-to-2026-03-01.csv"
    assert response.headers["content-disposition"] == f'attachment; filename="{name}"'
    rows = parsed(response.content.decode("utf-8-sig"))
    assert tuple(rows[0]) == TRANSACTIONS_HEADER and len(rows) == 4
    assert ledger.calls[0][0] == f"/accounts/{ACCOUNT}"
    path, params = ledger.calls[1]
    assert path == "/transactions" and params["account"] == ACCOUNT
    assert params["recorded_from"] == "2026-03-01T00:00:00+00:00"
    assert params["recorded_before"] == "2026-03-02T00:00:00+00:00"


async def test_a6r23_an_accounts_transactions_need_the_right_to_see_transactions() -> None:
    """As on the account page, where an approach observer sees the blocks but not the history."""
    http, _ = signed_in_app([APPROACH_OBSERVER], {f"/accounts/{ACCOUNT}/blocks": BLOCKS})
    async with http:
        assert (await http.get(f"/accounts/{ACCOUNT}/holdings.csv")).status_code == 200
        refused = await http.get(f"/accounts/{ACCOUNT}/transactions.csv")
        assert refused.status_code == 403 and "Not available to you" in refused.text
        assert (await http.get("/transactions.csv")).status_code == 403


async def test_a6r23_the_registrys_transactions_of_a_kind() -> None:
    http, ledger = signed_in_app([REGISTRY_ADMINISTRATOR], {"/transactions": [TRANSFER] * 5})
    async with http:
        response = await http.get("/transactions.csv?kind=transfer_units")
    assert response.status_code == 200
    assert 'filename="transactions-transfer_units-all.csv"' in response.headers["content-disposition"]
    assert len(parsed(response.content.decode("utf-8-sig"))) == 6
    assert [p.get("kind") for _, p in ledger.calls] == ["transfer_units"] * 3
