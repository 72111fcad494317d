"""Answers about a past instant are final (A6R-48): the writer stamps a batch's instant before it
commits, so an instant is answered only once no entry can still come at or before it. Up to the
newest committed entry's instant that is so; a later one once no batch is in flight (the reader
waits for the writer's batch lock) and the instant is before the reader's clock. Anything later
(the future) is refused with 422 instant_not_yet_final, naming the latest final instant."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from ledger.adapters.repository import BATCH_LOCK
from registry_platform import db

from .conftest import ADMIN, LedgerClient, issue, setup_registry, transfer

pytestmark = pytest.mark.integration


async def _get(ledger: LedgerClient, path: str, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {ledger.token('admin', ADMIN)}"}
    return await ledger.http.get(f"{ledger.base_url}{path}", headers=headers, params=params)


async def _newest_instant(ledger: LedgerClient) -> datetime:
    entries = (await ledger.get("/journal", limit=1000))["items"]
    return datetime.fromisoformat(entries[-1]["recorded_at"])


def _refusal(response: httpx.Response, asked_before: datetime) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "instant_not_yet_final" and error["details"]["parameter"] == "at", error
    final = datetime.fromisoformat(error["details"]["latest_final"])
    assert asked_before <= final <= datetime.now(UTC), error
    assert "leave out 'at'" in error["message"], error


async def test_a6r48_an_instant_whose_record_is_final_is_answered_a_later_one_refused(
    ledger: LedgerClient,
) -> None:
    acc = await setup_registry(ledger)
    blocks = f"/accounts/{acc['gha_holding']}/blocks"
    await issue(ledger, acc["issuance"], 100)
    moved = await ledger.ok(transfer(acc["issuance"], acc["gha_holding"], 40))
    newest = await _newest_instant(ledger)
    assert datetime.fromisoformat(moved["recorded_at"]) == newest

    # The newest entry's own instant, and any past instant after it, answer the same holdings.
    at_newest = await ledger.get(blocks, at=newest.isoformat())
    assert [(b["first"], b["last"]) for b in at_newest["items"]] == [(1, 40)]
    later = newest + timedelta(microseconds=1)
    for written in (later.isoformat(), later.astimezone(timezone(timedelta(hours=2))).isoformat()):
        assert (await ledger.get(blocks, at=written))["items"] == at_newest["items"]

    # The future is refused, in any zone, naming an instant that is final.
    asked = datetime.now(UTC)
    _refusal(await _get(ledger, blocks, at="2999-01-01T00:00:00Z"), asked)
    _refusal(
        await _get(
            ledger, blocks, at=(asked + timedelta(minutes=5)).astimezone(timezone(timedelta(hours=-5))).isoformat()
        ),
        asked,
    )

    # A window of recording instants is a listing, not a claim about a state: one ending in the
    # future lists what is recorded so far.
    listed = await ledger.get("/transactions", recorded_before="2999-01-01T00:00:00Z", limit=1000)
    assert moved["transaction_id"] in {t["transaction_id"] for t in listed["items"]}
    assert (await ledger.get("/transactions", recorded_from="2999-01-01T00:00:00Z"))["items"] == []


async def test_a6r48_a_reader_asking_after_the_newest_entry_waits_for_the_batch_in_flight(
    ledger: LedgerClient, database_url: str
) -> None:
    """While the writer's batch lock is held (as by a batch stamped but not yet committed), an
    instant after the newest entry is not answered; and the writer waits while readers hold it."""
    acc = await setup_registry(ledger)
    blocks = f"/accounts/{acc['gha_holding']}/blocks"
    await issue(ledger, acc["issuance"], 100)
    engine = db.create_engine(database_url, "ledger")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f"SELECT pg_advisory_xact_lock({BATCH_LOCK})"))
            asked = (await _newest_instant(ledger)) + timedelta(milliseconds=1)
            await asyncio.sleep(0.01)
            reading = asyncio.create_task(ledger.get(blocks, at=asked.isoformat()))
            await asyncio.sleep(0.5)
            assert not reading.done(), "answered while a batch could still record an earlier instant"
            await conn.commit()
        assert (await asyncio.wait_for(reading, 10))["items"] == []

        async with engine.connect() as conn:
            await conn.execute(text(f"SELECT pg_advisory_xact_lock_shared({BATCH_LOCK})"))
            moving = asyncio.create_task(ledger.ok(transfer(acc["issuance"], acc["gha_holding"], 7)))
            await asyncio.sleep(0.5)
            assert not moving.done(), "the writer stamped a batch while a reader held the lock"
            await conn.commit()
        moved = await asyncio.wait_for(moving, 10)
        assert moved["quantity"] == 7
    finally:
        await engine.dispose()


async def test_a6r48_an_instant_whose_utc_time_is_past_the_calendar_is_a_422_not_a_500(ledger: LedgerClient) -> None:
    """9999-12-31T23:00:00-05:00 and 0001-01-01T00:00:00+01:00 are valid timestamps whose UTC
    times fall outside the years 1 to 9999: they broke the listings' cursors with a 500."""
    accounts = await setup_registry(ledger)
    await issue(ledger, accounts["issuance"], 10)
    asked = (
        ("/transactions", "recorded_before", "9999-12-31T23:00:00-05:00"),
        ("/transactions", "recorded_from", "0001-01-01T00:00:00+01:00"),
        (f"/accounts/{accounts['issuance']}/blocks", "at", "0001-01-01T00:00:00+01:00"),
    )
    for path, name, instant in asked:
        refused = await _get(ledger, path, limit=1, **{name: instant})
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["code"] == "timestamp_out_of_range" and name in error["message"], error
