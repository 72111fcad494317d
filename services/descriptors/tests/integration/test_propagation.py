"""Signed descriptors between registries (A6R-45, A6R-53): incoming ones are verified before they are
stored, and a registry pulls a peer's feed (two instances, two databases, one machine)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from descriptors.adapters import jws
from descriptors.domain.applicability import applicable_from
from descriptors.settings import DescriptorsSettings, PeerConfig
from registry_contracts.signing import Ed25519Signer
from registry_platform.testing.infra import serve_app

from .conftest import (
    CHE,
    CHE_ADMIN,
    GHA_ADMIN,
    ISSUANCE,
    SCOPE,
    SERVICE,
    SETTLE,
    T0,
    Client,
    Clock,
    Ledger,
    recorded_at,
    start_descriptors,
)

pytestmark = pytest.mark.integration
PEER = Ed25519Signer.from_seed(bytes(range(32)))
CHE_PEER = Ed25519Signer.from_seed(bytes(range(1, 33)))
CHE_SCOPE = {**SCOPE, "originating_registry": "CHE01", "issuing_party": "CHE", "activity_id": "CH-HEAT-001"}
LATER = datetime(2026, 4, 1, tzinfo=UTC)


def document(**changes: Any) -> dict[str, Any]:
    doc = {
        "descriptor_id": str(uuid.uuid4()),
        "kind": "authorization",
        "origin_registry": "GHA01",
        "issuing_party": "GHA",
        "cooperative_approach": "CA0001",
        "created_at": T0.isoformat(),
        "applicable_from": applicable_from(T0).isoformat(),
        "supersedes": None,
        "issued_by": "gha-registry-admin",
        "authorization": {
            "dedication": "oimp",
            "oimp_first_transfer": "use_or_cancellation",
            "units": [{"scope": SCOPE, "first": 1, "last": 10}],
        },
        "first_transfer": None,
    }
    return {**doc, **changes}


def marker(**changes: Any) -> dict[str, Any]:
    body = {"units": [{"scope": SCOPE, "first": 1, "last": 10}], "transferred_at": T0.isoformat(), "party": "GHA",
            "basis": "international_transfer"}  # fmt: skip
    return document(**{"kind": "first_transfer", "authorization": None, "first_transfer": body, **changes})


def che(**changes: Any) -> dict[str, Any]:
    """An authorization of CHE's, as the CHE01 registry signs it."""
    units = [{"scope": CHE_SCOPE, "first": 1, "last": 10}]
    return document(origin_registry="CHE01", issuing_party="CHE", authorization={"dedication": "ndc", "units": units},
                    **changes)  # fmt: skip


async def post(client: Client, token: str, grants: Any = SERVICE) -> httpx.Response:
    return await client.call("POST", "/descriptors/incoming", {"jws": token}, grants)


@pytest.fixture
async def receiving(service_settings, ledger: Ledger) -> Any:  # type: ignore[no-untyped-def]
    settings = service_settings(
        "descriptors",
        DescriptorsSettings,
        ledger_url=ledger.url,
        cooperative_approaches={"CA0002": ["CHE", "JPN"], "CA0003": ["CHE", "GHA"]},
        peers=[
            PeerConfig(registry="GHA01", keys=[jws.public_jwk(PEER)]),
            PeerConfig(registry="CHE01", keys=[jws.public_jwk(CHE_PEER)], parties=["CHE"]),
        ],
    )
    async with contextlib.AsyncExitStack() as stack, httpx.AsyncClient(timeout=30) as http:
        yield await start_descriptors(stack, settings, Clock(T0), http)


