"""Signing in with the keyboard alone, security keys (WebAuthn), recovery codes, step-up, token
refresh, sign-out, session expiry and CSRF, in Debian's chromium (issue 7, item 2)."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pyotp
import pytest

from identity.domain.clock import system_clock
from identity.service_layer.bootstrap_admin import first_system_administrator
from registry_platform.matrix import rows_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]
EMAIL = "root@registry.example"


async def keyboard_sign_in(person, email: str) -> None:
    """Tab to each field, type, Enter: no mouse (WCAG 2.1.1), with visible focus (2.4.7)."""
    page = person.page
    await person.goto("/sign-in")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.className") == "skip-link"
    await page.keyboard.press("Enter")
    assert await page.evaluate("location.hash") == "#main"

    await person.type_into("input[name=email]", email)
    await person.type_into("input[name=password]", person.password)
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/sign-in/second-factor")
    await person.audit()
    await person.type_into("input[name=code]", await person.authenticator.code())
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/home")
    await person.audit()


async def anonymous_calls_follow_the_matrix(registry) -> None:
    """A6R-12: a caller without a session is sent to sign in (303) by every route the authorization
    matrix marks `session`; the public ones answer it (a form without its token: 400), never with
    401/403 nor a 5xx."""
    rows = rows_for("web", registry.apps["web"])
    async with httpx.AsyncClient(base_url=registry.urls["web"], timeout=10) as http:
        for row in rows:
            path = re.sub(r"\{(\w+)\}", lambda m: str(uuid.uuid4()) if m.group(1).endswith("id") else "GHA-1", row.path)
            response = await http.request(row.method, path, json={} if row.method == "POST" else None)
            if row.session:
                assert response.status_code == 303, (row, response.status_code)
                assert response.headers["location"].startswith("/sign-in"), row
            assert response.status_code not in (401, 403) and response.status_code < 500, (row, response.status_code)
            if row.path.startswith("/static/") or row.path in ("/health", "/ready", "/metrics"):
                continue
            assert "content-security-policy" in response.headers, row


async def anonymous_visits_store_nothing(registry) -> None:
    """A6R-51: the landing and sign-in pages, requested again and again by clients without cookies
    (a bot), and every anonymous call above, write no session row: an anonymous visitor's CSRF
    token is bound to a cookie, not kept on the server."""
    for _ in range(10):
        for path in ("/", "/sign-in"):
            async with httpx.AsyncClient(base_url=registry.urls["web"], timeout=10) as bot:
                page = await bot.get(path)
                assert page.status_code == 200 and "registry-session" not in bot.cookies, path
    assert await registry.web_sql("SELECT count(*) FROM sessions") == [(0,)]


async def test_sign_in_methods_step_up_refresh_and_expiry(registry, people):
    await anonymous_calls_follow_the_matrix(registry)
    await anonymous_visits_store_nothing(registry)
    visitor = await people("visitor")
    response = await visitor.page.goto(f"{registry.web}/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    await visitor.audit()
    assert "<td>identity</td>" in await visitor.page.content(), "the service status board"

    made = await first_system_administrator(registry.identity, email=EMAIL, name="Rosa Root")
    root = await people("system administrator")
    await root.activate(made["link"], made["code"], "violet-harbour-tractor-lantern-9")
    await keyboard_sign_in(root, EMAIL)
    cookie = next(c for c in await root.page.context.cookies() if c["name"] == "registry-session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert "access" not in await root.page.content(), "tokens stay on the server"

    # A security key (WebAuthn) through Chromium's virtual authenticator.
    cdp = await root.page.context.new_cdp_session(root.page)
    await cdp.send("WebAuthn.enable")
    await cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    # Identity adds a key only with a fresh second factor: with the session's aged, the page asks
    # for it first, then shows the key's form.
    await registry.web_sql("UPDATE sessions SET data = jsonb_set(data, '{auth,auth_time}', '0') WHERE data ? 'auth'")
    await root.goto("/security")
    await root.click("Add a security key", role="link")
    assert "/step-up" in root.page.url, await root.main()
    assert "before you add a security key" in await root.main()
    await root.fill({"6-digit code from your authenticator app": await root.authenticator.code()})
    await root.click("Confirm")
    assert root.page.url.endswith("/security#add-key"), root.page.url
    async with root.page.expect_navigation():
        await root.page.get_by_role("button", name="Add a security key").click()
    await root.audit()
    assert "Your security key was added" in await root.flash(), await root.main()

    # Refresh: the session's copy of the access token expires; identity rotates the refresh token.
    before = await registry.web_sql("SELECT data->'auth'->>'refresh' FROM sessions WHERE data ? 'auth'")
    await registry.web_sql("UPDATE sessions SET data = jsonb_set(data, '{auth,expires_at}', '0') WHERE data ? 'auth'")
    await root.goto("/home")
    assert "System administration" in await root.page.locator("header").inner_text()
    after = await registry.web_sql("SELECT data->'auth'->>'refresh' FROM sessions WHERE data ? 'auth'")
    assert before != after, "the refresh token rotated"

    # Identity restarting when the token is due (it answers 503 identity_starting): the page says a
    # service is not reachable, and the sign-in goes on once identity is back.
    identity_runtime = registry.apps["identity"].state.runtime
    held = identity_runtime.state.pop("identity")
    try:
        await registry.web_sql(
            "UPDATE sessions SET data = jsonb_set(data, '{auth,expires_at}', '0') WHERE data ? 'auth'"
        )
        await root.goto("/home")
        assert "/sign-in" not in root.page.url and "not reachable" in await root.main(), await root.main()
    finally:
        identity_runtime.state["identity"] = held
    await root.goto("/home")
    assert "System administration" in await root.page.locator("header").inner_text(), "still signed in"

    # CSRF: a form whose token was tampered with is refused.
    await root.page.evaluate("document.querySelector('form.sign-out input[name=csrf_token]').value = 'forged'")
    await root.click("Sign out")
    assert "This form has expired" in await root.main()

    # Sign out, then in again with the security key.
    await root.goto("/home")
    await root.click("Sign out")
    assert "You have signed out" in await root.main()
    await root.page.goto(f"{registry.web}/home")
    assert "/sign-in" in root.page.url
    assert "registry-session" not in {c["name"] for c in await root.page.context.cookies()}, "nothing kept"
    await root.fill({"Email address": EMAIL, "Password": root.password})
    await root.click("Continue")
    # The password step keeps the challenge in a session; signing in gives it a new id (no fixation).
    cookies = {c["name"]: c["value"] for c in await root.page.context.cookies()}
    async with root.page.expect_navigation(url="**/home"):
        await root.page.get_by_role("button", name="Use my security key").click()
    await root.audit()
    signed_in = {c["name"]: c["value"] for c in await root.page.context.cookies()}
    assert signed_in["registry-session"] != cookies["registry-session"]
    assert await registry.web_sql("SELECT count(*) FROM sessions") == [(1,)]

    # Step-up: signed in (with a recovery code) more than 5 minutes ago by identity's clock, an
    # elevated operation first asks for a fresh second factor, then completes.
    await root.click("Sign out")
    registry.identity.clock = lambda: datetime.now(UTC) - timedelta(seconds=400)
    try:
        await root.fill({"Email address": EMAIL, "Password": root.password})
        await root.click("Continue")
        await root.page.get_by_text("I cannot use my authenticator").click()
        await root.fill({"Recovery code": root.recovery_codes[0]})
        await root.click("Sign in with a recovery code")
        assert root.page.url.endswith("/home"), await root.main()
    finally:
        registry.identity.clock = system_clock
    await root.goto("/users")
    await root.fill(
        {
            "Full name": "Rita Registrar",
            "Email address": "rita@registry.example",
            "Phone number": "+41791234567",
            "Date of birth": "1975-05-06",
            "Nationality": "CHE",
            "Document type": "passport",
            "Issuing country": "CHE",
            "Document number": "X1234567",
        }
    )
    await root.page.get_by_label("Role to grant").select_option("registry_administrator")
    await root.click("Add the person")
    assert "/step-up" in root.page.url, await root.main()
    # A wrong code is refused on the prompt itself; the session goes on.
    now = int(time.time()) // 30
    valid = {pyotp.TOTP(root.authenticator.secret).at(step * 30) for step in range(now - 1, now + 3)}
    wrong = next(c for c in ("000000", "111111") if c not in valid)
    await root.fill({"6-digit code from your authenticator app": wrong})
    await root.click("Confirm")
    assert "/step-up" in root.page.url and "not accepted" in await root.main(), await root.main()
    # Confirmed with the security key instead (another authenticator code so soon might wait for the next window).
    async with root.page.expect_navigation():
        await root.page.get_by_role("button", name="Confirm with a security key").click()
    await root.audit()
    await root.click("Continue")
    assert "Rita Registrar was added" in await root.flash(), await root.main()

    # Own sign-in methods (A6R-5, A6R-7), with the second factor just confirmed: a new password
    # (a wrong current one is refused on the form), new recovery codes, and a lost key removed.
    await root.goto("/security")
    await root.click("Change your password", role="link")
    new_password = "lantern-tractor-harbour-violet-4"
    await root.fill({"Current password": "not-the-password-at-all", "New password": new_password})
    await root.fill({"Type the new password again": new_password})
    await root.click("Change the password")
    assert "The current password is not right" in await root.main(), await root.main()
    await root.fill({"Current password": root.password, "New password": new_password})
    await root.fill({"Type the new password again": new_password})
    await root.click("Change the password")
    assert "Your password is changed" in await root.flash(), await root.main()
    root.password = new_password
    await root.click("Make new recovery codes")
    assert "The old ones no longer work" in await root.main(), await root.main()
    old_codes, root.recovery_codes = (
        root.recovery_codes,
        [c.strip() for c in await root.page.locator("ul.codes li").all_inner_texts()],
    )
    assert len(root.recovery_codes) == 10 and not set(root.recovery_codes) & set(old_codes)
    await root.goto("/security")
    async with root.page.expect_navigation(url="**/sign-in?key_removed=1"):
        await root.page.get_by_role("button", name="Remove the security key security key").click()
    await root.audit()
    assert "/sign-in" in root.page.url and "The security key is removed" in await root.main(), await root.main()
    await root.fill({"Email address": EMAIL, "Password": root.password})
    await root.click("Continue")
    await root.page.get_by_text("I cannot use my authenticator").click()
    await root.fill({"Recovery code": old_codes[1]})
    await root.click("Sign in with a recovery code")
    assert root.page.url.endswith("/sign-in/second-factor"), "an old recovery code no longer signs in"
    assert "not accepted" in await root.main(), await root.main()
    await root.page.get_by_text("I cannot use my authenticator").click()
    await root.fill({"Recovery code": root.recovery_codes[0]})
    await root.click("Sign in with a recovery code")
    assert root.page.url.endswith("/home"), await root.main()
    await root.goto("/security")
    assert "revoked" in await root.main(), "the removed key is listed as revoked"

    # Ten failed sign-ins lock Rita's account (A6R-6); an administrator unlocks it from her page.
    async with httpx.AsyncClient(base_url=registry.urls["identity"]) as client:
        for attempt in range(10):
            await client.post(
                "/sessions",
                json={"email": "rita@registry.example", "password": "a-wrong-guess-of-hers"},
                headers={"X-Forwarded-For": f"10.9.0.{attempt}"},  # other clients: no per-client delay
            )
    await root.goto(f"/users/{await registry.user_id('rita@registry.example')}")
    assert "locked after failed sign-ins" in await root.main(), await root.main()
    await root.click("Unlock sign-in")
    await root.confirm_if_asked()
    assert "Sign-in is unlocked" in await root.flash(), await root.main()
    assert "locked after failed sign-ins" not in await root.main()

    # Session expiry: an idle or too old session ends; the next page asks to sign in again.
    await registry.web_sql("UPDATE sessions SET expires_at = now() - interval '1 second'")
    await root.page.goto(f"{registry.web}/home")
    assert "/sign-in" in root.page.url
    assert "Your session has expired" in await root.main()
    await root.audit()
