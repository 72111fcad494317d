"""Listings the web reads whole, up to a page limit: a page built from a partial read says so."""

from __future__ import annotations

from typing import Any

from web.entrypoints.page import Page
from web.entrypoints.templating import render


def _page(items: int, per_page: int) -> Page:
    page = Page(None, None, None, False)  # type: ignore[arg-type]

    async def call(service: str, method: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        start = int(params.get("after") or 0)
        end = min(start + per_page, items)
        return {"items": [{"n": n} for n in range(start, end)], "next": str(end) if end < items else None}

    page.call = call  # type: ignore[method-assign,assignment]
    return page


async def test_a_listing_read_whole_is_not_partial() -> None:
    page = _page(items=5, per_page=2)
    assert [i["n"] for i in await page.collect("ledger", "/accounts", pages=3, limit=2)] == [0, 1, 2, 3, 4]
    assert not page.partial


async def test_a_listing_cut_at_the_page_limit_is_partial_and_the_page_says_so() -> None:
    """Before, the pages built from it (the registry's accounts, today's transactions) showed the
    first records as if they were all."""
    page = _page(items=7, per_page=2)
    assert len(await page.collect("ledger", "/accounts", pages=3, limit=2)) == 6
    assert page.partial
    shown = render("error.html", {"title": "Accounts", "page": page, "message": ""})
    assert "shows the first records only" in shown
    assert "shows the first records only" not in render("error.html", {"title": "Accounts", "page": _page(1, 2)})