async def test_a6r53_incoming_descriptors_are_verified_before_they_are_stored(receiving: Client) -> None:
    good = jws.sign(PEER, document())
    head, _, signature = good.split(".")
    tampered_payload = jws.sign(PEER, document(issuing_party="CHE")).split(".")[1]
    refusals = {
        "signature_invalid": f"{head}.{tampered_payload}.{signature}",
        "unknown_key": jws.sign(Ed25519Signer.generate(), document()),
        "party_not_in_approach": jws.sign(PEER, document(cooperative_approach="CA0002")),
        "party_not_served": jws.sign(PEER, document(issuing_party="CHE")),
        "applicability_too_early": jws.sign(PEER, document(applicable_from=T0.isoformat())),
        "wrong_origin": jws.sign(PEER, document(origin_registry="CHE01")),
        "unknown_cooperative_approach": jws.sign(PEER, document(cooperative_approach="CA0999")),
        "malformed_jws": "not.a-jws",
    }
    for code, token in refusals.items():
        response = await post(receiving, token)
        assert response.status_code == 422, (code, response.text)
        error = response.json()["error"]
        assert error["code"] == code and "nothing stored" in error["message"], error
    assert (await receiving.ok("GET", "/descriptors"))["items"] == []
    assert (await post(receiving, good, GHA_ADMIN)).status_code == 403

    stored = await post(receiving, good)
    assert stored.status_code == 201, stored.text
    assert stored.json()["received_from"] == "GHA01" and stored.json()["jws"] == good
    assert (await post(receiving, good)).status_code == 200
    body = {"at": LATER.isoformat(), "units": [{"scope": SCOPE, "first": 1, "last": 20}]}
    found = (await receiving.ok("POST", "/descriptors/in-force", body, SERVICE))["descriptors"]
    assert [(d["first"], d["last"], (d["authorization"] or {}).get("dedication")) for d in found] == [
        (1, 10, "oimp"),
        (11, 20, None),
    ]


async def test_a6r53_two_registries_propagate_descriptors_by_pull(  # type: ignore[no-untyped-def]
    infra, service_settings, ledger: Ledger, topic_prefix: str
) -> None:
    origin_settings = service_settings(
        "descriptors", DescriptorsSettings, ledger_url=ledger.url, marker_settle_seconds=SETTLE,
        descriptor_signing_seed="registry-a-seed",
    )  # fmt: skip
    second_db = infra.create_database()
    try:
        async with contextlib.AsyncExitStack() as stack, httpx.AsyncClient(timeout=30) as http:
            origin = await start_descriptors(stack, origin_settings, Clock(T0), http)
            keys = (await http.get(f"{origin.url}/descriptors/keys")).json()
            peer_settings = service_settings(
                "descriptors",
                DescriptorsSettings,
                database_url=second_db,
                topic_prefix=f"{topic_prefix}b",
                registry_id="CHE01",
                cooperative_approaches={"CA0001": ["CHE", "GHA"]},
                peers=[PeerConfig(registry="INT01", keys=keys["keys"], parties=["GHA", "CHE"], url=origin.url)],
                pull_interval_seconds=0.2,
            )
            peer = await start_descriptors(stack, peer_settings, Clock(T0), http)

            await ledger.issue(1, 100)
            authorized = await origin.authorize(
                {
                    "issuing_party": "GHA",
                    "cooperative_approach": "CA0001",
                    "dedication": "ndc",
                    "units": [{"scope": SCOPE, "first": 1, "last": 100}],
                }
            )
            assert authorized.status_code == 201, authorized.text
            moved = await ledger.transfer(ISSUANCE, CHE, 1, 40)

            async def both() -> list[dict[str, Any]] | None:
                items = (await peer.ok("GET", "/descriptors"))["items"]
                return items if len(items) == 2 else None

            received = await peer.eventually(both)
            assert received, "the peer pulled the authorization and the marker"
            assert {i["kind"] for i in received} == {"authorization", "first_transfer"}
            assert all(i["received_from"] == "INT01" and i["origin_registry"] == "INT01" for i in received)
            feed = await origin.ok("GET", "/descriptors/feed", params={"limit": 1}, grants=SERVICE)
            assert len(feed["items"]) == 1 and feed["next"] == str(feed["items"][0]["sequence"])
            rest = await origin.ok("GET", "/descriptors/feed", params={"after": feed["next"]}, grants=SERVICE)
            assert len(rest["items"]) == 1 and rest["next"] is None
            later = recorded_at(moved) + timedelta(days=3)  # the marker is dated at the ledger's real time
            body = {"at": later.isoformat(), "units": [{"scope": SCOPE, "first": 1, "last": 100}]}
            found = (await peer.ok("POST", "/descriptors/in-force", body, SERVICE))["descriptors"]
            assert [(d["first"], d["last"], bool(d["authorization"]), bool(d["first_transfer"])) for d in found] == [
                (1, 40, True, True),
                (41, 100, True, False),
            ]
            # The peer's own feed carries only what it originates.
            assert (await peer.ok("GET", "/descriptors/feed", grants=SERVICE))["items"] == []
    finally:
        infra.drop_database(second_db)


