"""Impersonation (A6R-43), WebAuthn security keys and hardware-key roles (A6R-7), credential
revocation (A6R-5) and suspension of a user's access (A6R-50)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import parse_qs, urlparse

import cbor2
import pytest

from identity.domain import totp
from identity.service_layer import tokens
from registry_platform.auth import Grant

from .conftest import Harness, access_events, claims, make_world
from .softkey import SoftKey


async def test_a6r_43_impersonation_carries_only_the_users_grants_and_act(idp: Harness) -> None:
    world = await make_world(idp)
    reg = world.tokens["regadmin"]
    answer = await idp.ok("POST", "/impersonation", reg, json={"user_id": world.user.id, "reason": "ticket 4711"})
    token = claims(answer["access_token"])
    assert token["sub"] == world.user.id and token["act"] == {"sub": world.regadmin.id}
    assert [g["id"] for g in token["grants"]] == [world.user_grant["id"]]
    assert token["exp"] - token["iat"] <= 120
    # It cannot do what the user cannot: no administration, no impersonating again.
    for method, path in [("GET", "/users"), ("POST", "/impersonation"), ("GET", "/grants")]:
        refused = await idp.call(
            method, path, answer["access_token"], json={"user_id": world.gha_admin.id, "reason": "x"}
        )
        assert refused.status_code == 403, path
    assert (
        await idp.call("DELETE", f"/me/credentials/{world.user_grant['id']}", answer["access_token"])
    ).status_code == 403
    # Administrators are never impersonated.
    refused = await idp.call("POST", "/impersonation", reg, json={"user_id": world.root.id, "reason": "curiosity"})
    assert refused.status_code == 403
    for malformed in ("0" * 36, "-" * 36):
        refused = await idp.call("POST", "/impersonation", reg, json={"user_id": malformed, "reason": "ticket 4711"})
        assert refused.status_code == 422, refused.text
    log = await idp.ok("GET", "/log", reg, params={"kind": "impersonation."})
    entry = log["items"][0]
    assert entry["actor"] == world.regadmin.id and entry["subject"] == world.user.id


async def test_a6r_43_impersonation_mints_exactly_the_grants_it_checked(
    idp: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registry administrator grant that lands between the check and the minting (another
    transaction committing) must not reach the impersonation token."""
    world = await make_world(idp)
    read_again = tokens.active_grants

    async def granted_meanwhile(conn: Any, user_id: str) -> list[Grant]:
        return [*await read_again(conn, user_id), Grant("registry_administrator", id=str(uuid.uuid4()))]

    monkeypatch.setattr(tokens, "active_grants", granted_meanwhile)
    answer = await idp.ok(
        "POST", "/impersonation", world.tokens["regadmin"], json={"user_id": world.user.id, "reason": "ticket 4711"}
    )
    assert [g["id"] for g in claims(answer["access_token"])["grants"]] == [world.user_grant["id"]]


async def test_a6r_7_webauthn_ceremonies_and_hardware_key_roles(idp: Harness) -> None:
    world = await make_world(idp)
    key = SoftKey()
    reg = world.tokens["regadmin"]
    options = await idp.ok("POST", "/me/credentials/webauthn/options", reg)
    registered = await idp.ok("POST", "/me/credentials/webauthn", reg, json={"credential": key.register(options)})
    assert registered["kind"] == "webauthn"

    # Registry administrators now need a hardware key: a TOTP sign-in leaves that grant out.
    idp.identity.settings.hardware_key_roles = ["registry_administrator"]
    assert claims(await idp.token(world.regadmin))["grants"] == []
    first = await idp.ok("POST", "/sessions", json={"email": world.regadmin.email, "password": world.regadmin.password})
    assert "webauthn" in first["methods"]
    request = await idp.ok("POST", "/sessions/webauthn-options", json={"challenge_id": first["challenge_id"]})
    signed = await idp.ok(
        "POST",
        "/sessions/mfa",
        json={"challenge_id": first["challenge_id"], "method": "webauthn", "credential": key.sign(request)},
    )
    token = claims(signed["access_token"])
    assert token["amr"] == ["pwd", "hwk"] and token["acr"] == "mfa-hwk"
    assert [g["role"] for g in token["grants"]] == ["registry_administrator"]
    # A replayed assertion (same challenge, same counter) is refused.
    again = await idp.ok("POST", "/sessions", json={"email": world.regadmin.email, "password": world.regadmin.password})
    await idp.ok("POST", "/sessions/webauthn-options", json={"challenge_id": again["challenge_id"]})
    stale = await idp.call(
        "POST",
        "/sessions/mfa",
        json={"challenge_id": again["challenge_id"], "method": "webauthn", "credential": key.sign(request)},
    )
    assert stale.status_code == 401
    # Step-up with the key.
    options = await idp.ok("POST", "/sessions/step-up/webauthn-options", signed["access_token"])
    stepped = await idp.ok(
        "POST",
        "/sessions/step-up",
        signed["access_token"],
        json={"method": "webauthn", "credential": key.sign(options)},
    )
    assert claims(stepped["access_token"])["amr"] == ["pwd", "hwk"]


