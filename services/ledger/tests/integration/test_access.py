"""The ledger's decision point (issue 4): withdrawn grants, ended sessions and suspended users stop
working within a second of identity's event (A6R-51, A6R-50); elevated operations need a recent second
factor; impersonation never exceeds the impersonated user's rights (A6R-43)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from registry_platform.auth import Grant, dev_signing_key, issue_token
from registry_platform.events import new_envelope
from registry_platform.settings import DEV_TOKEN_SECRET
from registry_platform.telemetry import JsonFormatter

from .conftest import ADMIN, SCOPE, LedgerClient, setup_registry

pytestmark = pytest.mark.integration
KEY = dev_signing_key(DEV_TOKEN_SECRET)


@pytest.fixture
async def identity_events(infra, topic_prefix) -> AsyncIterator[Any]:  # type: ignore[no-untyped-def]
    """Publish as identity does, on the topic every decision point follows."""
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await producer.start()

    async def publish(event_type: str, user: str, **payload: Any) -> None:
        envelope = new_envelope(type=event_type, payload=payload, key=user, producer="identity")
        await producer.send_and_wait(f"{topic_prefix}.identity.access", envelope.to_bytes(), key=user.encode())

    try:
        yield publish
    finally:
        await producer.stop()


def _now() -> str:
    return datetime.now(UTC).isoformat()


async def _until(predicate: Any, limit: float = 3.0) -> float:
    """Seconds until `predicate()` holds; fails after `limit`."""
    start = time.monotonic()
    while not await predicate():
        assert time.monotonic() - start < limit, "the decision point did not follow identity's event"
        await asyncio.sleep(0.02)
    return time.monotonic() - start


async def _status(ledger: LedgerClient, token: str, path: str) -> int:
    return (await ledger.http.get(f"{ledger.base_url}{path}", headers={"Authorization": f"Bearer {token}"})).status_code


async def test_a6r51_suspended_grant_stops_within_a_second_and_returns_on_reactivation(
    ledger: LedgerClient, identity_events: Any
) -> None:
    acc = await setup_registry(ledger)
    grant = Grant("account_viewer", section="GHA", account=acc["gha_holding"], id=str(uuid.uuid4()))
    token = issue_token(KEY, "ama", [grant], lifetime=600)
    path = f"/accounts/{acc['gha_holding']}"
    assert await _status(ledger, token, path) == 200

    change = {"grant_id": grant.id, "user_id": "ama", "role": grant.role, "account": grant.account, "section": "GHA"}
    await identity_events(
        "identity.GrantChanged", "ama", **change, status="suspended", changed_by="sa", changed_at=_now()
    )
    took = await _until(lambda: _refused(ledger, token, path))
    assert took < 1.0, f"suspension took {took:.2f}s to apply"

    await identity_events("identity.GrantChanged", "ama", **change, status="active", changed_by="sa", changed_at=_now())
    assert await _until(lambda: _allowed(ledger, token, path)) < 1.0

    await identity_events(
        "identity.GrantChanged", "ama", **change, status="revoked", changed_by="sa", changed_at=_now()
    )
    await _until(lambda: _refused(ledger, token, path))
    await asyncio.sleep(1.5)
    assert await _status(ledger, token, path) == 403, "a revoked grant does not come back"


async def _refused(ledger: LedgerClient, token: str, path: str) -> bool:
    return await _status(ledger, token, path) == 403


async def _allowed(ledger: LedgerClient, token: str, path: str) -> bool:
    return await _status(ledger, token, path) == 200


async def test_a6r5_ended_session_and_suspended_user_are_refused_at_once(
    ledger: LedgerClient, identity_events: Any
) -> None:
    await setup_registry(ledger)
    admin = [Grant("registry_administrator", id=str(uuid.uuid4()))]
    session_token = issue_token(KEY, "rada", admin, session="s-1", lifetime=600)
    other_session = issue_token(KEY, "rada", admin, session="s-2", lifetime=600)
    assert await _status(ledger, session_token, "/sections") == 200
    await identity_events(
        "identity.SessionRevoked", "rada", session_id="s-1", user_id="rada", reason="sign-out", revoked_at=_now()
    )
    await _until(lambda: _unauthenticated(ledger, session_token))
    assert await _status(ledger, other_session, "/sections") == 200, "only the ended session stops"

    await identity_events(
        "identity.UserAccessChanged", "rada", user_id="rada", status="suspended", changed_by="sys", changed_at=_now()
    )
    await _until(lambda: _unauthenticated(ledger, other_session))
    response = await ledger.http.get(
        f"{ledger.base_url}/sections", headers={"Authorization": f"Bearer {other_session}"}
    )
    assert response.json()["error"]["code"] == "user_suspended"


async def _unauthenticated(ledger: LedgerClient, token: str) -> bool:
    return await _status(ledger, token, "/sections") == 401


async def test_step_up_elevated_operation_without_recent_mfa_gets_401_with_a_hint(ledger: LedgerClient) -> None:
    acc = await setup_registry(ledger)
    stale = issue_token(KEY, "rada", [Grant("registry_administrator")], auth_time=int(time.time()) - 600)
    command = {
        "kind": "issue_units",
        "account": acc["issuance"],
        "scope": SCOPE,
        "quantity": 5,
        "first_transferring_party": "GHA",
    }
    refused = await ledger.http.put(
        f"{ledger.base_url}/transactions/{uuid.uuid4()}", json=command, headers={"Authorization": f"Bearer {stale}"}
    )
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "step_up_required"
    assert 'error="insufficient_user_authentication"' in refused.headers["www-authenticate"]
    # A plain transfer is not elevated: the same stale token may read and act.
    assert await _status(ledger, stale, "/sections") == 200
    fresh = issue_token(KEY, "rada", [Grant("registry_administrator")])
    accepted = await ledger.http.put(
        f"{ledger.base_url}/transactions/{uuid.uuid4()}", json=command, headers={"Authorization": f"Bearer {fresh}"}
    )
    assert accepted.status_code == 201, accepted.text


async def test_a6r43_impersonation_cannot_exceed_the_impersonated_users_rights(ledger: LedgerClient) -> None:
    acc = await setup_registry(ledger)
    # Identity mints an impersonation token with the user's grants only, never the administrator's.
    viewer = [Grant("account_viewer", section="GHA", account=acc["gha_holding"])]
    token = issue_token(KEY, "ama", viewer, actor="rada")
    command = {
        "kind": "transfer_units",
        "source": acc["gha_holding"],
        "destination": acc["issuance"],
        "units": {"selection": {"quantity": 1}},
    }
    response = await ledger.http.put(
        f"{ledger.base_url}/transactions/{uuid.uuid4()}", json=command, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 403
    assert await _status(ledger, token, f"/accounts/{acc['issuance']}") == 404, "sees only the user's accounts"


async def test_a6r25_a6r43_every_read_is_logged_with_who_made_it_and_who_acted_for_them(
    ledger: LedgerClient,
) -> None:
    """Reads leave no journal entry: each is logged with the user it was made for, the registry
    administrator acting on their behalf if any, what was read, and whether the caller's roles
    admitted it (A6R-25 j: non-modifying access is tracked and logged; A6R-43: impersonation is
    logged with both identities)."""
    acc = await setup_registry(ledger)
    viewer = [Grant("account_viewer", section="GHA", account=acc["gha_holding"])]
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    access_log = logging.getLogger("registry.access")
    access_log.addHandler(handler)
    try:
        impersonated = {"Authorization": f"Bearer {ledger.token('ama', viewer, actor='rada')}"}
        blocks = f"{ledger.base_url}/accounts/{acc['gha_holding']}/blocks"
        read = await ledger.http.get(blocks, params={"limit": 5}, headers=impersonated)
        assert read.status_code == 200, read.text
        no_roles = {"Authorization": f"Bearer {ledger.token('kofi', [])}"}
        refused = await ledger.http.get(f"{ledger.base_url}/accounts", headers=no_roles)
        assert refused.status_code == 403, refused.text
        await ledger.propose({"kind": "create_section", "party": "KEN", "name": "Kenya"})
        # A preview changes nothing: logged as a read, though it is a POST.
        preview = {
            "source": acc["issuance"],
            "destination": acc["gha_holding"],
            "units": {"selection": {"quantity": 1}},
        }
        admin = {"Authorization": f"Bearer {ledger.token('admin', ADMIN)}"}
        await ledger.http.post(f"{ledger.base_url}/transfers/preview", json=preview, headers=admin)
    finally:
        access_log.removeHandler(handler)
    logged = [r.fields for r in records]  # type: ignore[attr-defined]
    # As the log line reads: the service that served it, and the caller's own.
    line = json.loads(JsonFormatter("ledger").format(records[0]))
    assert (line["service"], line["subject"], line["actor"]) == ("ledger", "ama", "rada"), line
    assert logged == [
        {
            "outcome": "admitted",
            "subject": "ama",
            "actor": "rada",
            "caller_service": None,
            "method": "GET",
            "path": f"/accounts/{acc['gha_holding']}/blocks",
            "query": "limit=5",
        },
        {
            "outcome": "refused",
            "subject": "kofi",
            "actor": None,
            "caller_service": None,
            "method": "GET",
            "path": "/accounts",
            "query": "",
        },
        {
            "outcome": "admitted",
            "subject": "admin",
            "actor": None,
            "caller_service": None,
            "method": "POST",
            "path": "/transfers/preview",
            "query": "",
        },
    ], "reads only: a write is journaled with both identities instead"