async def test_a6r53_a_pulled_descriptor_this_registry_cannot_place_yet_is_held_and_stored_later(  # type: ignore[no-untyped-def]
    infra, service_settings, ledger: Ledger, topic_prefix: str
) -> None:
    """The cursor moves past a descriptor refused for an approach not known here yet; it is held,
    tried every round, listed for registry administrators, and stored once the approach is known."""
    origin_settings = service_settings(
        "descriptors", DescriptorsSettings, ledger_url=ledger.url, descriptor_signing_seed="registry-a-seed"
    )
    second_db = infra.create_database()
    try:
        async with contextlib.AsyncExitStack() as stack, httpx.AsyncClient(timeout=30) as http:
            origin = await start_descriptors(stack, origin_settings, Clock(T0), http)
            keys = (await http.get(f"{origin.url}/descriptors/keys")).json()

            def peer_settings(approaches: dict[str, list[str]]) -> DescriptorsSettings:
                return service_settings(  # type: ignore[no-any-return]
                    "descriptors", DescriptorsSettings, database_url=second_db, topic_prefix=f"{topic_prefix}b",
                    registry_id="CHE01", cooperative_approaches=approaches, pull_interval_seconds=0.2,
                    peers=[PeerConfig(registry="INT01", keys=keys["keys"], parties=["GHA"], url=origin.url)],
                )  # fmt: skip

            await ledger.issue(1, 100)
            authorized = await origin.authorize(
                {"issuing_party": "GHA", "cooperative_approach": "CA0001", "dedication": "ndc",
                 "units": [{"scope": SCOPE, "first": 1, "last": 100}]}
            )  # fmt: skip
            assert authorized.status_code == 201, authorized.text
            descriptor_id = authorized.json()["descriptor_id"]

            async with contextlib.AsyncExitStack() as first_run:
                peer = await start_descriptors(first_run, peer_settings({}), Clock(T0), http)

                async def tried_twice() -> list[dict[str, Any]] | None:
                    items = (await peer.ok("GET", "/peers/held-descriptors"))["items"]
                    return items if items and items[0]["attempts"] >= 2 else None

                held = await peer.eventually(tried_twice)
                assert [(h["registry"], h["descriptor_id"], h["code"]) for h in held] == [
                    ("INT01", descriptor_id, "unknown_cooperative_approach")
                ]
                assert (await peer.ok("GET", "/descriptors"))["items"] == []
                refused = await peer.call("GET", "/peers/held-descriptors", grants=CHE_ADMIN)
                assert refused.status_code == 403, refused.text
                malformed = await peer.call("GET", "/peers/held-descriptors", params={"after": "INT01"})
                assert malformed.status_code == 422 and malformed.json()["error"]["code"] == "malformed_cursor"

            peer = await start_descriptors(stack, peer_settings({"CA0001": ["CHE", "GHA"]}), Clock(T0), http)

            async def stored() -> list[dict[str, Any]] | None:
                return (await peer.ok("GET", "/descriptors"))["items"] or None

            assert [d["descriptor_id"] for d in await peer.eventually(stored)] == [descriptor_id]
            assert (await peer.ok("GET", "/peers/held-descriptors"))["items"] == []
    finally:
        infra.drop_database(second_db)


