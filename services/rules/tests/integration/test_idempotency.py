"""Client retries of the configuration changes that create records: a rule version, a binding
(A6R-38, A6R-39), made once per Idempotency-Key, also when the repeats race."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
import psycopg
import pytest

from .conftest import CAP, RulesClient, add_rule

pytestmark = pytest.mark.integration

BINDING = {"rule": "cap", "target_type": "registry", "target": "*", "params": {"max_quantity": 10}}


async def _journal_kinds(rules: RulesClient) -> list[str]:
    return [e["kind"] for e in (await rules.ok("GET", "/journal"))["items"]]


async def test_a6r39_a_retried_rule_version_is_saved_once(rules: RulesClient) -> None:
    """A client that retries POST /rules/{name}/versions after a timeout (the first having been
    saved) gets the first answer again, not a second version of the rule (A6R-39)."""
    key = str(uuid.uuid4())
    first = await rules.call("POST", "/rules/cap/versions", CAP, key=key)
    assert first.status_code == 201, first.text
    rules.clock.advance(timedelta(minutes=5))
    # The same request as the client sends it again: its fields in another order.
    again = await rules.call("POST", "/rules/cap/versions", dict(reversed(CAP.items())), key=key)
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert [v["version"] for v in (await rules.ok("GET", "/rules/cap"))["versions"]] == [1]

    other = await rules.call("POST", "/rules/cap/versions", {**CAP, "description": "another text"}, key=key)
    assert (other.status_code, other.json()["error"]["code"]) == (409, "idempotency_key_reused")
    assert key in other.json()["error"]["message"]
    # The key names a request for this rule: the same body for another rule is another request.
    elsewhere = await rules.call("POST", "/rules/cap-two/versions", CAP, key=key)
    assert (elsewhere.status_code, elsewhere.json()["error"]["code"]) == (409, "idempotency_key_reused")
    assert (await rules.call("GET", "/rules/cap-two")).status_code == 404
    assert await _journal_kinds(rules) == ["rule_version_added"]

    second = await add_rule(rules, "cap", **CAP)
    assert second["version"] == 2


async def test_a6r38_a_retried_binding_is_made_once(rules: RulesClient) -> None:
    """A retried POST /bindings with its Idempotency-Key answers with the binding made first (same
    id), and makes no second one; the key with another body is refused (A6R-38)."""
    key = "binding-cap-registry-1"
    # Refused (no such rule yet): the key stays unused, and the repeat is judged again.
    refused = await rules.call("POST", "/bindings", BINDING, key=key)
    assert (refused.status_code, refused.json()["error"]["code"]) == (404, "unknown_rule")
    await add_rule(rules, "cap", **CAP)

    first = await rules.call("POST", "/bindings", BINDING, key=key)
    assert first.status_code == 201, first.text
    again = await rules.call("POST", "/bindings", BINDING, key=key)
    assert (again.status_code, again.json()["id"], again.json()) == (201, first.json()["id"], first.json())
    other = await rules.call("POST", "/bindings", {**BINDING, "params": {"max_quantity": 20}}, key=key)
    assert (other.status_code, other.json()["error"]["code"]) == (409, "idempotency_key_reused")
    assert [b["id"] for b in await rules.ok("GET", "/bindings")] == [first.json()["id"]]

    # Keys are each caller's own: another administrator's request with the same key is its own.
    theirs = await rules.call("POST", "/bindings", BINDING, key=key, subject="another-admin")
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]
    # Without a key, every request makes a binding.
    plain = await rules.call("POST", "/bindings", BINDING)
    assert plain.status_code == 201 and "Idempotent-Replayed" not in plain.headers
    assert len(await rules.ok("GET", "/bindings")) == 3
    assert await _journal_kinds(rules) == ["rule_version_added", *["binding_added"] * 3]


async def test_a6r39_a_key_past_its_retention_is_free_again(rules: RulesClient, database_url: str) -> None:
    """A key holds for the retention (7 days by default): within it, another request with the key is
    refused; after it, that request makes a new record, and the expired keys, whoever's, are
    deleted by the next claim."""
    key = str(uuid.uuid4())
    first = await rules.call("POST", "/rules/cap/versions", CAP, key=key)
    assert first.status_code == 201, first.text
    theirs = await rules.call("POST", "/bindings", BINDING, key="theirs", subject="another-admin")
    assert theirs.status_code == 201, theirs.text
    changed = {**CAP, "description": "another text"}

    rules.clock.advance(timedelta(days=7))
    held = await rules.call("POST", "/rules/cap/versions", changed, key=key)
    assert (held.status_code, held.json()["error"]["code"]) == (409, "idempotency_key_reused")

    rules.clock.advance(timedelta(seconds=1))
    late = await rules.call("POST", "/rules/cap/versions", changed, key=key)
    assert (late.status_code, late.json()["version"]) == (201, 2), late.text
    assert "Idempotent-Replayed" not in late.headers
    # The key now names the new request.
    again = await rules.call("POST", "/rules/cap/versions", changed, key=key)
    assert (again.status_code, again.json(), again.headers["Idempotent-Replayed"]) == (201, late.json(), "true")
    old = await rules.call("POST", "/rules/cap/versions", CAP, key=key)
    assert (old.status_code, old.json()["error"]["code"]) == (409, "idempotency_key_reused")
    assert [v["version"] for v in (await rules.ok("GET", "/rules/cap"))["versions"]] == [1, 2]

    async with await psycopg.AsyncConnection.connect(database_url.replace("+psycopg", ""), autocommit=True) as db:
        kept = await (await db.execute("SELECT caller, key FROM rules.idempotency_keys")).fetchall()
    assert kept == [("admin", key)]


async def test_a6r38_a_malformed_idempotency_key_is_refused(rules: RulesClient) -> None:
    """A key the registry would not compare byte for byte (a space, over 255 characters) is refused
    before anything is saved (A6R-38)."""
    for key in ("two words", "k" * 256, ""):
        response = await rules.call("POST", "/rules/cap/versions", CAP, key=key)
        assert (response.status_code, response.json()["error"]["code"]) == (422, "invalid_request"), key
    assert (await rules.call("GET", "/rules/cap")).status_code == 404


@pytest.mark.parametrize("what", ["version", "binding"])
async def test_a6r38_a6r39_two_racing_repeats_make_one_record(rules: RulesClient, database_url: str, what: str) -> None:
    """Two identical requests with one key, both in flight at once, make one rule version or one
    binding, and both get its answer (A6R-38, A6R-39). The configuration journal's lock is held
    here until both requests are inside the database, so they overlap for certain."""
    if what == "binding":
        await add_rule(rules, "cap", **CAP)
    path, body = ("/rules/cap/versions", CAP) if what == "version" else ("/bindings", BINDING)
    before = await _journal_kinds(rules)
    key = str(uuid.uuid4())
    async with await psycopg.AsyncConnection.connect(database_url.replace("+psycopg", ""), autocommit=True) as db:
        await db.execute("SELECT pg_advisory_lock(hashtextextended('rules-configuration', 0))")
        racing = [asyncio.create_task(rules.call("POST", path, body, key=key)) for _ in range(2)]
        await _both_waiting(db, racing)
        await db.execute("SELECT pg_advisory_unlock(hashtextextended('rules-configuration', 0))")
        answers: list[httpx.Response] = await asyncio.gather(*racing)

    assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
    assert answers[0].json() == answers[1].json()
    assert sorted(a.headers.get("Idempotent-Replayed", "") for a in answers) == ["", "true"]
    if what == "version":
        assert [v["version"] for v in (await rules.ok("GET", "/rules/cap"))["versions"]] == [1]
    else:
        assert [b["id"] for b in await rules.ok("GET", "/bindings")] == [answers[0].json()["id"]]
    assert len(await _journal_kinds(rules)) == len(before) + 1


async def _both_waiting(db: psycopg.AsyncConnection[Any], racing: list[asyncio.Task[httpx.Response]]) -> None:
    """Wait until two of the service's transactions wait on a lock (the journal's, or the key's)."""
    for _ in range(400):
        assert not any(t.done() for t in racing), [t.result().text for t in racing if t.done()]
        waiting = await (
            await db.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
        ).fetchone()
        if waiting is not None and waiting[0] >= 2:
            return
        await asyncio.sleep(0.025)
    raise AssertionError("the two requests never both reached the database")
