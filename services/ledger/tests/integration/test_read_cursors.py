"""Listing cursors (A6R-48, A6R-30): a cursor continues only the listing it was made for (its sort and
its filters; any other is a 422 bad_cursor), pages stay exact where sort values are equal, and the
pages of an account's blocks are read as at their first page, whatever is transferred meanwhile."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from registry_platform.auth import Grant

from .conftest import ADMIN, SCOPE, LedgerClient, setup_registry

pytestmark = pytest.mark.integration


async def _get(ledger: LedgerClient, path: str, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {ledger.token('admin', ADMIN)}"}
    return await ledger.http.get(f"{ledger.base_url}{path}", headers=headers, params=params)


async def _all(ledger: LedgerClient, path: str, *, grants: list[Grant] = ADMIN, **params: Any) -> list[dict[str, Any]]:
    """Every item of a listing, page by page."""
    items: list[dict[str, Any]] = []
    after = None
    for _ in range(1000):
        page = await ledger.get(path, grants=grants, **params, **({"after": after} if after else {}))
        items += page["items"]
        after = page["next"]
        if after is None:
            return items
    raise AssertionError("the listing never ended")


def _ranged(source: str, destination: str, first: int, last: int) -> dict[str, Any]:
    return {
        "kind": "transfer_units",
        "source": source,
        "destination": destination,
        "units": {"ranges": [{"scope": SCOPE, "first": first, "last": last}]},
    }


async def _six_blocks(ledger: LedgerClient) -> dict[str, str]:
    """The issuance account holds six blocks of 50 units (serials 1-50, 101-150, ..., 501-550),
    every other 50 moved to the GHA holding account."""
    acc = await setup_registry(ledger)
    await ledger.ok(
        {
            "kind": "issue_units",
            "account": acc["issuance"],
            "scope": SCOPE,
            "quantity": 600,
            "first_transferring_party": "GHA",
            "cooperative_approach": "CA0001",
        }
    )
    for first in range(51, 600, 100):
        await ledger.ok(_ranged(acc["issuance"], acc["gha_holding"], first, first + 49))
    return acc


def _bad_cursor(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == "bad_cursor", error
    assert "leave out 'after'" in error["message"], error
    return error


async def test_a6r30_a_cursor_continues_only_the_sort_and_filters_it_was_made_for(ledger: LedgerClient) -> None:
    acc = await _six_blocks(ledger)
    by_balance = await ledger.get("/accounts", sort="-balance", limit=2)
    assert by_balance["next"]
    # Another sort: its position means nothing there.
    for sort in (None, "number", "balance", "holder"):
        sorted_so = {"sort": sort} if sort else {}
        error = _bad_cursor(await _get(ledger, "/accounts", after=by_balance["next"], **sorted_so))
        assert error["details"]["cursor_sort"] == "-balance", error
        assert "sort=-balance" in error["message"]
    # Other filters.
    error = _bad_cursor(await _get(ledger, "/accounts", sort="-balance", section="GHA", after=by_balance["next"]))
    assert error["details"]["filters"] == ["section", "status", "type"]
    # The same sort and filters continue it.
    assert (await ledger.get("/accounts", sort="-balance", limit=2, after=by_balance["next"]))["items"]

    by_default = await ledger.get("/accounts", limit=2)
    _bad_cursor(await _get(ledger, "/accounts", sort="-balance", after=by_default["next"]))
    _bad_cursor(await _get(ledger, "/accounts", sort="-number", after=by_default["next"]))

    recorded = await ledger.get("/transactions", limit=2)
    _bad_cursor(await _get(ledger, "/transactions", sort="kind", after=recorded["next"]))
    _bad_cursor(await _get(ledger, "/transactions", kind="transfer_units", after=recorded["next"]))
    _bad_cursor(await _get(ledger, "/transactions", account=acc["issuance"], after=recorded["next"]))
    window = {"recorded_from": "2020-01-01T00:00:00Z"}
    in_window = await ledger.get("/transactions", limit=2, **window)
    _bad_cursor(await _get(ledger, "/transactions", after=in_window["next"]))
    # The same instant written in another zone is the same filter.
    elsewhere = "2020-01-01T02:00:00+02:00"
    same = await ledger.get("/transactions", limit=2, recorded_from=elsewhere, after=in_window["next"])
    assert same["items"]

    blocks = f"/accounts/{acc['issuance']}/blocks"
    live = await ledger.get(blocks, limit=2)
    first_entry = (await ledger.get("/journal", limit=1))["items"][0]["recorded_at"]
    _bad_cursor(await _get(ledger, blocks, at=first_entry, after=live["next"]))
    _bad_cursor(await _get(ledger, blocks, sort="-block", after=live["next"]))
    # Another account's: it would skip this account's blocks up to the other's position.
    error = _bad_cursor(await _get(ledger, f"/accounts/{acc['gha_holding']}/blocks", after=live["next"]))
    assert error["details"]["filters"] == ["account", "at"], error
    newest = (await ledger.get("/journal", limit=1000))["items"][-1]["recorded_at"]
    past = await ledger.get(blocks, limit=2, at=newest)
    _bad_cursor(await _get(ledger, blocks, after=past["next"]))
    assert (await ledger.get(blocks, limit=2, at=newest, after=past["next"]))["items"]


async def test_a6r48_pages_of_an_accounts_blocks_are_read_as_at_the_first_page(ledger: LedgerClient) -> None:
    """A transfer between two pages splits a block of the first page (its remainder becomes a new
    block, with a higher id than any on the first page) and moves one of the second page away: the
    pages still give each unit the account held at the first page exactly once, under any sort."""
    acc = await _six_blocks(ledger)
    blocks = f"/accounts/{acc['issuance']}/blocks"
    before = await ledger.get(blocks, limit=1000)
    assert sorted((b["first"], b["last"]) for b in before["items"]) == [(1 + 100 * i, 50 + 100 * i) for i in range(6)]
    for sort in (None, "-block", "serial", "-quantity"):
        first = await ledger.get(blocks, limit=2, **({"sort": sort} if sort else {}))
        on_first = {b["block_id"] for b in first["items"]}
        split = first["items"][0]
        moved = next(b for b in before["items"] if b["block_id"] not in on_first)
        await ledger.ok(_ranged(acc["issuance"], acc["che_holding"], split["first"], split["first"] + 9))
        await ledger.ok(_ranged(acc["issuance"], acc["che_holding"], moved["first"], moved["last"]))
        rest = []
        after = first["next"]
        while after:
            page = await ledger.get(blocks, limit=2, after=after, **({"sort": sort} if sort else {}))
            rest += page["items"]
            after = page["next"]
        paged = first["items"] + rest
        assert sorted((b["first"], b["last"]) for b in paged) == sorted(
            (b["first"], b["last"]) for b in before["items"]
        ), sort
        before = await ledger.get(blocks, limit=1000)


async def test_a6r30_equal_sort_values_keep_one_order_across_pages(ledger: LedgerClient) -> None:
    """Most accounts hold nothing and share a status and a type, all blocks share a vintage, and all
    transactions an outcome: pages of one or two still give each item once, in order, the key
    breaking ties."""
    acc = await _six_blocks(ledger)
    await ledger.ok({"kind": "open_account", "holder": "another", "section": "GHA", "type": "holding"})
    every = {a["number"] for a in (await ledger.get("/accounts", limit=1000))["items"]}
    for sort in ("balance", "-balance", "status", "-status", "type", "-type", "section", "-section"):
        for limit in (1, 2):
            seen = await _all(ledger, "/accounts", sort=sort, limit=limit)
            numbers = [a["number"] for a in seen]
            assert len(numbers) == len(set(numbers)) and set(numbers) == every, (sort, limit)
            column = sort.removeprefix("-")
            keys = [(a[column] if a[column] is not None else "", a["number"]) for a in seen]
            assert keys == sorted(keys, reverse=sort.startswith("-")), (sort, limit)

    held = await _all(ledger, f"/accounts/{acc['issuance']}/blocks", limit=1000)
    for sort in ("vintage", "-vintage", "quantity", "-quantity", "activity"):
        seen = await _all(ledger, f"/accounts/{acc['issuance']}/blocks", sort=sort, limit=1)
        ids = [b["block_id"] for b in seen]
        assert ids == sorted(ids, reverse=sort.startswith("-")), sort
        assert sorted(ids) == sorted(b["block_id"] for b in held), sort

    everything = {t["transaction_id"] for t in (await ledger.get("/transactions", limit=1000))["items"]}
    for sort in ("outcome", "-outcome", "initiator"):
        seen = await _all(ledger, "/transactions", sort=sort, limit=2)
        ids = [t["transaction_id"] for t in seen]
        assert len(ids) == len(set(ids)) and set(ids) == everything, sort
