"""Profiles (A6R-9 to A6R-11, A6R-49), one person one record (A6R-15), anonymisation that leaves
the log intact, and a log that never holds secrets (A6R-48)."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from identity.service_layer import journal

from .conftest import Harness, User, make_world


async def test_a6r_11_changes_applied_at_once_or_after_approval(idp: Harness) -> None:
    world = await make_world(idp)
    user = world.tokens["user"]
    contacts = [
        {"kind": "email", "value": "ama.owusu@gha.example"},
        {"kind": "postal", "value": "12 Liberation Rd, Accra, Ghana"},
    ]
    now = await idp.ok("POST", "/me/profile/changes", user, json={"contacts": contacts})
    assert now == {"applied": ["contacts"], "pending": [], "version": 2}
    bad = await idp.call("POST", "/me/profile/changes", user, json={"contacts": contacts[:1]})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "too_few_contacts"
    asked = await idp.ok("POST", "/me/profile/changes", user, json={"name": "Ama Owusu-Mensah"})
    assert asked["pending"] == ["name"]
    assert (await idp.ok("GET", "/me", user))["profile"]["name"] == "Ama Owusu"
    # The section administrator of the user's section sees and approves it; the user cannot.
    assert (await idp.call("GET", "/profile-changes", user)).status_code == 403
    pending = await idp.ok("GET", "/profile-changes", world.tokens["gha_admin"])
    assert [p["id"] for p in pending["items"]] == [asked["request_id"]]
    decided = await idp.ok(
        "POST", f"/profile-changes/{asked['request_id']}/decision", world.tokens["gha_admin"], json={"approve": True}
    )
    assert decided["version"] == 3
    history = await idp.ok("GET", "/me/profile/history", user)
    assert [(h["version"], h["change"], h["data"]["name"]) for h in history] == [
        (1, "created", "Ama Owusu"),
        (2, "changed", "Ama Owusu"),
        (3, "approved", "Ama Owusu-Mensah"),
    ]


async def test_a6r_43_an_impersonating_administrator_cannot_change_the_users_contacts(idp: Harness) -> None:
    """Contacts carry the activation code's second channel: they stay the user's own."""
    world = await make_world(idp)
    acting = await idp.ok(
        "POST", "/impersonation", world.tokens["regadmin"], json={"user_id": world.user.id, "reason": "ticket 4711"}
    )
    contacts = [{"kind": "email", "value": "ama@elsewhere.example"}, {"kind": "phone", "value": "+41790000000"}]
    refused = await idp.call("POST", "/me/profile/changes", acting["access_token"], json={"contacts": contacts})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_while_impersonating"
    assert (await idp.ok("GET", "/me", world.tokens["user"]))["profile"]["version"] == 1
    # A name change still only waits for an administrator's approval.
    asked = await idp.ok("POST", "/me/profile/changes", acting["access_token"], json={"name": "Ama Owusu-Mensah"})
    assert asked["pending"] == ["name"]


async def test_a6r_11_a_section_administrator_sees_every_request_of_the_section_page_by_page(idp: Harness) -> None:
    """Requests of people outside the section come first in the listing's order; a page must pass
    over them, not come back empty and end the listing."""
    world = await make_world(idp)
    asked = await idp.ok("POST", "/me/profile/changes", world.tokens["user"], json={"name": "Ama Owusu-Mensah"})
    async with idp.identity.engine.begin() as conn:
        for n, other in enumerate([world.root, world.regadmin] * 3):
            await conn.execute(
                text(
                    "INSERT INTO profile_change_requests (id, user_id, fields, status, requested_by, requested_at) "
                    "VALUES (:id, CAST(:u AS uuid), CAST(:f AS jsonb), 'pending', :u, now())"
                ),
                {"id": f"00000000-0000-0000-0000-{n + 1:012d}", "u": other.id, "f": json.dumps({"name": "Someone"})},
            )
    for token, expected in (("gha_admin", 1), ("regadmin", 7)):
        seen, cursor = [], None
        for _ in range(10):
            query = "?limit=1" + (f"&cursor={cursor}" if cursor else "")
            page = await idp.ok("GET", "/profile-changes" + query, world.tokens[token])
            seen += page["items"]
            cursor = page["next"]
            if cursor is None:
                break
        assert len(seen) == expected, (token, seen)
    assert [(p["id"], p["name"]) for p in seen if p["user_id"] == world.user.id] == [(asked["request_id"], "Ama Owusu")]


async def test_a6r_49_history_is_kept_and_anonymisation_leaves_the_log_intact(idp: Harness) -> None:
    world = await make_world(idp)
    async with idp.identity.engine.connect() as conn:
        with pytest.raises(DBAPIError):
            await conn.execute(text("UPDATE profile_history SET data = '{}'::jsonb"))
        await conn.rollback()
        with pytest.raises(DBAPIError):
            await conn.execute(text("DELETE FROM identity_log"))
        await conn.rollback()
        before = (await conn.execute(text("SELECT * FROM identity_log ORDER BY sequence"))).all()
    # Waiting when the person is erased: a name change, and a new activation.
    asked = await idp.ok("POST", "/me/profile/changes", world.tokens["user"], json={"name": "Ama Owusu-Mensah"})
    await idp.ok("POST", f"/users/{world.user.id}/activations", world.tokens["regadmin"], status=201)
    answer = await idp.ok(
        "POST", f"/users/{world.user.id}/anonymise", world.tokens["regadmin"], json={"reason": "GDPR art. 17"}
    )
    # Neither can be acted on afterwards: no name comes back onto the tombstone.
    decided = await idp.call(
        "POST", f"/profile-changes/{asked['request_id']}/decision", world.tokens["regadmin"], json={"approve": True}
    )
    assert decided.status_code == 409, decided.text
    link = await idp.outbound(world.user.id, "activation_link")
    assert link in ("None", ""), "outbound messages of an erased person are gone"
    async with idp.identity.engine.connect() as conn:
        open_activations = await conn.scalar(
            text(
                "SELECT count(*) FROM activations WHERE user_id = :u AND cancelled_at IS NULL AND completed_at IS NULL"
            ),
            {"u": world.user.id},
        )
    assert open_activations == 0
    assert answer["grants_revoked"] == 1
    history = await idp.ok("GET", f"/users/{world.user.id}/profile/history", world.tokens["regadmin"])
    assert {json.dumps(h["data"]) for h in history} == {'{"anonymised": true}'}
    async with idp.identity.engine.connect() as conn:
        after = (await conn.execute(text("SELECT * FROM identity_log ORDER BY sequence"))).all()
        live = (
            await conn.execute(text("SELECT name, contacts FROM profiles WHERE user_id = :u"), {"u": world.user.id})
        ).one()
    assert after[: len(before)] == before
    assert after[-1].kind == "profile.anonymised"
    assert live.name == "[anonymised]" and live.contacts == []
    assert await journal.verify_chain(idp.identity.engine) is None
    dump = json.dumps([dict(r._mapping) for r in after], default=str)
    for personal in ("Ama Owusu", "ama@gha.example", "+233201234567"):
        assert personal not in dump
    # The person is gone from identity: not findable, not able to sign in.
    gone = await idp.call("POST", "/sessions", json={"email": world.user.email, "password": world.user.password})
    assert gone.status_code == 401


async def test_a6r_15_one_person_one_user_record(idp: Harness) -> None:
    world = await make_world(idp)
    reg = world.tokens["regadmin"]
    same_mailbox = await idp.call(
        "POST",
        "/users",
        reg,
        json={
            "email": "AMA@gha.example ",
            "name": "Someone Else",
            "date_of_birth": "1990-02-02",
            "nationality": "GHA",
            "contacts": [{"kind": "email", "value": "x@y.org"}, {"kind": "phone", "value": "+233201234568"}],
        },
    )
    assert same_mailbox.status_code == 409 and same_mailbox.json()["error"]["code"] == "duplicate_user"
    same_person = await idp.call(
        "POST",
        "/users",
        reg,
        json={
            "email": "ama.private@mail.example",
            "name": "AMA  owusu",
            "date_of_birth": "1980-01-01",
            "nationality": "gha",
            "contacts": [{"kind": "email", "value": "x@y.org"}, {"kind": "phone", "value": "+233201234568"}],
        },
    )
    assert same_person.status_code == 409
    twin = await idp.new_user(reg, "twin@gha.example", "Akosua Owusu")
    passport = {
        "type": "government_id",
        "document_type": "passport",
        "issuing_country": "GHA",
        "document_number": world.user.id[:9],
    }
    dup = await idp.call(
        "POST", f"/users/{twin.id}/verifications", reg, json={"outcome": "verified", "evidence": [passport]}
    )
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "duplicate_person"
    junk = await idp.call("POST", "/users", reg, json={"email": "nope", "name": 7})
    assert junk.status_code == 422 and junk.json()["error"]["code"] == "invalid_request"


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(
            f"{record.getMessage()} {record.args!r} {getattr(record, 'fields', '')} {record.exc_text or ''}"
        )


async def test_a6r_48_logs_contain_no_secrets(idp: Harness) -> None:
    capture, root = Capture(), logging.getLogger()
    level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        root_user = await idp.bootstrap()
        signed = await idp.sign_in(root_user)
        refreshed = await idp.ok("POST", "/sessions/refresh", json={"refresh_token": signed["refresh_token"]})
        token = refreshed["access_token"]
        user = await idp.new_user(token, "kojo@gha.example", "Kojo Antwi")
        await idp.ok(
            "POST",
            f"/users/{user.id}/verifications",
            token,
            status=201,
            json={"outcome": "verified", "evidence": [{"type": "residence"}]},
        )
        await idp.ok("POST", f"/users/{user.id}/activations", token, status=201)
        link, code = await idp.outbound(user.id, "activation_link"), await idp.outbound(user.id, "activation_code")
        enrolled = await idp.enrol(User(user.id, user.email), link.split("token=")[1], code)
        wrong = await idp.call("POST", "/sessions", json={"email": enrolled.email, "password": enrolled.password + "x"})
        assert wrong.status_code == 401
    finally:
        root.removeHandler(capture)
        root.setLevel(level)
    secrets = [
        root_user.password,
        root_user.totp_secret,
        *root_user.recovery_codes,
        signed["refresh_token"],
        refreshed["refresh_token"],
        signed["access_token"],
        link.split("token=")[1],
        code,
        enrolled.password,
        enrolled.password + "x",
        enrolled.totp_secret,
    ]
    logged = "\n".join(capture.lines)
    assert len(capture.lines) > 20
    for secret in secrets:
        assert secret not in logged
    async with idp.identity.engine.connect() as conn:
        journal_text = json.dumps(
            [dict(r._mapping) for r in await conn.execute(text("SELECT * FROM identity_log"))], default=str
        )
    for secret in secrets:
        assert secret not in journal_text


async def test_a6r_48_the_log_replays_to_the_live_grants(idp: Harness) -> None:
    world = await make_world(idp)
    await idp.ok("POST", f"/grants/{world.user_grant['id']}/suspend", world.tokens["gha_admin"], json={})
    entries = [e async for e, _ in journal.entries(idp.identity.engine)]
    assert journal.replay_grants(entries) == await journal.live_grants(idp.identity.engine)
    assert await journal.verify_chain(idp.identity.engine) is None


async def test_a6r_5_a6r_11_concurrent_changes_of_one_person_wait_for_each_other(idp: Harness) -> None:
    """A double click on "new recovery codes", and two profile changes at once: each is applied in
    turn (no 500 from a collision), and the last one wins."""
    world = await make_world(idp)
    token = world.tokens["user"]
    codes = await asyncio.gather(*(idp.call("POST", "/me/credentials/recovery-codes", token) for _ in range(4)))
    assert [r.status_code for r in codes] == [200] * 4, [r.text for r in codes]
    credentials = await idp.ok("GET", f"/users/{world.user.id}/credentials", world.tokens["root"])
    assert sum(c["kind"] == "recovery_codes" and c["status"] == "active" for c in credentials) == 1
    changes = [
        {"contacts": [{"kind": "email", "value": f"ama{n}@gha.example"}, {"kind": "phone", "value": "+233201234567"}]}
        for n in range(4)
    ]
    answers = await asyncio.gather(*(idp.call("POST", "/me/profile/changes", token, json=c) for c in changes))
    assert all(r.status_code < 300 for r in answers), [r.text for r in answers]
    assert sorted(r.json()["version"] for r in answers) == [2, 3, 4, 5]
