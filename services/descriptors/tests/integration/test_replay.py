"""Replay (issue 6, "Replay reproduces the descriptors and their effects"): `registry-descriptors
replay` rebuilds the descriptors into an empty database from the stored signed source records and
the real ledger's ledger.transactions topic alone, and its digest equals the live one."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from descriptors.adapters import jws
from descriptors.adapters.digest import state_differences, state_digest
from descriptors.domain.applicability import applicable_from
from descriptors.entrypoints import cli
from descriptors.settings import DescriptorsSettings, PeerConfig
from registry_platform import db
from registry_platform.testing.infra import Infra

from .conftest import (
    ADMIN,
    CHE,
    CHE_USE,
    GHA,
    GHA2,
    ISSUANCE,
    SCOPE,
    SETTLE,
    Client,
    Clock,
    Ledger,
    recorded_at,
    start_descriptors,
)
from .test_markers import by_transaction, markers, processed, segments
from .test_propagation import PEER, marker, post

pytestmark = pytest.mark.integration


def units(first: int, last: int) -> list[dict[str, Any]]:
    return [{"scope": SCOPE, "first": first, "last": last}]


def authorization(dedication: str, **body: Any) -> dict[str, Any]:
    extra = {"oimp_first_transfer": "use_or_cancellation"} if dedication != "ndc" else {}
    return {"issuing_party": "GHA", "cooperative_approach": "CA0001", "dedication": dedication, **extra, **body}


async def live_history(descriptors: Client, ledger: Ledger, database_url: str) -> None:
    """Authorizations (one superseded, one capped by conditions, one marking its units for OIMP),
    international, domestic and external transfers, a reversal and a re-issued marker."""
    # Dated three days back, so that they apply when the ledger records (at real time) below. Replay
    # orders by instant: the capped authorization, whose allocations follow that order, comes first.
    descriptors.clock.now = datetime.now(UTC) - timedelta(days=3)
    capped = authorization("ndc", conditions={"activity_id": SCOPE["activity_id"], "quantity_cap": 50})
    assert (await descriptors.authorize(capped)).status_code == 201
    await ledger.issue(1, 1000)  # the capped authorization takes 1-50
    ndc_id = uuid.uuid4()
    for body, id in (
        (authorization("ndc", units=units(1, 300)), ndc_id),
        (authorization("oimp", units=units(301, 400)), uuid.uuid4()),
        # Its own marker: an OIMP first transfer at authorization.
        (authorization("oimp", units=units(401, 450), oimp_first_transfer="authorization"), uuid.uuid4()),
    ):
        response = await descriptors.authorize(body, id)
        assert response.status_code == 201, response.text
    descriptors.clock.now += timedelta(hours=1)
    superseding = authorization("ndc_oimp", units=units(1, 200), supersedes=str(ndc_id))
    assert (await descriptors.authorize(superseding)).status_code == 201

    await ledger.issue(1001, 1100)  # the cap is used up
    await ledger.transfer(ISSUANCE, GHA, 1, 400)  # domestic
    abroad = await ledger.transfer(GHA, CHE, 1, 50)  # international: a marker
    await ledger.transfer(GHA, CHE, 301, 350)  # authorized for OIMP only: no marker
    await ledger.transfer(GHA, GHA2, 51, 60)  # domestic
    out = await ledger.external_out(GHA, 61, 80)  # external: a marker...
    await ledger.reverse(out)  # ...reversed...
    again = await ledger.transfer(GHA, CHE_USE, 61, 80)  # ...so the next international transfer marks again
    await processed(database_url, 9)
    found = by_transaction([m for m in await markers(descriptors) if m["document"]["first_transfer"]["transaction_id"]])
    assert sorted(found) == sorted(t["transaction_id"] for t in (abroad, out, again))
    descriptors.clock.now = datetime.now(UTC)
    body = {"supersedes": found[abroad["transaction_id"]]["descriptor_id"], "units": units(1, 50), "party": "GHA",
            "reason": "transferred at another date"}  # fmt: skip
    reissued = await descriptors.call("PUT", f"/first-transfer-markers/{uuid.uuid4()}", body, ADMIN)
    assert reissued.status_code == 201, reissued.text


async def replayed(monkeypatch: pytest.MonkeyPatch, database_url: str, target: str, **env: str) -> int:
    for name, value in {"REGISTRY_DATABASE_URL": database_url, "REGISTRY_MODE": "test", **env}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exit_:
        await asyncio.to_thread(cli.main, ["replay", "--into", target])
    return int(exit_.value.code or 0)


async def test_issue6_replay_reproduces_the_descriptors_and_their_effects(
    descriptors: Client,
    ledger: Ledger,
    infra: Infra,
    database_url: str,
    topic_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A6R-45, A6R-55: a live history replayed into a fresh schema gives the same digest; a
    descriptor that differs gives another."""
    await live_history(descriptors, ledger, database_url)
    env = {"REGISTRY_KAFKA_BOOTSTRAP": infra.kafka_bootstrap, "REGISTRY_TOPIC_PREFIX": topic_prefix,
           "REGISTRY_LEDGER_URL": ledger.url}  # fmt: skip
    target = infra.create_database()
    try:
        assert await replayed(monkeypatch, database_url, target, **env) == 0, capsys.readouterr().out
        out = capsys.readouterr().out
        assert "replayed 6 source records and 9 recorded transactions" in out, out
        live_engine, target_engine = (db.create_engine(url, "descriptors") for url in (database_url, target))
        try:
            live, rebuilt = await state_digest(live_engine), await state_digest(target_engine)
            assert rebuilt == live
            with pytest.raises(SystemExit) as exit_:
                await asyncio.to_thread(cli.main, ["digest"])
            assert (exit_.value.code or 0, capsys.readouterr().out.strip()) == (0, live), "`digest` prints it"
            async with target_engine.connect() as conn:
                kinds = (await conn.exec_driver_sql("SELECT kind, count(*) FROM descriptors GROUP BY kind")).all()
                taken = (await conn.exec_driver_sql("SELECT first_serial, last_serial FROM allocations")).all()
            assert dict(kinds) == {"authorization": 5, "first_transfer": 5}
            assert [tuple(r) for r in taken] == [(1, 50)]

            # The digest sees a descriptor that differs: one marker applying a day later.
            with psycopg.connect(target.replace("+psycopg", ""), autocommit=True) as conn:
                conn.execute("SET session_replication_role = replica")  # past the immutability trigger
                conn.execute(
                    "UPDATE descriptors.descriptors SET applicable_from = applicable_from + interval '1 day' "
                    "WHERE id = (SELECT id FROM descriptors.descriptors WHERE kind = 'first_transfer' LIMIT 1)"
                )
            assert await state_digest(target_engine) != live
            (differing,) = await state_differences(target_engine, live_engine)
            assert differing.startswith("descriptors: row ") and " differs: replayed [" in differing, differing
        finally:
            await live_engine.dispose()
            await target_engine.dispose()
        # Replay never writes over a database that holds descriptors.
        assert await replayed(monkeypatch, database_url, target, **env) == 1
        assert "REFUSED" in capsys.readouterr().out
    finally:
        infra.drop_database(target)


