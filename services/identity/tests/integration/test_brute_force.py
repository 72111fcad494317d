"""A6R-6: 1,000 wrong passwords from one client are throttled and lock the account; the correct
password afterwards is refused until an administrator unlocks the account."""

from __future__ import annotations

from collections import Counter

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
    while True:
        status, retry = await guess(f"patient-guess-{checked}")
        if status == 429:
            idp.clock.advance(int(retry or 1))
            continue
        if status == 423:
            break
        assert status == 401
        checked += 1
    assert checked == idp.settings.account_lock_threshold

    # The correct password, once the wait is over, and from another address: refused.
    status, retry = await guess(victim.password)
    if status == 429:
        idp.clock.advance(int(retry or 1))
        status, retry = await guess(victim.password)
    assert status == 423
    elsewhere = await idp.call(
        "POST", "/sessions", client="198.51.100.8", json={"email": victim.email, "password": victim.password}
    )
    assert elsewhere.status_code == 423 and elsewhere.json()["error"]["code"] == "account_locked"

    # An administrator unlocks; then the user signs in.
    idp.clock.reset()
    admin = await idp.token(world.regadmin)
    await idp.ok("POST", f"/users/{victim.id}/unlock", admin)
    victim.client = "198.51.100.9"
    assert (await idp.sign_in(victim))["access_token"]
