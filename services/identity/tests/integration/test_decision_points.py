"""Issue 4 end to end: a grant suspended, reactivated or revoked in the identity service reaches
another service's decision point within a second (A6R-51). The real identity service publishes on
the real broker; a real ledger follows identity.access and answers over HTTP."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from ledger.bootstrap import DEFINITION as LEDGER
from ledger.settings import LedgerSettings
from registry_platform.auth import Grant, dev_signing_key, issue_token
from registry_platform.service import create_app
from registry_platform.settings import DEV_TOKEN_SECRET
from registry_platform.testing.infra import serve_app, wait_ready

from .conftest import Harness, make_world

pytestmark = pytest.mark.integration


async def _seconds_until(predicate: Callable[[], Awaitable[bool]], limit: float = 5.0) -> float:
    start = time.monotonic()
    while not await predicate():
        assert time.monotonic() - start < limit, "the ledger did not follow identity's change"
        await asyncio.sleep(0.02)
    return time.monotonic() - start


async def _open_account(http: httpx.AsyncClient, ledger: str) -> str:
    admin = issue_token(dev_signing_key(DEV_TOKEN_SECRET), "ledger-admin", [Grant("registry_administrator")])
    headers = {"Authorization": f"Bearer {admin}"}

    async def propose(command: dict[str, Any]) -> dict[str, Any]:
        answer = await http.put(f"{ledger}/transactions/{uuid.uuid4()}", json=command, headers=headers)
        assert answer.status_code == 201, answer.text
        return answer.json()  # type: ignore[no-any-return]

    await propose({"kind": "create_section", "party": "GHA", "name": "Ghana"})
    account = (await propose({"kind": "open_account", "holder": "Ama Owusu", "section": "GHA", "type": "holding"}))[
        "account"
    ]
    await propose({"kind": "change_account_status", "account": account, "status": "active", "reason": "opened"})
    return str(account)


async def test_a6r51_a_grant_changed_in_identity_applies_in_the_ledger_within_a_second(
    idp: Harness, service_settings: Any
) -> None:
    world = await make_world(idp)
    settings = service_settings("ledger", LedgerSettings, rules_verdicts=False)
    async with serve_app(create_app(LEDGER, settings)) as ledger, httpx.AsyncClient(timeout=10) as http:
        await wait_ready(ledger)
        account = await _open_account(http, ledger)
        gha = world.tokens["gha_admin"]
        # A holder's viewer who holds nothing else (the world's user also holds a section role).
        viewer = await idp.onboard(world.tokens["regadmin"], "kofi@gha.example", "Kofi Boateng")
        grant = await idp.grant(gha, viewer, "account_viewer", section="GHA", account=account)
        token = await idp.token(viewer)

        async def status() -> int:
            answer = await http.get(f"{ledger}/accounts/{account}", headers={"Authorization": f"Bearer {token}"})
            return answer.status_code

        async def refused() -> bool:
            return await status() == 403

        async def allowed() -> bool:
            return await status() == 200

        assert await status() == 200
        await idp.ok("POST", f"/grants/{grant['id']}/suspend", gha, json={"reason": "on leave"})
        took = await _seconds_until(refused)
        assert took < 1.0, f"the suspension took {took:.2f} s to reach the ledger"

        await idp.ok("POST", f"/grants/{grant['id']}/reactivate", gha, json={})
        took = await _seconds_until(allowed)
        assert took < 1.0, f"the reactivation took {took:.2f} s to reach the ledger"

        await idp.ok("POST", f"/grants/{grant['id']}/revoke", gha, json={"reason": "left the ministry"})
        took = await _seconds_until(refused)
        assert took < 1.0, f"the revocation took {took:.2f} s to reach the ledger"
        await asyncio.sleep(1.5)
        assert await status() == 403, "a revoked grant does not come back, even in a token issued before"