async def test_a6r21_a_peers_marker_stored_after_a_transfer_changes_neither_the_past_nor_replay(  # type: ignore[no-untyped-def]
    service_settings, ledger: Ledger, infra: Infra, database_url: str
) -> None:
    """A6R-21, A6R-53: a peer's first-transfer marker dated three days before a transfer this registry
    marked reaches it after that transfer was decided. What it says was in force at instants past
    stays what it said, and replay, which stores the peer's marker again at the instant it was
    received, rebuilds the same state (placed at the peer's date, it would have kept the transfer
    from being marked)."""
    settings = service_settings(
        "descriptors", DescriptorsSettings, ledger_url=ledger.url, marker_settle_seconds=SETTLE,
        peers=[PeerConfig(registry="GHA01", keys=[jws.public_jwk(PEER)])],
    )  # fmt: skip
    async with contextlib.AsyncExitStack() as stack, httpx.AsyncClient(timeout=30) as http:
        client = await start_descriptors(stack, settings, Clock(datetime.now(UTC)), http)
        await ledger.issue(1, 100)
        crossed = await ledger.transfer(ISSUANCE, CHE, 1, 10)
        await processed(database_url, 2)
        (own,) = await markers(client)
        dated = recorded_at(crossed) - timedelta(days=3)
        past = applicable_from(dated) + timedelta(hours=1)
        assert past < recorded_at(crossed)
        assert await segments(client, past, 1, 10) == [(1, 10, None)]

        client.clock.now = datetime.now(UTC)
        body = {"units": [{"scope": SCOPE, "first": 1, "last": 10}], "transferred_at": dated.isoformat(),
                "party": "GHA", "basis": "international_transfer"}  # fmt: skip
        theirs = marker(created_at=dated.isoformat(), applicable_from=applicable_from(dated).isoformat(),
                        first_transfer=body)  # fmt: skip
        stored = await post(client, jws.sign(PEER, theirs))
        assert stored.status_code == 201, stored.text
        target = infra.create_database()
        try:
            assert await cli.run_replay(settings, target) == 0, "replay rebuilds the live state"
        finally:
            infra.drop_database(target)
        assert await segments(client, past, 1, 10) == [(1, 10, None)]
        later = recorded_at(crossed) + timedelta(days=3)
        assert await segments(client, later, 1, 10) == [(1, 10, own["descriptor_id"])]