async def refused(client: Client, token: str) -> str:
    response = await post(client, token)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert "nothing stored" in error["message"], error
    return str(error["code"])


async def test_a6r53_a_peers_authorization_covers_only_units_of_its_own_party(receiving: Client) -> None:
    """A6R-45: GHA cannot authorize CHE's units; a peer's authorization saying so is refused."""
    units = [{"scope": SCOPE, "first": 1, "last": 10}, {"scope": CHE_SCOPE, "first": 1, "last": 10}]
    token = jws.sign(PEER, document(authorization={"dedication": "ndc", "units": units}))
    assert await refused(receiving, token) == "not_party_units"
    assert (await receiving.ok("GET", "/descriptors"))["items"] == []


async def test_a6r55_a_peers_descriptor_supersedes_only_its_own_partys_latest_one_of_its_kind(
    receiving: Client,
) -> None:
    """A peer's correction replaces a stored descriptor of its kind, Party and approach, and only one
    correction replaces an authorization; one whose predecessor is not stored yet is refused (the
    pull loop holds it until the predecessor comes)."""
    original, marked, theirs = document(), marker(), che()
    their_units = [{"scope": CHE_SCOPE, "first": 1, "last": 10}]
    their_marker = marker(origin_registry="CHE01", issuing_party="CHE", first_transfer={**marked["first_transfer"],
                          "party": "CHE", "units": their_units})  # fmt: skip
    for signer, doc in ((PEER, original), (PEER, marked), (CHE_PEER, theirs), (CHE_PEER, their_marker)):
        assert (await post(receiving, jws.sign(signer, doc))).status_code == 201

    old = original["descriptor_id"]
    refusals = [
        ("unknown_superseded", document(supersedes=str(uuid.uuid4()))),
        ("supersedes_other_party", document(supersedes=theirs["descriptor_id"])),
        ("supersedes_other_party", marker(supersedes=their_marker["descriptor_id"])),
        ("supersedes_other_kind", document(supersedes=marked["descriptor_id"])),
        ("supersedes_other_approach", document(cooperative_approach="CA0003", supersedes=old)),
        ("invalid_document", document(descriptor_id=old, supersedes=old)),
    ]
    for code, doc in refusals:
        assert await refused(receiving, jws.sign(PEER, doc)) == code, code

    units = [{"scope": SCOPE, "first": 1, "last": 10}]
    correction = document(supersedes=old, authorization={"dedication": "ndc", "units": units})
    assert (await post(receiving, jws.sign(PEER, correction))).status_code == 201
    assert await refused(receiving, jws.sign(PEER, document(supersedes=old))) == "supersession_fork"
    # A marker may be superseded piece by piece: both pieces are stored.
    for first in (1, 6):
        piece = {**marked["first_transfer"], "units": [{"scope": SCOPE, "first": first, "last": first + 4}]}
        token = jws.sign(PEER, marker(supersedes=marked["descriptor_id"], first_transfer=piece))
        assert (await post(receiving, token)).status_code == 201

    body = {"at": LATER.isoformat(), "units": units}
    found = (await receiving.ok("POST", "/descriptors/in-force", body, SERVICE))["descriptors"]
    assert [(d["first"], d["last"], d["authorization"]["descriptor_id"]) for d in found] == [
        (1, 5, correction["descriptor_id"]),
        (6, 10, correction["descriptor_id"]),
    ]


def malformed() -> dict[str, dict[str, Any]]:
    """Signed documents no registry can store, and what is wrong with each."""
    units = [{"scope": SCOPE, "first": 5, "last": 2}]
    return {
        "descriptor id not a uuid": document(descriptor_id="x"),
        "superseded id not a uuid": document(supersedes="not-a-uuid"),
        "range backwards": document(authorization={"dedication": "ndc", "units": units}),
        "text the database refuses": document(issued_by="gha\u0000admin"),
    }


