"""First-transfer markers from the real ledger's recorded transactions (A6R-45), their re-issue
(A6R-55), their announcement on descriptors.outbound, and a descriptors service killed while the
ledger records."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from descriptors.adapters import jws
from descriptors.domain.applicability import applicable_from
from registry_contracts.events.descriptors import DescriptorDocument
from registry_platform.testing.infra import free_port, spawn_service, wait_ready

from .conftest import (
    ADMIN,
    CHE,
    CHE_ADMIN,
    CHE_USE,
    GHA,
    GHA2,
    GHA_ADMIN,
    ISSUANCE,
    SCOPE,
    SERVICE,
    SETTLE,
    Bus,
    Client,
    Ledger,
    headers,
    issue_op,
    recorded_at,
    transfer_op,
)

pytestmark = pytest.mark.integration


async def processed(database_url: str, events: int, transactions: int | None = None) -> None:
    """Wait until the service took `events` recorded-transaction events and decided the markers of
    `transactions` distinct transactions (default: as many as events)."""
    transactions = events if transactions is None else transactions
    for _ in range(300):
        with psycopg.connect(database_url.replace("+psycopg", "")) as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM descriptors.inbox WHERE consumer = 'descriptors.transactions'), "
                "(SELECT count(*) FROM descriptors.decided_transactions)"
            ).fetchone()
        if row is not None and row[0] >= events and row[1] >= transactions:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the service did not process {events} events")


async def markers(client: Client) -> list[dict[str, Any]]:
    page = await client.ok("GET", "/descriptors", params={"kind": "first_transfer"})
    return page["items"]  # type: ignore[no-any-return]


def by_transaction(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["document"]["first_transfer"]["transaction_id"]: m for m in found}


async def segments(client: Client, at: datetime, first: int, last: int) -> list[tuple[int, int, str | None]]:
    body = {"at": at.isoformat(), "units": [{"scope": SCOPE, "first": first, "last": last}]}
    found = await client.ok("POST", "/descriptors/in-force", body, SERVICE)
    return [(d["first"], d["last"], (d["first_transfer"] or {}).get("descriptor_id")) for d in found["descriptors"]]


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_a6r45_marker_exactly_once_for_the_first_international_transfer_never_for_a_domestic_one(
    descriptors: Client, ledger: Ledger, bus: Bus, database_url: str
) -> None:
    await ledger.issue(1, 1000)
    await ledger.transfer(ISSUANCE, GHA, 1, 100)  # domestic
    x1 = await ledger.transfer(GHA, CHE, 1, 50)
    x2 = await ledger.transfer(GHA, CHE, 51, 100)
    await ledger.reverse(x2)
    x3 = await ledger.transfer(GHA, CHE_USE, 51, 100)
    # Marked units crossing again, and unmarked units moving at home: no marker.
    await ledger.transfer(CHE, GHA2, 1, 10)
    await ledger.transfer(ISSUANCE, GHA2, 101, 200)
    # The same transaction again under a new event id (the ledger's replay publishes it anew).
    await bus.publish((await bus.recorded_event(x1["transaction_id"])).payload)
    await processed(database_url, 9, 8)

    found = by_transaction(await markers(descriptors))
    assert sorted(found) == sorted(t["transaction_id"] for t in (x1, x2, x3))
    first = found[x1["transaction_id"]]
    assert first["issuing_party"] == "GHA" and first["document"]["first_transfer"]["basis"] == "international_transfer"
    # Created at the instant the ledger recorded the transfer, applicable per A6R-45's window.
    assert instant(first["created_at"]) == recorded_at(x1)
    assert instant(first["applicable_from"]) == applicable_from(recorded_at(x1))
    # The reversed first transfer's marker is replaced by the next international transfer's.
    assert found[x3["transaction_id"]]["supersedes"] == found[x2["transaction_id"]]["descriptor_id"]
    ids = {tx: m["descriptor_id"] for tx, m in found.items()}
    later = recorded_at(x3) + timedelta(days=3)
    assert await segments(descriptors, later, 1, 200) == [
        (1, 50, ids[x1["transaction_id"]]),
        (51, 100, ids[x3["transaction_id"]]),
        (101, 200, None),
    ]
    just_before = instant(first["applicable_from"]) - timedelta(microseconds=1)
    assert await segments(descriptors, just_before, 1, 50) == [(1, 50, None)]

    # Each marker left on descriptors.outbound, signed with the key the registry publishes.
    keys = (await descriptors.http.get(f"{descriptors.url}/descriptors/keys")).json()
    ring = jws.key_ring(keys["keys"])
    outbound = await bus.outbound(3)
    assert {e.payload["descriptor_id"] for e in outbound} == set(ids.values())
    for event in outbound:
        document = DescriptorDocument.model_validate(jws.verify(event.payload["jws"], ring).payload)
        assert document.origin_registry == "INT01" and event.key == document.cooperative_approach


async def test_a6r55_marker_reissue_refused_after_an_external_transfer_until_it_is_reversed(
    descriptors: Client, ledger: Ledger, database_url: str
) -> None:
    await ledger.issue(1, 100)
    await ledger.transfer(ISSUANCE, CHE, 1, 100)
    out = await ledger.external_out(CHE, 1, 100)
    await processed(database_url, 3)
    (original,) = await markers(descriptors)
    body = {"supersedes": original["descriptor_id"], "units": [{"scope": SCOPE, "first": 1, "last": 100}],
            "party": "GHA", "reason": "first transfer recorded with the wrong date"}  # fmt: skip
    # Re-issue is judged at the service's (controlled) now, after the ledger's transactions.
    descriptors.clock.now = recorded_at(out) + timedelta(seconds=1)

    refused = await descriptors.call("PUT", f"/first-transfer-markers/{uuid.uuid4()}", body, ADMIN)
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "reissue_not_allowed" and out["transaction_id"] in error["message"]
    other_party = await descriptors.call("PUT", f"/first-transfer-markers/{uuid.uuid4()}", body, GHA_ADMIN)
    assert other_party.status_code == 409  # a GHA administrator may ask; A6R-55 still refuses

    back = await ledger.reverse(out)
    await processed(database_url, 4)
    descriptors.clock.now = recorded_at(back) + timedelta(seconds=1)
    # Another Party's administrator cannot re-issue GHA's marker, even naming their own Party.
    foreign = await descriptors.call(
        "PUT", f"/first-transfer-markers/{uuid.uuid4()}", {**body, "party": "CHE"}, CHE_ADMIN
    )
    assert foreign.status_code == 403 and foreign.json()["error"]["code"] == "not_authorized", foreign.text
    reissued = await descriptors.call("PUT", f"/first-transfer-markers/{uuid.uuid4()}", body, ADMIN)
    assert reissued.status_code == 201, reissued.text
    view = reissued.json()
    assert view["supersedes"] == original["descriptor_id"]
    assert view["document"]["first_transfer"]["basis"] == "reissue"
    assert (
        view["document"]["first_transfer"]["transferred_at"] == original["document"]["first_transfer"]["transferred_at"]
    )
    later = recorded_at(back) + timedelta(days=3)
    assert await segments(descriptors, later, 1, 100) == [(1, 100, view["descriptor_id"])]


async def test_a6r45_a_transfer_consumed_late_corrects_the_markers_before_they_apply(
    descriptors: Client, bus: Bus, database_url: str
) -> None:
    """Beyond the settle delay (a lagging partition): later transfers are decided again and a marker
    made too early is superseded before it would apply.

    Event level: the real ledger and broker deliver every partition within the settle delay, so a
    transaction consumed this late is played by hand-made events (on the real ledger's accounts)."""
    t = datetime.fromisoformat("2026-03-10T23:00:00+00:00")
    h = lambda n: t - timedelta(hours=n)  # noqa: E731
    await bus.recorded("tx-i", "issue_units", [issue_op(ISSUANCE, 1, 100)], h(48))
    await bus.recorded("tx-x2", "transfer_units", [transfer_op(CHE, GHA, 1, 100)], h(20))
    await bus.recorded("tx-x3", "transfer_units", [transfer_op(GHA, GHA2, 1, 100)], h(10))
    await processed(database_url, 3)
    early = by_transaction(await markers(descriptors))
    assert sorted(early) == ["tx-x2"]  # CHE -> GHA looked like the first transfer (party CHE)
    assert early["tx-x2"]["issuing_party"] == "CHE"
    # The GHA -> CHE transfer recorded before them arrives late.
    await bus.recorded("tx-x1", "transfer_units", [transfer_op(ISSUANCE, CHE, 1, 100)], h(30))
    await processed(database_url, 4)
    found = by_transaction(await markers(descriptors))
    assert found["tx-x1"]["supersedes"] == early["tx-x2"]["descriptor_id"]
    assert found["tx-x1"]["issuing_party"] == "GHA"
    wrong_applies = instant(early["tx-x2"]["applicable_from"])
    assert instant(found["tx-x1"]["applicable_from"]) <= wrong_applies
    for at in (wrong_applies, t + timedelta(days=30)):
        assert await segments(descriptors, at, 1, 100) == [(1, 100, found["tx-x1"]["descriptor_id"])]


async def test_a6r45_a_late_transfer_that_keeps_the_marker_standing_restates_it_over_a_reissue_made_without_it(
    descriptors: Client, bus: Bus, database_url: str
) -> None:
    """A6R-45, A6R-55: the units went GHA -> CHE (marked), CHE -> GHA, GHA -> CHE (reversed, and the
    same correction matches the first transfer), then GHA -> CHE again. With CHE -> GHA consumed late,
    the last transfer looked like a re-issue (its own marker); once CHE -> GHA comes, which was never
    reversed, the first marker stands in ledger order, and it is stated again over the wrong one."""
    t = datetime.fromisoformat("2026-03-10T23:00:00+00:00")
    h = lambda n: t - timedelta(hours=n)  # noqa: E731
    await bus.recorded("tx-i", "issue_units", [issue_op(ISSUANCE, 1, 100)], h(60))
    await bus.recorded("tx-d", "transfer_units", [transfer_op(ISSUANCE, GHA, 1, 100)], h(55))
    await bus.recorded("tx-0", "transfer_units", [transfer_op(GHA, CHE, 1, 100)], h(50))
    await bus.recorded("tx-2", "transfer_units", [transfer_op(GHA2, GHA, 1, 100)], h(40))
    await bus.recorded("tx-3", "transfer_units", [transfer_op(GHA, CHE, 1, 100)], h(35))
    await bus.recorded("tx-4", "corrective_transfer", [transfer_op(CHE, GHA, 1, 100)], h(30))
    await bus.recorded("tx-5", "transfer_units", [transfer_op(GHA, CHE, 1, 100)], h(25))
    await processed(database_url, 7)
    early = by_transaction(await markers(descriptors))
    assert sorted(early) == ["tx-0", "tx-5"] and early["tx-5"]["supersedes"] == early["tx-0"]["descriptor_id"]
    await bus.recorded("tx-1", "transfer_units", [transfer_op(CHE, GHA2, 1, 100)], h(45))
    await processed(database_url, 8)
    found = await markers(descriptors)
    (restated,) = [m for m in found if m["supersedes"] == early["tx-5"]["descriptor_id"]]
    assert restated["document"]["first_transfer"]["transaction_id"] == "tx-0"
    assert restated["issuing_party"] == "GHA" and restated["created_at"] == early["tx-0"]["created_at"]
    assert len(found) == 3
    # The first marker and its restatement are alike; either may be named.
    ((first, last, in_force),) = await segments(descriptors, t + timedelta(days=30), 1, 100)
    assert (first, last) == (1, 100) and in_force in (restated["descriptor_id"], early["tx-0"]["descriptor_id"])


async def test_a6r45_a_late_correction_of_some_serials_gets_them_marked_by_the_transfer_after_it(
    descriptors: Client, bus: Bus, database_url: str
) -> None:
    """A6R-45, A6R-55: GHA -> CHE marked serials 1-100; corrections brought back 1-50 and 51-100, the
    second consumed late; GHA -> CHE again re-marks 1-50 at first, and, decided again once the late
    correction came, 51-100 too (under the same decision but other serials: a marker of its own)."""
    t = datetime.fromisoformat("2026-03-10T23:00:00+00:00")
    h = lambda n: t - timedelta(hours=n)  # noqa: E731
    await bus.recorded("tx-i", "issue_units", [issue_op(ISSUANCE, 1, 100)], h(60))
    await bus.recorded("tx-d", "transfer_units", [transfer_op(ISSUANCE, GHA, 1, 100)], h(55))
    await bus.recorded("tx-0", "transfer_units", [transfer_op(GHA, CHE, 1, 100)], h(50))
    await bus.recorded("tx-c1", "corrective_transfer", [transfer_op(CHE, GHA, 1, 50)], h(45))
    await bus.recorded("tx-2", "transfer_units", [transfer_op(GHA, CHE, 1, 100)], h(35))
    await processed(database_url, 5)
    far = t + timedelta(days=30)
    before = {m["descriptor_id"]: m for m in await markers(descriptors)}
    ((_, _, low), (_, _, high)) = await segments(descriptors, far, 1, 100)
    assert [before[low]["document"]["first_transfer"]["transaction_id"], before[high]["document"]["first_transfer"][
        "transaction_id"]] == ["tx-2", "tx-0"]  # fmt: skip
    await bus.recorded("tx-c2", "corrective_transfer", [transfer_op(CHE, GHA, 51, 100)], h(40))
    await processed(database_url, 6)
    found = {m["descriptor_id"]: m for m in await markers(descriptors)}
    in_force = await segments(descriptors, far, 1, 100)
    assert [(a, b) for a, b, _ in in_force] == [(1, 50), (51, 100)]
    assert [found[d]["document"]["first_transfer"]["transaction_id"] for _, _, d in in_force] == ["tx-2", "tx-2"]


async def test_a6r45_a_late_transfer_of_some_serials_leaves_the_others_markers_as_they_were(
    descriptors: Client, bus: Bus, database_url: str
) -> None:
    """A6R-45, A6R-55: GHA -> CHE (marked) of serials 1-100, reversed, then GHA -> CHE of 51-100
    (re-marked). A domestic transfer of 1-50 made before all of it, consumed late, changes nothing
    on 51-100: their marker stays the re-issue's (it was stated over by the first marker once)."""
    t = datetime.fromisoformat("2026-03-10T23:00:00+00:00")
    h = lambda n: t - timedelta(hours=n)  # noqa: E731
    await bus.recorded("tx-i", "issue_units", [issue_op(ISSUANCE, 1, 100)], h(60))
    await bus.recorded("tx-d", "transfer_units", [transfer_op(ISSUANCE, GHA, 1, 100)], h(58))
    await bus.recorded("tx-0", "transfer_units", [transfer_op(GHA, CHE, 1, 100)], h(50))
    await bus.recorded("tx-1", "corrective_transfer", [transfer_op(CHE, GHA, 1, 100)], h(45))
    await bus.recorded("tx-2", "transfer_units", [transfer_op(GHA, CHE, 51, 100)], h(40))
    await processed(database_url, 5)
    far = t + timedelta(days=30)
    before = await segments(descriptors, far, 1, 100)
    await bus.recorded("tx-p", "transfer_units", [transfer_op(GHA2, GHA, 1, 50)], h(55))
    await processed(database_url, 6)
    found = {m["descriptor_id"]: m for m in await markers(descriptors)}
    after = await segments(descriptors, far, 1, 100)
    assert after == before
    assert [found[d]["document"]["first_transfer"]["transaction_id"] for _, _, d in after] == ["tx-0", "tx-2"]


async def test_a6r45_descriptors_killed_while_the_ledger_records_marks_the_transfer_once_at_its_instant(
    service_settings, ledger: Ledger, database_url: str, tmp_path: Path
) -> None:
    """SIGKILL the descriptors service, record an international transfer, start it again: exactly one
    marker, created at the transaction's recorded_at, as if made in the ledger transaction."""
    settings = service_settings("descriptors")
    env = {
        "REGISTRY_DATABASE_URL": database_url,
        "REGISTRY_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "REGISTRY_TOPIC_PREFIX": settings.topic_prefix,
        "REGISTRY_MODE": "test",
        "REGISTRY_LEDGER_URL": ledger.url,
        "REGISTRY_MARKER_SETTLE_SECONDS": str(SETTLE),
    }
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    await ledger.issue(1, 100)
    await ledger.transfer(ISSUANCE, GHA, 1, 100)
    proc = spawn_service("descriptors", port, env, tmp_path, name="descriptors-before")
    try:
        await wait_ready(url)
        await processed(database_url, 2)
        os.kill(proc.pid() or 0, signal.SIGKILL)
    finally:
        proc.stop()

    abroad = await ledger.transfer(GHA, CHE, 1, 100)
    proc = spawn_service("descriptors", port, env, tmp_path, name="descriptors-after")
    try:
        await wait_ready(url)
        await processed(database_url, 3)
        await asyncio.sleep(SETTLE * 2)  # time for a duplicate to show up, if one were made
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.get(f"{url}/descriptors", params={"kind": "first_transfer"}, headers=headers(ADMIN))
        assert response.status_code == 200, response.text
        (marker,) = response.json()["items"]
    finally:
        proc.stop()
    first_transfer = marker["document"]["first_transfer"]
    assert first_transfer["transaction_id"] == abroad["transaction_id"]
    assert instant(marker["created_at"]) == recorded_at(abroad)
    assert instant(first_transfer["transferred_at"]) == recorded_at(abroad)
    assert instant(marker["applicable_from"]) == applicable_from(recorded_at(abroad))


async def waiting_for_locks(conn: psycopg.AsyncConnection[Any], count: int, timeout: float) -> int:
    """How many transactions wait for an advisory lock, once `count` do or after `timeout` seconds."""
    waiting = 0
    for _ in range(int(timeout / 0.05)):
        cur = await conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        waiting = (await cur.fetchone() or (0,))[0]
        if waiting >= count:
            break
        await asyncio.sleep(0.05)
    return waiting


def successors(found: list[dict[str, Any]], marker_id: str) -> list[str]:
    return sorted(m["descriptor_id"] for m in found if m["supersedes"] == marker_id)


async def test_a6r55_a_reissue_and_the_sequencer_superseding_one_marker_at_once_leave_one_successor(
    descriptors: Client, bus: Bus, database_url: str
) -> None:
    """A6R-45, A6R-55: a transaction consumed late supersedes the marker made too early while an
    administrator re-issues that marker. The test holds the sequencer's lock while the late
    transaction is staged and the re-issue asked: the re-issue waits for the lock, then is refused
    while the late transaction's markers are not decided, and the marker keeps one successor."""
    t = datetime.fromisoformat("2026-03-10T23:00:00+00:00")
    h = lambda n: t - timedelta(hours=n)  # noqa: E731
    await bus.recorded("tx-i", "issue_units", [issue_op(ISSUANCE, 1, 100)], h(48))
    await bus.recorded("tx-x2", "transfer_units", [transfer_op(CHE, GHA, 1, 100)], h(20))
    await processed(database_url, 2)
    (early,) = await markers(descriptors)
    body = {"supersedes": early["descriptor_id"], "units": [{"scope": SCOPE, "first": 1, "last": 100}],
            "party": "GHA", "reason": "CHE was not the first-transferring Party"}  # fmt: skip
    dsn = database_url.replace("+psycopg", "")
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as sequencer_lock:
        await sequencer_lock.execute("SELECT pg_advisory_lock(hashtextextended('descriptors:sequencer', 0))")
        await bus.recorded("tx-x1", "transfer_units", [transfer_op(ISSUANCE, CHE, 1, 100)], h(30))
        for _ in range(200):
            cur = await sequencer_lock.execute("SELECT count(*) FROM descriptors.staged_transactions")
            if (await cur.fetchone() or (0,))[0] >= 3:
                break
            await asyncio.sleep(0.05)
        reissue = asyncio.create_task(descriptors.call("PUT", f"/first-transfer-markers/{uuid.uuid4()}", body, ADMIN))
        await waiting_for_locks(sequencer_lock, 1, 5)  # the re-issue waits (unserialised, it is done)
        await sequencer_lock.execute("SELECT pg_advisory_unlock(hashtextextended('descriptors:sequencer', 0))")
        answer = await reissue
    await processed(database_url, 3)

    found = await markers(descriptors)
    late = by_transaction(found)["tx-x1"]
    assert successors(found, early["descriptor_id"]) == [late["descriptor_id"]]
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["code"] == "markers_pending" and "tx-x1" in answer.json()["error"]["message"]
    again = await descriptors.call("PUT", f"/first-transfer-markers/{uuid.uuid4()}", body, ADMIN)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_superseded", again.text
    assert successors(await markers(descriptors), early["descriptor_id"]) == [late["descriptor_id"]]


async def test_a6r55_the_sequencer_waits_for_a_reissue_in_progress_so_the_marker_keeps_one_successor(
    descriptors: Client, bus: Bus, database_url: str
) -> None:
    """A6R-45, A6R-55: a marker whose transfer was reversed is re-issued while a new transfer of the
    units is decided. The test holds the lock descriptors are stored under, so the re-issue stops
    after its checks; unserialised, the sequencer would read the marker as in force and supersede it
    too. It waits instead (and retries), then finds the re-issue in force: no second successor."""
    t = datetime.fromisoformat("2026-03-10T23:00:00+00:00")
    h = lambda n: t - timedelta(hours=n)  # noqa: E731
    await bus.recorded("tx-i", "issue_units", [issue_op(ISSUANCE, 1, 100)], h(48))
    await bus.recorded("tx-x1", "transfer_units", [transfer_op(ISSUANCE, CHE, 1, 100)], h(30))
    await bus.recorded("tx-c", "corrective_transfer", [transfer_op(CHE, ISSUANCE, 1, 100)], h(20))
    await processed(database_url, 3)
    (original,) = await markers(descriptors)
    body = {"supersedes": original["descriptor_id"], "units": [{"scope": SCOPE, "first": 1, "last": 100}],
            "party": "GHA", "reason": "first transfer recorded with the wrong date"}  # fmt: skip
    dsn = database_url.replace("+psycopg", "")
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as storing:
        await storing.execute("SELECT pg_advisory_lock(hashtextextended('descriptors:sequence', 0))")
        reissue = asyncio.create_task(descriptors.call("PUT", f"/first-transfer-markers/{uuid.uuid4()}", body, ADMIN))
        assert await waiting_for_locks(storing, 1, 10) == 1, "the re-issue passed its checks and waits to store"
        # Recorded after the re-issue's instant: decided after it, it finds the re-issue in force.
        await bus.recorded("tx-x2", "transfer_units", [transfer_op(ISSUANCE, CHE, 1, 100)], t + timedelta(hours=1))
        await waiting_for_locks(storing, 2, SETTLE + 3)  # an unserialised sequencer would wait to store too
        await storing.execute("SELECT pg_advisory_unlock(hashtextextended('descriptors:sequence', 0))")
        answer = await reissue
    await processed(database_url, 4)

    assert answer.status_code == 201, answer.text
    found = await markers(descriptors)
    assert successors(found, original["descriptor_id"]) == [answer.json()["descriptor_id"]]
    assert "tx-x2" not in by_transaction(found)


async def test_a6r55_two_reissues_of_one_marker_at_the_same_instant_leave_one_successor(
    descriptors: Client, ledger: Ledger, database_url: str
) -> None:
    """A6R-55: two administrators re-issue the same marker at the same instant (a coarse clock, or
    two instances' clocks apart): the second is refused whichever id it has, so the marker keeps one
    successor, concurrently too."""
    await ledger.issue(1, 100)
    crossed = await ledger.transfer(ISSUANCE, CHE, 1, 100)
    await processed(database_url, 2)
    (original,) = await markers(descriptors)
    descriptors.clock.now = recorded_at(crossed) + timedelta(seconds=1)
    body = {"supersedes": original["descriptor_id"], "units": [{"scope": SCOPE, "first": 1, "last": 100}],
            "party": "GHA", "reason": "first transfer recorded with the wrong date"}  # fmt: skip
    # At one instant, markers are ordered by id: the first re-issue does not come before the second.
    first = await descriptors.call("PUT", f"/first-transfer-markers/{uuid.UUID(int=(1 << 128) - 1)}", body, ADMIN)
    assert first.status_code == 201, first.text
    reissued = first.json()["descriptor_id"]
    second = await descriptors.call("PUT", f"/first-transfer-markers/{uuid.UUID(int=1)}", body, ADMIN)
    assert second.status_code == 409 and second.json()["error"]["code"] == "already_superseded", second.text
    assert successors(await markers(descriptors), original["descriptor_id"]) == [reissued]

    descriptors.clock.now += timedelta(seconds=1)
    again = {**body, "supersedes": reissued}
    both = await asyncio.gather(
        *(descriptors.call("PUT", f"/first-transfer-markers/{uuid.uuid4()}", again, ADMIN) for _ in range(2))
    )
    assert sorted(r.status_code for r in both) == [201, 409], [r.text for r in both]
    assert len(successors(await markers(descriptors), reissued)) == 1


async def test_a6r55_an_authorization_marks_units_for_oimp_only_once_the_transfers_moving_them_are_decided(
    descriptors: Client, ledger: Ledger, database_url: str
) -> None:
    """A6R-45, A6R-55: an authorization whose OIMP first transfer is the authorization itself is asked
    while an international transfer of some of its units is still settling. The test holds the
    sequencer's lock while the transfer is staged: the authorization waits for the lock, then is
    refused while the transfer's markers are not decided (unserialised, it would mark the transferred
    units too, and the transfer's marker would not supersede it). Asked again once they are, it marks
    only the units the transfer did not: one marker in force over each serial, as in ledger order."""
    await ledger.issue(1, 100)
    await processed(database_url, 1)
    body = {"issuing_party": "GHA", "cooperative_approach": "CA0001", "dedication": "oimp",
            "oimp_first_transfer": "authorization", "units": [{"scope": SCOPE, "first": 1, "last": 100}]}  # fmt: skip
    dsn = database_url.replace("+psycopg", "")
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as sequencer_lock:
        await sequencer_lock.execute("SELECT pg_advisory_lock(hashtextextended('descriptors:sequencer', 0))")
        crossed = await ledger.transfer(ISSUANCE, CHE, 1, 10)
        for _ in range(200):
            cur = await sequencer_lock.execute("SELECT count(*) FROM descriptors.staged_transactions")
            if (await cur.fetchone() or (0,))[0] >= 2:
                break
            await asyncio.sleep(0.05)
        descriptors.clock.now = datetime.now(UTC)  # after the transfer, at the ledger's real time
        asked = asyncio.create_task(descriptors.call("PUT", f"/authorizations/{uuid.uuid4()}", body, GHA_ADMIN))
        await waiting_for_locks(sequencer_lock, 1, 5)
        await sequencer_lock.execute("SELECT pg_advisory_unlock(hashtextextended('descriptors:sequencer', 0))")
        answer = await asked
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["code"] == "markers_pending" and crossed["transaction_id"] in error["message"], error

    await processed(database_url, 2)
    descriptors.clock.now = datetime.now(UTC)
    issued = await descriptors.authorize(body)
    assert issued.status_code == 201, issued.text
    found = {m["document"]["first_transfer"]["basis"]: m for m in await markers(descriptors)}
    assert sorted(found) == ["international_transfer", "oimp_authorization"]
    transfer, authorization = found["international_transfer"], found["oimp_authorization"]
    assert transfer["document"]["first_transfer"]["transaction_id"] == crossed["transaction_id"]
    assert [(u["first"], u["last"]) for u in authorization["units"]] == [(11, 100)]
    later = descriptors.clock.now + timedelta(days=3)
    assert await segments(descriptors, later, 1, 100) == [
        (1, 10, transfer["descriptor_id"]),
        (11, 100, authorization["descriptor_id"]),
    ]
