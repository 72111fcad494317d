"""Authorizations end to end: issue, list, history, in force at t, supersession (A6R-45, A6R-55)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from registry_platform.auth import Grant

from .conftest import CHE_ADMIN, GHA_ADMIN, SCOPE, SERVICE, Client, Ledger, recorded_at

pytestmark = pytest.mark.integration


def authorization(first: int, last: int, dedication: str = "ndc", **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "issuing_party": "GHA",
        "cooperative_approach": "CA0001",
        "dedication": dedication,
        "units": [{"scope": SCOPE, "first": first, "last": last}],
    }
    if dedication != "ndc":
        body["oimp_first_transfer"] = "use_or_cancellation"
    return {**body, **extra}


async def in_force(client: Client, at: datetime, first: int = 1, last: int = 1000) -> list[tuple[int, int, str | None]]:
    body = {"at": at.isoformat(), "units": [{"scope": SCOPE, "first": first, "last": last}]}
    found = await client.ok("POST", "/descriptors/in-force", body, SERVICE)
    return [
        (d["first"], d["last"], d["authorization"]["dedication"] if d["authorization"] else None)
        for d in found["descriptors"]
    ]


async def test_a6r45_issue_list_in_force_and_supersede_with_a_controlled_clock(
    descriptors: Client, ledger: Ledger, database_url: str
) -> None:
    await ledger.issue(1, 1000)
    first_id = uuid.uuid4()
    response = await descriptors.authorize(authorization(1, 500), first_id)
    assert response.status_code == 201, response.text
    issued = response.json()
    assert issued["applicable_from"] == "2026-03-12T00:00:00Z"  # created 23:00 UTC: two days later
    assert issued["document"]["created_at"] == "2026-03-10T23:00:00Z"
    assert issued["jws"].count(".") == 2

    # Idempotent under the client's id; another body under it is refused.
    assert (await descriptors.authorize(authorization(1, 500), first_id)).status_code == 200
    reused = await descriptors.authorize(authorization(1, 400), first_id)
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "descriptor_id_reused"

    # Only the Party's own section administrators, with a recent second factor.
    other = await descriptors.authorize(authorization(1, 10), grants=CHE_ADMIN)
    assert other.status_code == 403
    stale = await descriptors.call(
        "PUT", f"/authorizations/{uuid.uuid4()}", authorization(1, 10), GHA_ADMIN, step_up=False
    )
    assert stale.status_code == 401 and stale.json()["error"]["code"] == "step_up_required"
    # A6R-8: an external system acts for the section its grant is scoped to, and only for it.
    system = await descriptors.authorize(authorization(501, 510), grants=[Grant("external_system", section="GHA")])
    assert system.status_code == 201, system.text
    foreign = await descriptors.authorize(authorization(511, 520), grants=[Grant("external_system", section="CHE")])
    assert foreign.status_code == 403
    missing = await descriptors.call("PUT", f"/authorizations/{uuid.uuid4()}", authorization(990, 1200), GHA_ADMIN)
    assert missing.status_code == 409 and missing.json()["error"]["code"] == "unknown_units"

    # Not before its applicability instant; from it on, exactly its units.
    assert await in_force(descriptors, datetime(2026, 3, 11, 23, 59, tzinfo=UTC)) == [(1, 1000, None)]
    assert await in_force(descriptors, datetime(2026, 3, 12, tzinfo=UTC)) == [
        (1, 500, "ndc"),
        (501, 510, "ndc"),
        (511, 1000, None),
    ]

    # A correction supersedes it from its own applicability instant, never retroactively.
    descriptors.clock.now = datetime(2026, 3, 12, 12, 0, tzinfo=UTC)
    second = await descriptors.authorize(authorization(1, 300, "ndc_oimp", supersedes=str(first_id)))
    assert second.status_code == 201, second.text
    assert second.json()["applicable_from"] == "2026-03-13T00:00:00Z"
    assert await in_force(descriptors, datetime(2026, 3, 12, 23, 59, tzinfo=UTC)) == [
        (1, 500, "ndc"),
        (501, 510, "ndc"),
        (511, 1000, None),
    ]
    assert await in_force(descriptors, datetime(2026, 3, 13, tzinfo=UTC)) == [
        (1, 300, "ndc_oimp"),
        (301, 500, None),
        (501, 510, "ndc"),
        (511, 1000, None),
    ]
    again = await descriptors.authorize(authorization(1, 10, supersedes=str(first_id)))
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_superseded"

    # Listing and history.
    page = await descriptors.ok("GET", "/descriptors", params={"party": "GHA", "kind": "authorization", "limit": 1})
    assert len(page["items"]) == 1 and page["next"] is not None
    rest = await descriptors.ok("GET", "/descriptors", params={"party": "GHA", "after": page["next"]})
    assert [i["descriptor_id"] for i in page["items"] + rest["items"]] == [
        str(first_id),
        system.json()["descriptor_id"],
        second.json()["descriptor_id"],
    ]
    # Each names the one superseding it, whichever page it is on; the correction on its own page too.
    assert [i["superseded_by"] for i in page["items"] + rest["items"]] == [[second.json()["descriptor_id"]], [], []]
    shown = await descriptors.ok("GET", f"/descriptors/{first_id}")
    assert shown["superseded_by"] == [second.json()["descriptor_id"]] and second.json()["superseded_by"] == []
    assert shown["superseded_from"] == "2026-03-13T00:00:00Z" and second.json()["superseded_from"] is None
    # Newest first (the dashboards' order), with the same cursor; unknown orders are refused by code.
    newest = {"party": "GHA", "kind": "authorization", "sort": "-sequence", "limit": 2}
    page = await descriptors.ok("GET", "/descriptors", params=newest)
    rest = await descriptors.ok("GET", "/descriptors", params={**newest, "after": page["next"]})
    assert [i["descriptor_id"] for i in page["items"] + rest["items"]] == [
        second.json()["descriptor_id"],
        system.json()["descriptor_id"],
        str(first_id),
    ]
    assert rest["next"] is None
    unknown = await descriptors.call("GET", "/descriptors", params={"sort": "issuing_party"})
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unknown_sort"
    assert unknown.json()["error"]["details"]["allowed"] == ["sequence", "-sequence"]
    by_unit = await descriptors.ok("GET", "/descriptors", params={**SCOPE, "first": 400})
    assert [i["descriptor_id"] for i in by_unit["items"]] == [str(first_id)]
    history = await descriptors.ok("GET", "/units/history", params={**SCOPE, "first": 1, "last": 10,
                                                                    "at": "2026-03-13T00:00:00Z"})  # fmt: skip
    assert [(i["status"], i["superseded_by"]) for i in history["items"]] == [
        ("superseded", [second.json()["descriptor_id"]]),
        ("applicable", []),
    ]
    status = await descriptors.ok("GET", "/units/status", params={**SCOPE, "first": 5, "at": "2026-03-12T06:00:00Z"})
    assert status["descriptors"][0]["authorization"]["descriptor_id"] == str(first_id)

    # Immutable: PostgreSQL itself refuses to change a descriptor.
    with psycopg.connect(database_url.replace("+psycopg", "")) as conn, pytest.raises(psycopg.Error, match="immutable"):
        conn.execute("UPDATE descriptors.descriptors SET issuing_party = 'CHE'")


async def test_a6r45_condition_based_authorization_with_a_quantity_cap(descriptors: Client, ledger: Ledger) -> None:
    body = {
        "issuing_party": "GHA",
        "cooperative_approach": "CA0001",
        "dedication": "ndc",
        "conditions": {
            "activity_id": SCOPE["activity_id"],
            "vintage_from": 2020,
            "vintage_to": 2025,
            "quantity_cap": 150,
        },
    }
    response = await descriptors.authorize(body)
    assert response.status_code == 201, response.text
    # Units issued once it applies (2026-03-12; the ledger records at real time, later) count against
    # the cap, in the order the ledger recorded them (the sequencer allocates in ledger order).
    await ledger.issue(1, 100)
    after = recorded_at(await ledger.issue(101, 300))

    async def capped() -> bool:
        return await in_force(descriptors, after + timedelta(days=1), 1, 300) == [(1, 150, "ndc"), (151, 300, None)]

    assert await descriptors.eventually(capped), await in_force(descriptors, after + timedelta(days=1), 1, 300)
    refused = await descriptors.authorize({**body, "oimp_first_transfer": "authorization", "dedication": "oimp"})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "marker_needs_units"


async def test_a6r45_oimp_first_transfer_at_authorization_marks_the_units_with_it(
    descriptors: Client, ledger: Ledger
) -> None:
    await ledger.issue(1, 100)
    body = authorization(1, 100, "oimp", oimp_first_transfer="authorization")
    issued = await descriptors.authorize(body)
    assert issued.status_code == 201, issued.text
    (marker,) = (await descriptors.ok("GET", "/descriptors", params={"kind": "first_transfer"}))["items"]
    assert marker["document"]["first_transfer"]["basis"] == "oimp_authorization"
    assert marker["document"]["first_transfer"]["authorization_id"] == issued.json()["descriptor_id"]
    assert marker["applicable_from"] == issued.json()["applicable_from"]
    status = await descriptors.ok(
        "GET", "/units/status", params={**SCOPE, "first": 1, "last": 100, "at": "2026-04-01T00:00:00Z"}
    )
    (segment,) = status["descriptors"]
    assert segment["authorization"]["dedication"] == "oimp"
    assert segment["first_transfer"]["descriptor_id"] == marker["descriptor_id"]


async def test_a6r55_concurrent_corrections_of_one_authorization_supersede_it_once(
    descriptors: Client, ledger: Ledger
) -> None:
    """Eight corrections of the same authorization sent at once: one supersedes it, the others are
    refused as already superseded (they must name the latest)."""
    await ledger.issue(1, 1000)
    first_id = uuid.uuid4()
    assert (await descriptors.authorize(authorization(1, 500), first_id)).status_code == 201
    answers = await asyncio.gather(
        *(
            descriptors.call(
                "PUT", f"/authorizations/{uuid.uuid4()}", authorization(1, n, supersedes=str(first_id)), GHA_ADMIN
            )
            for n in range(100, 108)
        )
    )
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [201] + [409] * 7, [r.text for r in answers]
    assert {r.json()["error"]["code"] for r in answers if r.status_code == 409} == {"already_superseded"}


async def test_a6r45_one_descriptor_id_sent_at_once_with_two_bodies_stores_one(
    descriptors: Client, ledger: Ledger
) -> None:
    """A client's id names one authorization: sent concurrently with different bodies, one is stored
    (201) and every other body is refused as a reuse of the id, never answered with the other's."""
    await ledger.issue(1, 1000)
    assert (await descriptors.authorize(authorization(900, 1000))).status_code == 201, "the units arrived"
    shared = uuid.uuid4()
    bodies = [authorization(1, n) for n in range(100, 106)]
    answers = await asyncio.gather(
        *(descriptors.call("PUT", f"/authorizations/{shared}", b, GHA_ADMIN) for b in bodies)
    )
    assert sorted(r.status_code for r in answers) == [201] + [409] * 5, [r.text for r in answers]
    stored = next(r.json() for r in answers if r.status_code == 201)
    assert {r.json()["error"]["code"] for r in answers if r.status_code == 409} == {"descriptor_id_reused"}
    winner = bodies[[r.status_code for r in answers].index(201)]
    assert stored["document"]["authorization"]["units"][0]["last"] == winner["units"][0]["last"]