async def test_a6r_5_revoking_a_credential_ends_sessions_at_once(idp: Harness) -> None:
    world = await make_world(idp)
    user_token = world.tokens["user"]
    credentials = await idp.ok("GET", "/me/credentials", user_token)
    totp_id = next(c["id"] for c in credentials if c["kind"] == "totp" and c["status"] == "active")
    # The administrator revokes the user's authenticator app on suspicion.
    await idp.ok("DELETE", f"/users/{world.user.id}/credentials/{totp_id}", world.tokens["regadmin"])
    for _ in range(40):
        me = await idp.call("GET", "/me", user_token)
        if me.status_code == 401:
            break
        await asyncio.sleep(0.05)
    assert me.json()["error"]["code"] == "session_revoked"
    first = await idp.ok("POST", "/sessions", json={"email": world.user.email, "password": world.user.password})
    assert first["methods"] == ["recovery_code"]
    totp_try = await idp.call(
        "POST",
        "/sessions/mfa",
        json={"challenge_id": first["challenge_id"], "method": "totp", "code": idp.totp(world.user)},
    )
    assert totp_try.status_code == 401


async def test_a6r_50_suspending_a_users_access(idp: Harness) -> None:
    world = await make_world(idp)
    root = world.tokens["root"]
    await idp.ok("PUT", f"/users/{world.user.id}/access", root, json={"status": "suspended", "reason": "inquiry"})
    first = await idp.call("POST", "/sessions", json={"email": world.user.email, "password": world.user.password})
    assert first.status_code == 403 and first.json()["error"]["code"] == "user_suspended"
    events = await access_events(idp.settings, want=12)
    changed = [e.payload for e in events if e.type == "identity.UserAccessChanged"]
    assert changed == [
        {
            "user_id": world.user.id,
            "status": "suspended",
            "changed_by": world.root.id,
            "changed_at": changed[0]["changed_at"],
        }
    ]
    await idp.ok("PUT", f"/users/{world.user.id}/access", root, json={"status": "active", "reason": "cleared"})
    assert (await idp.sign_in(world.user))["access_token"]
    users = await idp.ok("GET", "/users", root)
    assert {u["id"] for u in users["items"]} >= {world.user.id, world.regadmin.id}
    credential_log = await idp.ok("GET", "/log/credentials", root)
    assert {e["kind"] for e in credential_log["items"]} >= {"credential.activation_issued", "credential.enrolled"}


async def test_a6r_48_log_pages_newest_first_with_kind_and_subject(idp: Harness) -> None:
    world = await make_world(idp)
    reg = world.tokens["regadmin"]
    oldest_first = (await idp.ok("GET", "/log", reg, params={"limit": 500}))["items"]
    assert len(oldest_first) >= 5
    # Page back from the newest, two at a time: the same entries, reversed, none twice.
    seen, cursor = [], 0
    while True:
        page = await idp.ok("GET", "/log", reg, params={"order": "newest_first", "limit": 2, "cursor": cursor})
        assert len(page["items"]) <= 2
        seen += [e["sequence"] for e in page["items"]]
        if page["next"] is None:
            break
        cursor = page["next"]
    assert seen == [e["sequence"] for e in reversed(oldest_first)]
    # Filters apply in the query, before the limit: a page is full while matching entries remain.
    about_user = [e for e in reversed(oldest_first) if e["subject"] == world.user.id]
    assert len(about_user) >= 2
    page = await idp.ok("GET", "/log", reg, params={"order": "newest_first", "limit": 1, "subject": world.user.id})
    assert [e["sequence"] for e in page["items"]] == [about_user[0]["sequence"]]
    assert page["next"] == about_user[0]["sequence"]
    grants = await idp.ok("GET", "/log", reg, params={"order": "newest_first", "kind": "grant."})
    assert grants["items"] and all(e["kind"].startswith("grant.") for e in grants["items"])
    refused = await idp.call("GET", "/log", reg, params={"order": "sideways"})
    assert refused.status_code == 422


async def test_a6r_7_adding_a_security_key_needs_a_fresh_second_factor(idp: Harness) -> None:
    """A stolen session must not plant its own key (and with it the hardware-key roles)."""
    world = await make_world(idp)
    aged = await idp.aged(await idp.sign_in(world.user))
    for path in ("/me/credentials/webauthn/options", "/me/credentials/webauthn"):
        refused = await idp.call("POST", path, aged["access_token"], json={"credential": {}})
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "step_up_required", path
    stepped = await idp.ok(
        "POST", "/sessions/step-up", aged["access_token"], json={"method": "totp", "code": idp.totp(world.user)}
    )
    key = SoftKey()
    options = await idp.ok("POST", "/me/credentials/webauthn/options", stepped["access_token"])
    await idp.ok(
        "POST", "/me/credentials/webauthn", stepped["access_token"], json={"credential": key.register(options)}
    )


