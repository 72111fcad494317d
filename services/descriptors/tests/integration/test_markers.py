"""First-transfer markers from ledger.TransactionRecorded events on the topic (A6R-45), their
re-issue (A6R-55), and their announcement on descriptors.outbound."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from descriptors.adapters import jws
from registry_contracts.events.descriptors import DescriptorDocument

from .conftest import ADMIN, GHA_ADMIN, SCOPE, SERVICE, T0, Bus, Client, issue_op, transfer_op

pytestmark = pytest.mark.integration
LATER = datetime(2026, 4, 1, tzinfo=UTC)


async def processed(database_url: str, events: int, transactions: int | None = None) -> None:
    """Wait until the service took `events` recorded-transaction events and decided the markers of
    `transactions` distinct transactions (default: as many as events)."""
    transactions = events if transactions is None else transactions
    for _ in range(200):
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


async def segments(client: Client, at: datetime, first: int, last: int) -> list[tuple[int, int, str | None]]:
    body = {"at": at.isoformat(), "units": [{"scope": SCOPE, "first": first, "last": last}]}
    found = await client.ok("POST", "/descriptors/in-force", body, SERVICE)
    return [(d["first"], d["last"], (d["first_transfer"] or {}).get("descriptor_id")) for d in found["descriptors"]]


async def test_a6r45_marker_exactly_once_for_the_first_international_transfer(
    descriptors: Client, bus: Bus, database_url: str
) -> None:
    h = lambda n: T0 - timedelta(hours=n)  # noqa: E731
    await bus.recorded("tx-i", "issue_units", [issue_op("GHA-100001", 1, 1000)], h(48))
    await bus.recorded("tx-d", "transfer_units", [transfer_op("GHA-100001", "GHA-100002", 1, 100)], h(40))
    x1 = await bus.recorded("tx-x1", "transfer_units", [transfer_op("GHA-100002", "CHE-100004", 1, 50)], h(30))
    await bus.recorded("tx-x2", "transfer_units", [transfer_op("GHA-100002", "CHE-100004", 51, 100)], h(28))
    await bus.recorded("tx-c", "corrective_transfer", [transfer_op("CHE-100004", "GHA-100002", 51, 100)], h(26))
    await bus.recorded("tx-x3", "transfer_units", [transfer_op("GHA-100002", "CHE-100005", 51, 100)], h(24))
    # The same transaction again (a replay publishes it under a new event id): no second marker.
    await bus.recorded("tx-x1", "transfer_units", x1.payload["operations"], h(30))
    await processed(database_url, 7, 6)

    found = {m["document"]["first_transfer"]["transaction_id"]: m for m in await markers(descriptors)}
    assert sorted(found) == ["tx-x1", "tx-x2", "tx-x3"]
    first = found["tx-x1"]["document"]
    assert first["issuing_party"] == "GHA" and first["first_transfer"]["basis"] == "international_transfer"
    assert first["created_at"] == "2026-03-09T17:00:00Z" and first["applicable_from"] == "2026-03-11T00:00:00Z"
    # The reversed first transfer's marker is replaced by the next international transfer's.
    assert found["tx-x3"]["supersedes"] == found["tx-x2"]["descriptor_id"]
    ids = {tx: m["descriptor_id"] for tx, m in found.items()}
    assert await segments(descriptors, LATER, 1, 200) == [
        (1, 50, ids["tx-x1"]),
        (51, 100, ids["tx-x3"]),
        (101, 200, None),
    ]
    assert await segments(descriptors, datetime(2026, 3, 10, 23, 59, tzinfo=UTC), 1, 50) == [(1, 50, None)]

    # Each marker left on descriptors.outbound, signed with the key the registry publishes.
    keys = (await descriptors.http.get(f"{descriptors.url}/descriptors/keys")).json()
    ring = jws.key_ring(keys["keys"])
    outbound = await bus.outbound(3)
    assert {e.payload["descriptor_id"] for e in outbound} == set(ids.values())
    for event in outbound:
        document = DescriptorDocument.model_validate(jws.verify(event.payload["jws"], ring).payload)
        assert document.origin_registry == "INT01" and event.key == document.cooperative_approach


async def test_a6r55_marker_reissue_refused_after_an_external_transfer_until_it_is_reversed(
    descriptors: Client, bus: Bus, database_url: str
) -> None:
    h = lambda n: T0 - timedelta(hours=n)  # noqa: E731
    await bus.recorded("tx-i", "issue_units", [issue_op("GHA-100001", 1, 100)], h(72))
    await bus.recorded("tx-a", "transfer_units", [transfer_op("GHA-100001", "CHE-100004", 1, 100)], h(60))
    await bus.recorded("tx-b", "external_transfer_out", [transfer_op("CHE-100004", "REG-100006", 1, 100)], h(48))
    await processed(database_url, 3)
    (original,) = await markers(descriptors)
    body = {"supersedes": original["descriptor_id"], "units": [{"scope": SCOPE, "first": 1, "last": 100}],
            "party": "GHA", "reason": "first transfer recorded with the wrong date"}  # fmt: skip

    refused = await descriptors.call("PUT", f"/first-transfer-markers/{uuid.uuid4()}", body, ADMIN)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "reissue_not_allowed" and "tx-b" in refused.json()["error"]["message"]
    other_party = await descriptors.call("PUT", f"/first-transfer-markers/{uuid.uuid4()}", body, [GHA_ADMIN[0]])
    assert other_party.status_code == 409  # a GHA administrator may ask; A6R-55 still refuses

    await bus.recorded("tx-c", "corrective_transfer", [transfer_op("REG-100006", "CHE-100004", 1, 100)], h(40))
    await processed(database_url, 4)
    reissued = await descriptors.call("PUT", f"/first-transfer-markers/{uuid.uuid4()}", body, ADMIN)
    assert reissued.status_code == 201, reissued.text
    view = reissued.json()
    assert view["supersedes"] == original["descriptor_id"]
    assert view["document"]["first_transfer"]["basis"] == "reissue"
    assert (
        view["document"]["first_transfer"]["transferred_at"] == original["document"]["first_transfer"]["transferred_at"]
    )
    assert await segments(descriptors, LATER, 1, 100) == [(1, 100, view["descriptor_id"])]


async def test_a6r45_a_transfer_consumed_late_corrects_the_markers_before_they_apply(
    descriptors: Client, bus: Bus, database_url: str
) -> None:
    """Beyond the settle delay (a lagging partition): later transfers are decided again and a marker
    made too early is superseded before it would apply."""
    h = lambda n: T0 - timedelta(hours=n)  # noqa: E731
    await bus.recorded("tx-i", "issue_units", [issue_op("GHA-100001", 1, 100)], h(48))
    await bus.recorded("tx-x2", "transfer_units", [transfer_op("CHE-100004", "GHA-100002", 1, 100)], h(20))
    await bus.recorded("tx-x3", "transfer_units", [transfer_op("GHA-100002", "GHA-100003", 1, 100)], h(10))
    await processed(database_url, 3)
    early = {m["document"]["first_transfer"]["transaction_id"]: m for m in await markers(descriptors)}
    assert sorted(early) == ["tx-x2"]  # CHE -> GHA looked like the first transfer (party CHE)
    assert early["tx-x2"]["issuing_party"] == "CHE"
    # The GHA -> CHE transfer recorded before them arrives late.
    await bus.recorded("tx-x1", "transfer_units", [transfer_op("GHA-100001", "CHE-100004", 1, 100)], h(30))
    await processed(database_url, 4)
    found = {m["document"]["first_transfer"]["transaction_id"]: m for m in await markers(descriptors)}
    assert found["tx-x1"]["supersedes"] == early["tx-x2"]["descriptor_id"]
    assert found["tx-x1"]["issuing_party"] == "GHA"
    wrong_applies = datetime.fromisoformat(early["tx-x2"]["applicable_from"])
    assert datetime.fromisoformat(found["tx-x1"]["applicable_from"]) <= wrong_applies
    for at in (wrong_applies, LATER):
        assert await segments(descriptors, at, 1, 100) == [(1, 100, found["tx-x1"]["descriptor_id"])]