async def test_a6r53_a_malformed_pushed_descriptor_is_refused_as_invalid(receiving: Client) -> None:
    for what, doc in malformed().items():
        response = await post(receiving, jws.sign(PEER, doc))
        assert response.status_code == 422, (what, response.text)
        assert response.json()["error"]["code"] == "invalid_document", (what, response.text)
    assert (await receiving.ok("GET", "/descriptors"))["items"] == []


async def test_a6r53_the_pull_loop_reads_past_a_malformed_descriptor(  # type: ignore[no-untyped-def]
    service_settings, ledger: Ledger
) -> None:
    """A peer's feed serving documents no registry can store: each is refused and logged, the
    cursor moves on, and the descriptor after them is stored."""
    good = document()
    tokens = [jws.sign(PEER, doc) for doc in [*malformed().values(), good]]
    feed = FastAPI()

    @feed.get("/descriptors/feed")
    async def items(after: int = 0) -> dict[str, Any]:
        page = [{"sequence": i, "kind": "authorization", "jws": t} for i, t in enumerate(tokens, 1) if i > after]
        return {"items": page, "next": None}

    async with contextlib.AsyncExitStack() as stack, httpx.AsyncClient(timeout=30) as http:
        url = await stack.enter_async_context(serve_app(feed))
        settings = service_settings(
            "descriptors", DescriptorsSettings, ledger_url=ledger.url, pull_interval_seconds=0.2,
            peers=[PeerConfig(registry="GHA01", keys=[jws.public_jwk(PEER)], url=url)],
        )  # fmt: skip
        client = await start_descriptors(stack, settings, Clock(T0), http)

        async def stored() -> list[dict[str, Any]] | None:
            return (await client.ok("GET", "/descriptors"))["items"] or None

        found = await client.eventually(stored)
        assert found, "the pull loop read past the malformed descriptors"
        assert [d["descriptor_id"] for d in found] == [good["descriptor_id"]]
        assert (await client.ok("GET", "/peers/held-descriptors"))["items"] == []


async def test_a6r53_descriptors_held_from_a_peer_no_longer_configured_are_kept_but_not_tried(  # type: ignore[no-untyped-def]
    service_settings, ledger: Ledger
) -> None:
    """A6R-53: a descriptor held from a peer is tried every round while the peer is configured, with
    or without a feed URL. Once the peer is removed from the settings it is no longer tried, and the
    list shows it as held from a registry no longer configured; it is kept, since the pull cursor
    moved past it and the peer's feed would not give it again if the peer came back."""
    token = jws.sign(PEER, document(cooperative_approach="CA0009"))
    feed = FastAPI()

    @feed.get("/descriptors/feed")
    async def items(after: int = 0) -> dict[str, Any]:
        return {"items": [{"sequence": 1, "kind": "authorization", "jws": token}] if after < 1 else [], "next": None}

    def settings(*peers: PeerConfig) -> DescriptorsSettings:
        return service_settings(  # type: ignore[no-any-return]
            "descriptors", DescriptorsSettings, ledger_url=ledger.url, pull_interval_seconds=0.2, peers=list(peers)
        )

    async def held(client: Client, more_than: int = 0) -> list[dict[str, Any]] | None:
        items = (await client.ok("GET", "/peers/held-descriptors"))["items"]
        return items if items and items[0]["attempts"] > more_than else None

    gha01 = PeerConfig(registry="GHA01", keys=[jws.public_jwk(PEER)])
    async with contextlib.AsyncExitStack() as stack, httpx.AsyncClient(timeout=30) as http:
        url = await stack.enter_async_context(serve_app(feed))
        async with contextlib.AsyncExitStack() as pulling:
            client = await start_descriptors(pulling, settings(gha01.model_copy(update={"url": url})), Clock(T0), http)
            (first,) = await client.eventually(lambda: held(client, 1))
        assert (first["registry"], first["code"], first["peer_configured"]) == (
            "GHA01", "unknown_cooperative_approach", True
        )  # fmt: skip
        async with contextlib.AsyncExitStack() as pushing:  # the peer only pushes now: still tried
            client = await start_descriptors(pushing, settings(gha01), Clock(T0), http)
            (tried,) = await client.eventually(lambda: held(client, first["attempts"] + 1)) or [first]
            assert tried["attempts"] > first["attempts"] and tried["peer_configured"], tried

        other = PeerConfig(registry="CHE01", keys=[jws.public_jwk(CHE_PEER)], parties=["CHE"])
        client = await start_descriptors(stack, settings(other), Clock(T0), http)
        (kept,) = (await client.ok("GET", "/peers/held-descriptors"))["items"]
        assert (kept["descriptor_id"], kept["peer_configured"]) == (first["descriptor_id"], False), kept
        await asyncio.sleep(1.0)  # five rounds of the pull loop
        (after,) = (await client.ok("GET", "/peers/held-descriptors"))["items"]
        assert (after["attempts"], after["tried_at"]) == (kept["attempts"], kept["tried_at"])
        assert (await client.ok("GET", "/descriptors"))["items"] == []