async def test_a6r_4_a_new_activation_cancels_a_redeemed_one_and_re_enrolment_revokes_keys(idp: Harness) -> None:
    world = await make_world(idp)
    reg, user = world.tokens["regadmin"], world.user
    key = SoftKey()
    token = await idp.token(user)
    options = await idp.ok("POST", "/me/credentials/webauthn/options", token)
    await idp.ok("POST", "/me/credentials/webauthn", token, json={"credential": key.register(options)})

    # Someone intercepted the link and the code and redeemed them; the administrator, told of it,
    # sends a new activation: the intercepted enrolment can no longer be completed.
    await idp.ok("POST", f"/users/{user.id}/activations", reg, status=201)
    link, code = await idp.outbound(user.id, "activation_link"), await idp.outbound(user.id, "activation_code")
    intercepted = await idp.ok(
        "POST", "/activation", json={"token": parse_qs(urlparse(link).query)["token"][0], "code": code}
    )
    await idp.ok("POST", f"/users/{user.id}/activations", reg, status=201)
    stolen = await idp.call(
        "POST",
        "/activation/complete",
        json={
            "enrolment_token": intercepted["enrolment_token"],
            "password": "attackers-own-long-password",
            "totp_code": totp.code_at(intercepted["totp_secret"], totp.step_at(idp.clock())),
        },
    )
    assert stolen.status_code == 410 and stolen.json()["error"]["code"] == "enrolment_expired", stolen.text

    # The user enrols with the new activation: every old credential, the key too, is revoked.
    link, code = await idp.outbound(user.id, "activation_link"), await idp.outbound(user.id, "activation_code")
    await idp.enrol(user, parse_qs(urlparse(link).query)["token"][0], code)
    credentials = await idp.ok("GET", f"/users/{user.id}/credentials", world.tokens["root"])
    keys = [c for c in credentials if c["kind"] == "webauthn"]
    assert keys and all(c["status"] == "revoked" for c in keys), credentials


async def test_a6r_50_a6r_51_administrators_act_only_on_users_of_their_level_or_below(idp: Harness) -> None:
    world = await make_world(idp)
    reg, root = world.tokens["regadmin"], world.tokens["root"]
    credentials = await idp.ok("GET", f"/users/{world.root.id}/credentials", reg)
    totp_id = next(c["id"] for c in credentials if c["kind"] == "totp" and c["status"] == "active")
    for method, path, body in [
        ("PUT", f"/users/{world.root.id}/access", {"status": "suspended", "reason": "take over"}),
        ("DELETE", f"/users/{world.root.id}/credentials/{totp_id}", None),
        ("POST", f"/users/{world.root.id}/unlock", None),
        ("POST", f"/users/{world.root.id}/activations", None),
        ("POST", f"/users/{world.root.id}/verifications", {"outcome": "rejected", "evidence": [{"type": "other"}]}),
    ]:
        refused = await idp.call(method, path, reg, json=body)
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["error"]["code"] == "administered_by_higher_level", path
    # Anonymising revokes every grant: only who could revoke each of them may anonymise.
    other = await idp.onboard(reg, "kwame@registry.example", "Kwame Asante")
    await idp.grant(root, other, "registry_administrator")
    for user in (world.root.id, other.id):
        refused = await idp.call("POST", f"/users/{user}/anonymise", reg, json={"reason": "take over"})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_authorized", refused.text
    assert (await idp.ok("GET", "/me", root))["access"] == "active"
    # A system administrator may suspend the access of any user (A6R-50).
    await idp.ok("PUT", f"/users/{world.regadmin.id}/access", root, json={"status": "suspended", "reason": "inquiry"})


async def test_a6r_43_impersonation_ends_when_the_registry_administrator_grant_does(idp: Harness) -> None:
    world = await make_world(idp)
    reg, root = world.tokens["regadmin"], world.tokens["root"]
    answer = await idp.ok("POST", "/impersonation", reg, json={"user_id": world.user.id, "reason": "ticket 4711"})
    assert (await idp.ok("GET", "/me", answer["access_token"]))["acting_as"] == {"actor": world.regadmin.id}
    reg_grant = claims(reg)["grants"][0]["id"]
    await idp.ok("POST", f"/grants/{reg_grant}/suspend", root, json={"reason": "inquiry"})
    ended = await idp.call("GET", "/me", answer["access_token"])
    assert ended.status_code == 401 and ended.json()["error"]["code"] == "session_revoked"
    log = await idp.ok("GET", "/log", root, params={"kind": "session.revoked", "subject": world.user.id})
    assert [e["data"]["session_id"] for e in log["items"]] == [answer["session_id"]]


class _OddKey(SoftKey):
    """An authenticator whose attested public key is of a type no one supports."""

    def _cose_key(self) -> bytes:
        return cbor2.dumps({1: 99, 3: -7})


async def test_a6r_7_a_crafted_attestation_is_refused_with_a_code(idp: Harness) -> None:
    world = await make_world(idp)
    token = world.tokens["user"]
    options = await idp.ok("POST", "/me/credentials/webauthn/options", token)
    crafted = {"credential": _OddKey().register(options)}
    refused = await idp.call("POST", "/me/credentials/webauthn", token, json=crafted)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_security_key", refused.text
