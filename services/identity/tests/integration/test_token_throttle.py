"""A6R-8 with A6R-6: failed token requests of a registered external system are throttled per client
id, as failed sign-ins are per address. After the free failures, failing requests get 429 with
Retry-After until the wait is over, while the correctly signed one still gets its token (failing in
a system's name must not keep it out); a token resets the count; concurrent requests do not slip
past it, a restart forgets nothing, and made-up client ids leave no row behind."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
from joserfc.jwk import ECKey
from sqlalchemy import text

from identity.service_layer.external import THROTTLE_PREFIX

from .conftest import Harness, make_world
from .test_external_systems import RISK, assertion, form

FREE, MAX_DELAY = 3, 4
LIMITS = {"external_system_free_failures": FREE, "external_system_max_delay_seconds": MAX_DELAY}


async def register(h: Harness, admin_token: str, name: str) -> tuple[str, ECKey]:
    key = ECKey.generate_key("P-256")
    system = await h.ok(
        "POST",
        "/external-systems",
        admin_token,
        status=201,
        json={
            "name": name,
            "public_jwk": key.as_dict(private=False),
            "risk_assessment": RISK,
            "scopes": [{"section": "GHA"}],
        },
    )
    return system["client_id"], key


async def request(h: Harness, key: ECKey, client: str, **fields: str) -> httpx.Response:
    return await h.call("POST", "/oauth/token", data={**form(assertion(key, client, h.clock().timestamp())), **fields})


async def throttle_rows(h: Harness) -> list[str]:
    async with h.identity.read() as conn:
        return list((await conn.scalars(text("SELECT client FROM login_throttle ORDER BY client"))).all())


async def test_a6r_8_a_client_is_refused_429_after_its_free_failures_until_the_wait_is_over(
    serve: Callable[..., Any],
) -> None:
    """A6R-8, A6R-6: the failure after the free ones starts a wait; until it is over every failing
    request of that client is answered 429 too_many_attempts with Retry-After and neither counted
    nor logged, while the system's correctly signed assertion still gets its token: whoever knows a
    client id cannot keep the system out."""
    async with serve(**LIMITS) as idp:
        world = await make_world(idp)
        admin = world.tokens["regadmin"]
        client, key = await register(idp, admin, "GHA national registry")
        other, other_key = await register(idp, admin, "CHE national registry")
        forger = ECKey.generate_key("P-256")
        idp.clock.freeze()

        answers = [await request(idp, forger, client) for _ in range(FREE + 3)]
        assert [r.status_code for r in answers] == [401] * (FREE + 1) + [429] * 2
        refused = answers[-1]
        assert refused.json()["error"]["code"] == "too_many_attempts"
        assert refused.headers["retry-after"] == "1"
        assert "retry in 1 s" in refused.json()["error"]["message"]

        assert (await request(idp, other_key, other)).status_code == 200
        calls = await idp.ok("GET", f"/external-systems/{client}/calls", admin)
        assert [c["outcome"] for c in calls["items"]] == ["invalid_client"] * (FREE + 1)
        listed = {s["client_id"]: s for s in await idp.ok("GET", "/external-systems", admin)}
        assert listed[client]["throttled_until"] and listed[other]["throttled_until"] is None

        # During the wait, the system itself still gets its token, and that ends the wait.
        assert (await request(idp, key, client)).status_code == 200
        assert (await idp.ok("GET", f"/external-systems/{client}/calls", admin))["items"][-1]["outcome"] == (
            "token_issued"
        )
        assert (await request(idp, forger, client)).status_code == 401


async def test_a6r_8_a_token_resets_the_count_and_waits_double_up_to_the_setting(serve: Callable[..., Any]) -> None:
    """A6R-8, A6R-6: after a token the client has its free failures again; then each failure doubles
    the wait, never beyond external_system_max_delay_seconds."""
    async with serve(**LIMITS) as idp:
        world = await make_world(idp)
        admin = world.tokens["regadmin"]
        client, key = await register(idp, admin, "GHA national registry")
        forger = ECKey.generate_key("P-256")
        idp.clock.freeze()
        assert [(await request(idp, forger, client)).status_code for _ in range(FREE + 2)] == [401] * (FREE + 1) + [429]
        idp.clock.advance(1)
        assert (await request(idp, key, client)).status_code == 200
        listed = await idp.ok("GET", "/external-systems", admin)
        assert listed[0]["throttled_until"] is None

        assert [(await request(idp, forger, client)).status_code for _ in range(FREE)] == [401] * FREE
        waits = []
        for _ in range(5):
            assert (await request(idp, forger, client)).status_code == 401
            held = await request(idp, forger, client)
            assert held.status_code == 429, held.text
            waits.append(int(held.headers["retry-after"]))
            idp.clock.advance(waits[-1])
        assert waits == [1, 2, 4, MAX_DELAY, MAX_DELAY]
        assert (await request(idp, key, client)).status_code == 200


async def test_a6r_8_concurrent_failures_of_one_client_are_counted_as_if_sent_in_turn(idp: Harness) -> None:
    """A6R-8: twenty forged assertions for one client sent at once: as many are checked (and
    logged) as when sent one after another, the free failures and the one that starts the wait;
    every other one is answered 429."""
    world = await make_world(idp)
    admin = world.tokens["regadmin"]
    client, _ = await register(idp, admin, "GHA national registry")
    forger = ECKey.generate_key("P-256")
    idp.clock.freeze()
    answers = await asyncio.gather(*(request(idp, forger, client) for _ in range(20)))
    counts = Counter(r.status_code for r in answers)
    checked = idp.settings.external_system_free_failures + 1
    assert counts == {401: checked, 429: 20 - checked}, counts
    calls = await idp.ok("GET", f"/external-systems/{client}/calls", admin)
    assert len(calls["items"]) == checked


async def test_a6r_8_a_throttled_client_stays_throttled_across_a_restart(serve: Callable[..., Any]) -> None:
    """A6R-8: the count lives in PostgreSQL, so a restarted identity (or another instance) still
    holds the client back until the wait is over."""
    async with serve(**LIMITS) as idp:
        world = await make_world(idp)
        client, _ = await register(idp, world.tokens["regadmin"], "GHA national registry")
        forger = ECKey.generate_key("P-256")
        idp.clock.freeze()
        for _ in range(FREE + 1):
            assert (await request(idp, forger, client)).status_code == 401
        moment = idp.clock()
    async with serve(**LIMITS) as restarted:
        restarted.clock.frozen = moment
        held = await request(restarted, forger, client)
        assert held.status_code == 429 and held.json()["error"]["code"] == "too_many_attempts", held.text
        restarted.clock.advance(int(held.headers["retry-after"]))
        assert (await request(restarted, forger, client)).status_code == 401


async def test_a6r_8_made_up_client_ids_are_not_counted_and_leave_no_row(serve: Callable[..., Any]) -> None:
    """A6R-8: the endpoint is public, so only registered clients are counted (and logged): made-up
    client ids, however often tried, add no row to the throttle or the call log, while a
    registered client with as many failures is held back."""
    async with serve(**LIMITS) as idp:
        world = await make_world(idp)
        client, _ = await register(idp, world.tokens["regadmin"], "GHA national registry")
        forger = ECKey.generate_key("P-256")
        idp.clock.freeze()
        for made_up in [str(uuid.uuid4()), client.upper(), "x" * 200, "unknown"]:
            for _ in range(FREE + 2):
                refused = await request(idp, forger, made_up, client_id=made_up)
                assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_client"
        answers = [(await request(idp, forger, client)).status_code for _ in range(FREE + 2)]
        assert answers == [401] * (FREE + 1) + [429]
        assert await throttle_rows(idp) == [THROTTLE_PREFIX + client]
        async with idp.identity.read() as conn:
            logged = (await conn.scalars(text("SELECT DISTINCT client_id FROM external_calls"))).all()
        assert logged == [client]


async def test_a6r_8_a_registry_administrator_ends_a_clients_wait_and_it_is_logged(serve: Callable[..., Any]) -> None:
    """A6R-8, A6R-6: as a locked user is unlocked, a registry administrator ends a throttled
    system's wait (its registered key fixed, say): its failures are forgotten at once, with the
    clock standing still. Only registry administrators may; an unknown system is a 404; identity's
    log records who did it and how many failures were forgotten."""
    async with serve(**LIMITS) as idp:
        world = await make_world(idp)
        admin = world.tokens["regadmin"]
        client, _ = await register(idp, admin, "GHA national registry")
        forger = ECKey.generate_key("P-256")
        idp.clock.freeze()
        for _ in range(FREE + 1):
            assert (await request(idp, forger, client)).status_code == 401
        assert (await request(idp, forger, client)).status_code == 429

        for who in ("root", "gha_admin", "user"):
            refused = await idp.call("POST", f"/external-systems/{client}/unthrottle", world.tokens[who])
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_authorized", (who, refused)
        assert (await request(idp, forger, client)).status_code == 429
        unknown = await idp.call("POST", f"/external-systems/{uuid.uuid4()}/unthrottle", admin)
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_external_system"

        answer = await idp.ok("POST", f"/external-systems/{client}/unthrottle", admin)
        assert answer == {"client_id": client, "throttled_until": None}
        assert (await idp.ok("GET", "/external-systems", admin))[0]["throttled_until"] is None
        assert await throttle_rows(idp) == []
        assert (await request(idp, forger, client)).status_code == 401

        log = await idp.ok("GET", "/log", admin, params={"kind": "external_system.unthrottled"})
        [entry] = log["items"]
        assert entry["actor"] == world.regadmin.id and entry["subject"] == client
        assert entry["data"] == {"failures": FREE + 1}