async def test_a6r21_a_peers_descriptor_stored_late_applies_here_only_from_its_storage(receiving: Client) -> None:
    """A6R-21, A6R-53: a peer's authorization dated 2026-03-10 (applicable from 03-12) reaches this
    registry only on 04-01, and a correction of it, back-dated too, a day later. What this registry
    said was in force at an instant past stays what it says after: each applies here from its
    storage, and the signed document keeps the instants the peer gave."""
    units = [{"scope": SCOPE, "first": 1, "last": 10}]

    async def in_force(at: datetime) -> list[tuple[int, int, str | None]]:
        found = await receiving.ok("POST", "/descriptors/in-force", {"at": at.isoformat(), "units": units}, SERVICE)
        return [(d["first"], d["last"], (d["authorization"] or {}).get("dedication")) for d in found["descriptors"]]

    past, stored_at = datetime(2026, 3, 20, tzinfo=UTC), datetime(2026, 4, 1, 9, 30, tzinfo=UTC)
    assert await in_force(past) == [(1, 10, None)]
    receiving.clock.now = stored_at
    original = document()
    stored = await post(receiving, jws.sign(PEER, original))
    assert stored.status_code == 201, stored.text
    assert await in_force(past) == [(1, 10, None)]
    assert await in_force(stored_at - timedelta(microseconds=1)) == [(1, 10, None)]
    assert await in_force(stored_at) == [(1, 10, "oimp")]
    view = stored.json()
    assert datetime.fromisoformat(view["applicable_from"]) == datetime.fromisoformat(view["received_at"]) == stored_at
    assert datetime.fromisoformat(view["document"]["applicable_from"]) == applicable_from(T0)

    corrected_at = stored_at + timedelta(days=1)
    receiving.clock.now = corrected_at
    dated = T0 + timedelta(hours=1)
    correction = document(supersedes=original["descriptor_id"], created_at=dated.isoformat(),
                          applicable_from=applicable_from(dated).isoformat(),
                          authorization={"dedication": "ndc", "units": units})  # fmt: skip
    assert (await post(receiving, jws.sign(PEER, correction))).status_code == 201
    assert await in_force(corrected_at - timedelta(hours=1)) == [(1, 10, "oimp")]
    assert await in_force(corrected_at) == [(1, 10, "ndc")]
    shown = await receiving.ok("GET", f"/descriptors/{original['descriptor_id']}")
    assert datetime.fromisoformat(shown["superseded_from"]) == corrected_at
    history = await receiving.ok("GET", "/units/history", params={**SCOPE, "first": 1, "last": 10,
                                                                  "at": past.isoformat()})  # fmt: skip
    assert [i["status"] for i in history["items"]] == ["pending", "pending"]
    # A descriptor that arrives in time applies from the instant its origin gave it.
    receiving.clock.now = T0 + timedelta(hours=2)
    in_time = document(authorization={"dedication": "ndc", "units": [{"scope": SCOPE, "first": 11, "last": 20}]})
    arrived = (await post(receiving, jws.sign(PEER, in_time))).json()
    assert datetime.fromisoformat(arrived["applicable_from"]) == applicable_from(T0)
