"""Data downloads for analysis (A6R-23): an account's holdings (now or at a past instant), an
account's transactions, the registry's transactions, and the daily operation report (A6R-30 b),
as CSV for office applications.

Who may download: exactly who may see the same data on its page. Each download declares the same
`signed_in(...)` function as its page (holdings and an account's transactions: `accounts.view`, as
the account page, plus `transactions.view` for the transactions, as the page's history; the
registry's transactions: `transactions.view`, as `/transactions`), and every row comes from the
ledger with the user's token, so the ledger's own authorization applies: account holders reach
their accounts only, section administrators their section's; an account's transactions are
every one recorded on it, and the registry's are, for everyone but registry administrators, the
transactions they initiated.

The downloads stream: the ledger is read page by page and rows are written as they come, so a large
registry is never held in memory. The first page is read before the response starts, so that a
refusal (not permitted, unknown account, bad filter) is the web's usual error page with its status;
a failure after that breaks the download off rather than end it as if it were complete.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from web.domain import downloads
from web.domain.downloads import BadWindow
from web.domain.formatting import day_window, is_day
from web.entrypoints.page import Page
from web.entrypoints.pipeline import PageRoute, signed_in

log = logging.getLogger(__name__)
router = APIRouter(route_class=PageRoute)
PAGE_SIZE = 1000  # the ledger's largest page
Item = Mapping[str, Any]
Pages = AsyncIterator[list[Item]]


async def _listing(page: Page, path: str, params: dict[str, Any]) -> Pages:
    """The ledger's listing, its first page read now and the others as the download asks for them."""
    query = {**params, "limit": PAGE_SIZE}
    first = await page.call("ledger", "GET", path, params=query)
    return _following(page, path, query, first)


async def _following(page: Page, path: str, query: dict[str, Any], answer: Any) -> Pages:
    while True:
        yield answer["items"]
        if not answer.get("next"):
            return
        answer = await page.call("ledger", "GET", path, params={**query, "after": answer["next"]})


def _download(header: Sequence[str], pages: Pages, row: Callable[[Item], list[Any]], name: str) -> Response:
    async def body() -> AsyncIterator[str]:
        yield downloads.BOM + downloads.csv_lines([header])
        try:
            async for items in pages:
                yield downloads.csv_lines(row(item) for item in items)
        except Exception as exc:
            # Raised on, the connection closes unfinished: the browser reports a failed download.
            log.warning("download %s broke off: %s", name, exc)
            raise

    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _bad_input(page: Page, message: str) -> Response:
    return page.render("error.html", status=400, title="This download cannot be made", message=message)


@router.get("/accounts/{number}/holdings.csv", dependencies=[signed_in("accounts.view")])
async def holdings(request: Request, number: str) -> Response:
    """A6R-23 (a): the blocks an account holds, or held at `at` (parsed as on the account page)."""
    page = Page.of(request)
    params: dict[str, Any] = {}
    errors: dict[str, str] = {}
    at, _ = page.instant(params, errors)
    if errors:
        return _bad_input(page, errors["at"])
    # Every page is read as at one moment (the ledger's cursor pins the first page's), so transfers
    # during a long download neither drop nor repeat a block. Without `at`, that moment is now.
    moment = at or datetime.now(UTC)
    pages = await _listing(page, f"/accounts/{number}/blocks", params)
    name = downloads.holdings_name(number, moment)
    return _download(downloads.HOLDINGS_HEADER, pages, lambda block: downloads.holding_row(number, block), name)


def _transactions(pages: Pages, *scope: str) -> Response:
    name = downloads.filename("transactions", *scope)
    return _download(downloads.TRANSACTIONS_HEADER, pages, downloads.transaction_row, name)


@router.get("/accounts/{number}/transactions.csv", dependencies=[signed_in("accounts.view")])
async def account_transactions(request: Request, number: str) -> Response:
    """A6R-23 (a, b): an account's transactions recorded in the window (downloads.window)."""
    page = Page.of(request)
    page.require("transactions.view")  # the account page lists its transactions to these only
    try:
        span = downloads.window(request.query_params)
    except BadWindow as exc:
        return _bad_input(page, str(exc))
    # An account the user may not see is not found, as on its page.
    await page.call("ledger", "GET", f"/accounts/{number}")
    pages = await _listing(page, "/transactions", {"account": number, **span.params})
    return _transactions(pages, number, span.label)


@router.get("/transactions.csv", dependencies=[signed_in("transactions.view")])
async def registry_transactions(request: Request) -> Response:
    """A6R-23 (c): the transactions recorded in the window, of one kind if `kind` is given, as the
    `/transactions` page lists them (the entire registry for registry administrators)."""
    page = Page.of(request)
    try:
        span = downloads.window(request.query_params)
    except BadWindow as exc:
        return _bad_input(page, str(exc))
    kind = request.query_params.get("kind", "")
    pages = await _listing(page, "/transactions", {"kind": kind, **span.params})
    return _transactions(pages, *([kind] if kind else []), span.label)


@router.get("/daily-summary.csv", dependencies=[signed_in("daily_summary")])
async def daily_report(request: Request) -> Response:
    """The daily operation report (A6R-30 b): one line per transaction recorded that day (UTC)."""
    page = Page.of(request)
    day = request.query_params.get("day") or datetime.now(UTC).date().isoformat()
    if not is_day(day):
        return _bad_input(page, "Give the day as year-month-day, e.g. 2026-11-27.")
    pages = await _listing(page, "/transactions", day_window(day))
    name = downloads.filename("operations", day)
    return _download(downloads.TRANSACTIONS_HEADER, pages, downloads.transaction_row, name)
