"""A6R-6: 1,000 wrong passwords from one client are throttled and lock the account; the correct
password afterwards is refused until an administrator unlocks the account. Wrong second factors at
step-up end the session that sends them and count towards the lock."""

from __future__ import annotations

import asyncio
from collections import Counter

from identity.domain import totp

from .conftest import Harness, make_world


async def test_a6r_6_brute_force_is_throttled_and_locks_the_account(idp: Harness) -> None:
    world = await make_world(idp)
    victim = world.user
    attacker = "203.0.113.66"

    async def guess(password: str) -> tuple[int, str | None]:
        r = await idp.call("POST", "/sessions", client=attacker, json={"email": victim.email, "password": password})
        assert r.status_code != 200 or password == victim.password
        assert "access_token" not in r.text
        return r.status_code, r.headers.get("retry-after")

    # 1,000 guesses as fast as the attacker can send them (the clock stands still meanwhile): a
    # handful are checked, every other one is answered 429 with Retry-After and not looked at.
    idp.clock.freeze()
    answers = [await guess(f"wrong-password-{n:04d}") for n in range(1000)]
    counts = Counter(status for status, _ in answers)
    assert counts[401] == idp.settings.client_free_failures + 1
    assert counts[429] == 1000 - counts[401]
    assert all(retry and int(retry) >= 1 for status, retry in answers if status == 429)

    # A patient attacker who waits as told gets a few more guesses, then the account locks.
    checked = counts[401]
    while checked < idp.settings.account_lock_threshold:
        status, retry = await guess(f"patient-guess-{checked}")
        if status == 429:
            idp.clock.advance(int(retry or 1))
            continue
        assert status == 401
        checked += 1
    admin = await idp.token(world.regadmin)
    assert (await idp.ok("GET", f"/users/{victim.id}", admin))["locked"]

    # The correct password, once the wait is over, and from another address: refused, with the
    # answer an unknown email address gets, so the lock does not tell who has an account.
    status, retry = await guess(victim.password)
    if status == 429:
        idp.clock.advance(int(retry or 1))
        status, retry = await guess(victim.password)
    assert status == 401
    elsewhere = await idp.call(
        "POST", "/sessions", client="198.51.100.8", json={"email": victim.email, "password": victim.password}
    )
    nobody = await idp.call(
        "POST", "/sessions", client="198.51.100.7", json={"email": "nobody@nowhere.example", "password": "x" * 12}
    )
    assert elsewhere.status_code == nobody.status_code == 401
    assert elsewhere.json()["error"] == nobody.json()["error"]
    assert "locked" in elsewhere.json()["error"]["message"]

    # An administrator unlocks; then the user signs in.
    idp.clock.reset()
    await idp.ok("POST", f"/users/{victim.id}/unlock", admin)
    victim.client = "198.51.100.9"
    assert (await idp.sign_in(victim))["access_token"]


async def test_a6r_6_wrong_step_up_codes_end_the_session_and_lock_the_account(idp: Harness) -> None:
    """A stolen session cannot guess its way to a fresh second factor (which would open every
    elevated operation): five wrong codes end it, and the failures count towards the lock."""
    world = await make_world(idp)
    victim = world.user

    def wrong() -> dict[str, str]:
        # Not the code of the current step, nor of the ones around it that the service accepts.
        step = totp.step_at(idp.clock())
        near = {int(totp.code_at(victim.totp_secret, step + d)) for d in (-1, 0, 1)}
        code = next(c for c in range(1_000_000) if c not in near)
        return {"method": "totp", "code": f"{code:06d}"}

    async def step_up(token: str) -> tuple[int, str]:
        r = await idp.call("POST", "/sessions/step-up", token, json=wrong())
        return r.status_code, r.json()["error"]["code"]

    stolen = await idp.sign_in(victim)
    answers = [await step_up(stolen["access_token"]) for _ in range(idp.settings.mfa_failures_per_session)]
    assert answers == [(401, "invalid_second_factor")] * idp.settings.mfa_failures_per_session
    assert await step_up(stolen["access_token"]) == (401, "session_revoked")
    refreshed = await idp.call("POST", "/sessions/refresh", json={"refresh_token": stolen["refresh_token"]})
    assert refreshed.status_code == 401

    # A session that was open when wrong passwords locked the account cannot step up either: the
    # lock is answered before any code is checked, the right one too.
    bystander = await idp.sign_in(victim)
    for n in range(idp.settings.account_lock_threshold):
        await idp.call(
            "POST", "/sessions", client=f"192.0.2.{n}", json={"email": victim.email, "password": "not-hers-at-all"}
        )
    right = {"method": "totp", "code": idp.totp(victim)}
    locked = await idp.call("POST", "/sessions/step-up", bystander["access_token"], json=right)
    assert locked.status_code == 423 and locked.json()["error"]["code"] == "account_locked", locked.text


async def test_a6r_6_concurrent_guesses_from_one_client_are_throttled_as_if_sent_in_turn(idp: Harness) -> None:
    """Forty wrong passwords for forty addresses sent at once from one client: as many are checked
    as when sent one after another, and the rest wait (429), so spraying many accounts in parallel
    does not escape the per-client delay."""
    await make_world(idp)
    idp.clock.freeze()
    answers = await asyncio.gather(
        *(
            idp.call(
                "POST",
                "/sessions",
                client="203.0.113.99",
                json={"email": f"n{n}@nowhere.example", "password": "x" * 12},
            )
            for n in range(40)
        )
    )
    counts = Counter(r.status_code for r in answers)
    assert counts[401] == idp.settings.client_free_failures + 1, counts
    assert counts[429] == 40 - counts[401]
