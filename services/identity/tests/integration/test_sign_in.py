"""Signing in (A6R-6): a password alone never gets a token; TOTP codes work once; refresh token
reuse ends the session; step-up renews auth_time; activation links work once and expire (A6R-4)."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import parse_qs, urlparse

from registry_platform.auth import dev_signing_key, issue_token
from registry_platform.settings import DEV_TOKEN_SECRET

from .conftest import Harness, access_events, claims, make_world


async def test_a6r_6_login_without_a_second_factor_gets_no_token(idp: Harness) -> None:
    root = await idp.bootstrap()
    first = await idp.ok("POST", "/sessions", json={"email": root.email, "password": root.password})
    assert set(first) == {"challenge_id", "methods", "expires_in"}
    assert first["methods"] == ["recovery_code", "totp"]
    # The challenge is no access token.
    refused = await idp.call("GET", "/me", token=first["challenge_id"])
    assert refused.status_code == 401
    wrong = await idp.call(
        "POST", "/sessions/mfa", json={"challenge_id": first["challenge_id"], "method": "totp", "code": "000000"}
    )
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_second_factor"
    assert "access_token" not in wrong.text
    # The same challenge still takes the right code.
    tokens = await idp.ok(
        "POST", "/sessions/mfa", json={"challenge_id": first["challenge_id"], "method": "totp", "code": idp.totp(root)}
    )
    token = claims(tokens["access_token"])
    assert token["sub"] == root.id and token["amr"] == ["pwd", "otp"] and token["acr"] == "mfa"
    assert token["exp"] - token["iat"] == 300
    assert [g["role"] for g in token["grants"]] == ["system_administrator"] and token["grants"][0]["id"]


async def test_a6r_6_a_totp_code_works_once(idp: Harness) -> None:
    root = await idp.bootstrap()
    code = idp.totp(root)
    for expected in (200, 401):
        first = await idp.ok("POST", "/sessions", json={"email": root.email, "password": root.password})
        answer = await idp.call(
            "POST", "/sessions/mfa", json={"challenge_id": first["challenge_id"], "method": "totp", "code": code}
        )
        assert answer.status_code == expected, answer.text
    assert (await idp.sign_in(root))["access_token"]  # the next code works


async def test_a6r_6_recovery_codes_work_once(idp: Harness) -> None:
    root = await idp.bootstrap()
    code = root.recovery_codes[0]
    for expected in (200, 401):
        first = await idp.ok("POST", "/sessions", json={"email": root.email, "password": root.password})
        answer = await idp.call(
            "POST",
            "/sessions/mfa",
            json={"challenge_id": first["challenge_id"], "method": "recovery_code", "code": code},
        )
        assert answer.status_code == expected, answer.text


async def test_a_reused_refresh_token_revokes_its_family(idp: Harness) -> None:
    root = await idp.bootstrap()
    signed = await idp.sign_in(root)
    second = await idp.ok("POST", "/sessions/refresh", json={"refresh_token": signed["refresh_token"]})
    assert claims(second["access_token"])["sid"] == signed["session_id"]
    reused = await idp.call("POST", "/sessions/refresh", json={"refresh_token": signed["refresh_token"]})
    assert reused.status_code == 401 and reused.json()["error"]["code"] == "refresh_token_reused"
    # The whole family is gone: the newest refresh token too, and the session's access tokens.
    after = await idp.call("POST", "/sessions/refresh", json={"refresh_token": second["refresh_token"]})
    assert after.status_code == 401
    events = await access_events(idp.settings, want=2)
    revoked = [e for e in events if e.type == "identity.SessionRevoked"]
    assert revoked and revoked[0].payload["session_id"] == signed["session_id"]
    for _ in range(40):
        me = await idp.call("GET", "/me", token=second["access_token"])
        if me.status_code == 401:
            break
        await asyncio.sleep(0.05)
    assert me.json()["error"]["code"] == "session_revoked"


async def test_step_up_renews_auth_time_for_elevated_operations(idp: Harness) -> None:
    world = await make_world(idp)
    # Signed in ten minutes ago (the session's second factor is that old); the token is refreshed.
    fresh = await idp.aged(await idp.sign_in(world.gha_admin))
    other = await idp.onboard(world.tokens["regadmin"], "kofi@gha.example", "Kofi Boateng")
    body = {"user_id": other.id, "role": "section_user", "section": "GHA"}
    refused = await idp.call("POST", "/grants", fresh["access_token"], json=body)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "step_up_required"
    stepped = await idp.ok(
        "POST", "/sessions/step-up", fresh["access_token"], json={"method": "totp", "code": idp.totp(world.gha_admin)}
    )
    assert claims(stepped["access_token"])["auth_time"] > claims(fresh["access_token"])["auth_time"]
    await idp.ok("POST", "/grants", stepped["access_token"], status=201, json=body)


async def test_a6r_4_an_activation_link_works_once_and_expires(idp: Harness) -> None:
    root = await idp.bootstrap()
    token = await idp.token(root)
    user = await idp.new_user(token, "kwame@gha.example", "Kwame Asante")
    await idp.ok(
        "POST",
        f"/users/{user.id}/verifications",
        token,
        status=201,
        json={"outcome": "verified", "evidence": [{"type": "un_system"}]},
    )
    await idp.ok("POST", f"/users/{user.id}/activations", token, status=201)
    link = await idp.outbound(user.id, "activation_link")
    code = await idp.outbound(user.id, "activation_code")
    secret = parse_qs(urlparse(link).query)["token"][0]
    assert code not in link and secret not in code
    wrong = await idp.call("POST", "/activation", json={"token": secret, "code": "00000000"})
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "invalid_activation_code"
    await idp.ok("POST", "/activation", json={"token": secret, "code": code})
    again = await idp.call("POST", "/activation", json={"token": secret, "code": code})
    assert again.status_code == 410 and again.json()["error"]["code"] == "activation_used"
    # A new activation, opened too late.
    await idp.ok("POST", f"/users/{user.id}/activations", token, status=201)
    late_link = await idp.outbound(user.id, "activation_link")
    late_code = await idp.outbound(user.id, "activation_code")
    idp.clock.advance(73 * 3600)
    late = await idp.call(
        "POST", "/activation", json={"token": parse_qs(urlparse(late_link).query)["token"][0], "code": late_code}
    )
    assert late.status_code == 410 and late.json()["error"]["code"] == "activation_expired"


async def test_jwks_publishes_the_signing_key(idp: Harness) -> None:
    from joserfc.jwk import KeySet

    from registry_platform.auth import TokenVerifier

    root = await idp.bootstrap()
    jwks = await idp.ok("GET", "/.well-known/jwks.json")
    assert [k["kty"] for k in jwks["keys"]] == ["OKP"] and "d" not in jwks["keys"][0]
    principal = TokenVerifier(KeySet.import_key_set(jwks)).verify(await idp.token(root))
    assert principal.subject == root.id and principal.amr == ("pwd", "otp")


async def test_bootstrap_admin_is_callable_from_python(idp: Harness) -> None:
    from identity.entrypoints.cli import bootstrap_admin

    made = await bootstrap_admin(idp.settings, email="first@registry.example", name="First Operator")
    assert made["link"].startswith(idp.settings.activation_url) and len(made["code"]) == 8
    from identity.domain.errors import Refused

    try:
        await bootstrap_admin(idp.settings, email="second@registry.example", name="Second Operator")
    except Refused as refused:
        assert refused.code == "already_bootstrapped"
    else:
        raise AssertionError("a second bootstrap must be refused")


async def test_a6r_5_changing_the_password_ends_other_sessions(idp: Harness) -> None:
    root = await idp.bootstrap()
    other = await idp.sign_in(root)
    current = await idp.sign_in(root)
    token = current["access_token"]
    weak = await idp.call(
        "POST",
        "/me/credentials/password",
        token,
        json={"current_password": root.password, "new_password": "password1234"},
    )
    assert weak.status_code == 422 and weak.json()["error"]["code"] == "weak_password"
    wrong = await idp.call(
        "POST",
        "/me/credentials/password",
        token,
        json={"current_password": "nope", "new_password": "saffron-kettle-97-drum"},
    )
    assert wrong.status_code == 401
    changed = await idp.ok(
        "POST",
        "/me/credentials/password",
        token,
        json={"current_password": root.password, "new_password": "saffron-kettle-97-drum"},
    )
    assert changed["sessions_ended"] == 1
    assert (
        await idp.call("POST", "/sessions/refresh", json={"refresh_token": other["refresh_token"]})
    ).status_code == 401
    assert (
        await idp.call("POST", "/sessions", json={"email": root.email, "password": root.password})
    ).status_code == 401
    root.password = "saffron-kettle-97-drum"
    assert (await idp.sign_in(root))["access_token"]


async def test_a6r_43_self_service_needs_a_running_session_of_the_user(idp: Harness) -> None:
    """The /me endpoints act for the token's user only within that user's running session: a token
    naming someone without one of their sessions (a forgery) or of an ended session is refused."""
    root = await idp.bootstrap()
    signed = await idp.sign_in(root)
    assert (await idp.ok("GET", "/me", signed["access_token"]))["id"] == root.id
    key = dev_signing_key(DEV_TOKEN_SECRET)
    other = await idp.new_user(signed["access_token"], "ops@registry.example", "Osei Pratt")
    forgeries = [
        ("no_session", issue_token(key, root.id, [])),
        ("session_revoked", issue_token(key, root.id, [], session=str(uuid.uuid4()))),
        # Someone else's session, or one's own claimed as an impersonation.
        ("session_revoked", issue_token(key, other.id, [], session=signed["session_id"])),
        ("session_revoked", issue_token(key, root.id, [], session=signed["session_id"], actor=other.id)),
    ]
    for code, token in forgeries:
        for method, path in [("GET", "/me"), ("POST", "/me/credentials/recovery-codes")]:
            refused = await idp.call(method, path, token)
            assert refused.status_code == 401 and refused.json()["error"]["code"] == code, (path, code)
    await idp.ok("POST", "/sessions/logout", signed["access_token"], status=204)
    ended = await idp.call("GET", "/me", signed["access_token"])
    assert ended.status_code == 401 and ended.json()["error"]["code"] == "session_revoked"


async def test_a6r_43_in_production_a_token_signed_with_the_shared_key_names_no_user(idp_own_key: Harness) -> None:
    """Every service holds the shared secret: a token it signs, even naming a real session of the
    user and no grant (which the decision point's role limit lets through), is refused by /me."""
    idp = idp_own_key
    root = await idp.bootstrap()
    signed = await idp.sign_in(root)
    assert (await idp.ok("GET", "/me", signed["access_token"]))["id"] == root.id
    forged = issue_token(dev_signing_key(DEV_TOKEN_SECRET), root.id, [], session=signed["session_id"])
    for method, path in [("GET", "/me"), ("POST", "/me/credentials/recovery-codes")]:
        refused = await idp.call(method, path, forged)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "no_session", path
