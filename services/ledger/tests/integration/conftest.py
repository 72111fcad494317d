"""A running ledger (real HTTP, real PostgreSQL, real broker) and clients with verified tokens."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.bootstrap import DEFINITION
from ledger.settings import LedgerSettings
from registry_platform.auth import Grant, dev_signing_key, issue_token
from registry_platform.service import create_app
from registry_platform.settings import DEV_TOKEN_SECRET
from registry_platform.testing.infra import free_port, serve_app, spawn_service, wait_ready
from registry_platform.testing.tokens import gateway_token

ADMIN = [Grant("registry_administrator")]
SERVICE = [Grant("registry_service")]
# The interop gateway, with a token its own key signed (the shared key would not do, A6R-54).
AS_GATEWAY: dict[str, Any] = {"as_gateway": True}
GHA_ADMIN = [Grant("section_administrator", section="GHA")]


class LedgerClient:
    def __init__(self, http: httpx.AsyncClient, base_url: str) -> None:
        self.http = http
        self.base_url = base_url

    def token(self, subject: str, grants: list[Grant], actor: str | None = None) -> str:
        return issue_token(dev_signing_key(DEV_TOKEN_SECRET), subject, grants, actor=actor, lifetime=3600)

    async def propose(
        self,
        command: dict[str, Any],
        *,
        grants: list[Grant] = ADMIN,
        subject: str = "admin",
        tx: uuid.UUID | None = None,
        actor: str | None = None,
        as_gateway: bool = False,
    ) -> httpx.Response:
        tx = tx or uuid.uuid4()
        token = gateway_token() if as_gateway else self.token(subject, grants, actor)
        headers = {"Authorization": f"Bearer {token}"}
        return await self.http.put(f"{self.base_url}/transactions/{tx}", json=command, headers=headers)

    async def ok(self, command: dict[str, Any], **kw: Any) -> dict[str, Any]:
        response = await self.propose(command, **kw)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    async def get(self, path: str, *, grants: list[Grant] = ADMIN, subject: str = "admin", **params: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token(subject, grants)}"}
        response = await self.http.get(f"{self.base_url}{path}", headers=headers, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    async def balance(self, account: str) -> int:
        return int((await self.get(f"/accounts/{account}"))["balance"])


@contextlib.asynccontextmanager
async def running_ledger(service_settings, **overrides: object) -> AsyncIterator[LedgerClient]:  # type: ignore[no-untyped-def]
    """The ledger alone, ready: the saga with the rules service is tested in test_saga.py."""
    settings = service_settings("ledger", LedgerSettings, checkpoint_every=50, rules_verdicts=False, **overrides)
    async with serve_app(create_app(DEFINITION, settings)) as url, httpx.AsyncClient(timeout=30) as http:
        client = LedgerClient(http, url)
        for _ in range(200):
            if (await http.get(f"{url}/ready")).status_code == 200:
                break
            await asyncio.sleep(0.05)
        yield client


def ledger_process_env(settings: LedgerSettings, database_url: str) -> dict[str, str]:
    """The environment of a ledger started as its own OS process (the saga's rules service is off)."""
    return {
        "REGISTRY_DATABASE_URL": database_url,
        "REGISTRY_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "REGISTRY_TOPIC_PREFIX": settings.topic_prefix,
        "REGISTRY_MODE": "test",
        "REGISTRY_RULES_VERDICTS": "false",
    }


@contextlib.asynccontextmanager
async def ledger_process(service_settings, database_url: str, run_dir: Path) -> AsyncIterator[LedgerClient]:  # type: ignore[no-untyped-def]
    """The ledger as its own OS process, ready, and a client: the test's load then has a core of its own."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = spawn_service("ledger", port, ledger_process_env(service_settings("ledger"), database_url), run_dir)
    try:
        await wait_ready(base, timeout=60)
        async with httpx.AsyncClient(timeout=30) as http:
            yield LedgerClient(http, base)
    finally:
        proc.stop()


@pytest.fixture
async def ledger(service_settings) -> AsyncIterator[LedgerClient]:  # type: ignore[no-untyped-def]
    async with running_ledger(service_settings) as client:
        yield client


SCOPE = {"originating_registry": "CHE01", "issuing_party": "GHA", "activity_id": "GH-COOK-001", "vintage": 2024}


async def setup_registry(ledger: LedgerClient) -> dict[str, str]:
    """Two sections, an approach, and the usual accounts, all active."""
    await ledger.ok({"kind": "create_section", "party": "GHA", "name": "Ghana"})
    await ledger.ok({"kind": "create_section", "party": "CHE", "name": "Switzerland"})
    await ledger.ok(
        {"kind": "create_cooperative_approach", "id": "CA0001", "name": "GHA-CHE", "parties": ["CHE", "GHA"]}
    )
    accounts = {}
    for name, section, type_ in [
        ("issuance", "GHA", "issuance"),
        ("gha_holding", "GHA", "holding"),
        ("che_holding", "CHE", "holding"),
        ("che_use", "CHE", "use_ndc"),
        ("proxy", None, "proxy"),
        ("admin_cancel", None, "administrative_cancellation"),
        ("admin_hold", None, "administrative_holding"),
    ]:
        opened = await ledger.ok({"kind": "open_account", "holder": name, "section": section, "type": type_})
        accounts[name] = opened["account"]
        await ledger.ok(
            {
                "kind": "change_account_status",
                "account": opened["account"],
                "status": "active",
                "reason": "opened for tests",
            }
        )
    return accounts


async def issue(ledger: LedgerClient, account: str, quantity: int) -> dict[str, Any]:
    """Issue `quantity` units of SCOPE, first transferred by GHA, into `account`."""
    return await ledger.ok(
        {
            "kind": "issue_units",
            "account": account,
            "scope": SCOPE,
            "quantity": quantity,
            "first_transferring_party": "GHA",
        }
    )


def transfer(source: str, destination: str, quantity: int) -> dict[str, Any]:
    """A transfer of `quantity` units chosen by the registry (A6R-52)."""
    return {
        "kind": "transfer_units",
        "source": source,
        "destination": destination,
        "units": {"selection": {"quantity": quantity}},
    }


def section_status(party: str, status: str) -> dict[str, Any]:
    return {"kind": "change_section_status", "party": party, "status": status, "reason": "audit of its accounts"}
