"""Descriptors in transactions, end to end through the real ledger, rules and descriptors services
(issue 6; A6R-45): units without an authorization in force cannot leave their Party's section;
once authorized they can, and their first international transfer gets a first-transfer marker."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from descriptors.bootstrap import build_definition as descriptors_definition
from descriptors.service_layer.service import Clock, utc_now
from descriptors.settings import DescriptorsSettings
from ledger.bootstrap import DEFINITION as LEDGER
from ledger.settings import LedgerSettings
from registry_platform.auth import Grant, dev_signing_key, issue_token
from registry_platform.service import create_app
from registry_platform.settings import DEV_TOKEN_SECRET
from registry_platform.testing.infra import serve_app
from rules.bootstrap import DEFINITION as RULES
from rules.settings import RulesSettings

pytestmark = pytest.mark.integration
KEY = dev_signing_key(DEV_TOKEN_SECRET)
ADMIN = [Grant("registry_administrator")]
GHA_ADMIN = [Grant("section_administrator", section="GHA")]
SCOPE = {
    "originating_registry": "CHE01",
    "issuing_party": "GHA",
    "activity_id": "GH-COOK-001",
    "vintage": 2024,
    "metric": "tCO2e",
}


def three_days_ago() -> datetime:
    """Authorizations are issued three days back, so that they are in force now (A6R-45's window)."""
    return datetime.now(UTC) - timedelta(days=3)


def _headers(grants: list[Grant]) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(KEY, 'user', grants)}"}


async def _ready(http: httpx.AsyncClient, url: str) -> None:
    for _ in range(400):
        if (await http.get(f"{url}/ready")).status_code == 200:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{url} did not become ready")


@contextlib.asynccontextmanager
async def three_services(
    service_settings: Any, clock: Clock = three_days_ago, **descriptors: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=30))
        urls: dict[str, str] = {}
        ledger_settings = service_settings("ledger", LedgerSettings)
        urls["ledger"] = await stack.enter_async_context(serve_app(create_app(LEDGER, ledger_settings)))
        app = create_app(
            descriptors_definition(clock=clock),
            service_settings("descriptors", DescriptorsSettings, ledger_url=urls["ledger"], **descriptors),
        )
        urls["descriptors"] = await stack.enter_async_context(serve_app(app))
        rules_settings = service_settings("rules", RulesSettings, descriptors_url=urls["descriptors"])
        urls["rules"] = await stack.enter_async_context(serve_app(create_app(RULES, rules_settings)))
        for url in urls.values():
            await _ready(http, url)
        yield http, urls


async def _ledger(http: httpx.AsyncClient, url: str, command: dict[str, Any]) -> httpx.Response:
    return await http.put(f"{url}/transactions/{uuid.uuid4()}", json=command, headers=_headers(ADMIN))


async def _ok(http: httpx.AsyncClient, url: str, command: dict[str, Any]) -> dict[str, Any]:
    response = await _ledger(http, url, command)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def _open_registry(http: httpx.AsyncClient, urls: dict[str, str]) -> dict[str, str]:
    """Sections, approach and accounts, 1000 units issued and 500 of them moved to a GHA holding
    account, and the rule that units leave their Party only with an authorization in force."""
    ledger = urls["ledger"]
    for party, name in (("GHA", "Ghana"), ("CHE", "Switzerland")):
        await _ok(http, ledger, {"kind": "create_section", "party": party, "name": name})
    approach = {"kind": "create_cooperative_approach", "id": "CA0001", "name": "GHA-CHE", "parties": ["CHE", "GHA"]}
    await _ok(http, ledger, approach)
    acc = {}
    for key, section, type_ in (
        ("issuance", "GHA", "issuance"),
        ("gha", "GHA", "holding"),
        ("che", "CHE", "holding"),
    ):
        opened = await _ok(
            http,
            ledger,
            {
                "kind": "open_account",
                "holder": key,
                "section": section,
                "type": type_,
                "cooperative_approach": "CA0001",
            },
        )
        acc[key] = opened["account"]
        change = {"kind": "change_account_status", "account": acc[key], "status": "active", "reason": "t"}
        await _ok(http, ledger, change)
    issue = {
        "kind": "issue_units",
        "account": acc["issuance"],
        "scope": SCOPE,
        "quantity": 1000,
        "cooperative_approach": "CA0001",
        "first_transferring_party": "GHA",
    }
    await _ok(http, ledger, issue)
    home = {"kind": "transfer_units", "source": acc["issuance"], "destination": acc["gha"]}
    await _ok(http, ledger, {**home, "units": {"ranges": [{"scope": SCOPE, "first": 1, "last": 500}]}})

    rules = urls["rules"]
    assert (await http.post(f"{rules}/packs/article6-basic", headers=_headers(ADMIN))).status_code in (200, 201)
    binding = {"rule": "authorized-units-leave-their-party", "target_type": "registry", "target": "*", "params": {}}
    bound = await http.post(f"{rules}/bindings", json=binding, headers=_headers(ADMIN))
    assert bound.status_code in (200, 201), bound.text
    return acc


def _abroad(acc: dict[str, str]) -> dict[str, Any]:
    return {
        "kind": "transfer_units",
        "source": acc["gha"],
        "destination": acc["che"],
        "units": {"ranges": [{"scope": SCOPE, "first": 1, "last": 100}]},
    }


async def _authorize(http: httpx.AsyncClient, urls: dict[str, str]) -> httpx.Response:
    authorization = {
        "issuing_party": "GHA",
        "cooperative_approach": "CA0001",
        "dedication": "ndc",
        "units": [{"scope": SCOPE, "first": 1, "last": 500}],
    }
    deadline = time.monotonic() + 20
    while True:  # the descriptors service learns of the issuance from the ledger's events
        issued = await http.put(
            f"{urls['descriptors']}/authorizations/{uuid.uuid4()}", json=authorization, headers=_headers(GHA_ADMIN)
        )
        if issued.status_code != 409 or time.monotonic() > deadline:
            return issued
        await asyncio.sleep(0.2)


async def test_a6r45_unauthorized_units_stay_home_authorized_ones_leave_and_are_marked(service_settings) -> None:
    async with three_services(service_settings) as (http, urls):
        ledger = urls["ledger"]
        acc = await _open_registry(http, urls)
        refused = await _ledger(http, ledger, _abroad(acc))
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "units_not_authorized"

        issued = await _authorize(http, urls)
        assert issued.status_code == 201, issued.text

        moved = await _ledger(http, ledger, _abroad(acc))
        assert moved.status_code == 201, moved.text

        markers: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while not markers and time.monotonic() < deadline:
            page = await http.get(
                f"{urls['descriptors']}/descriptors", params={"kind": "first_transfer"}, headers=_headers(ADMIN)
            )
            markers = page.json()["items"]
            await asyncio.sleep(0.3)
        assert markers, "the first international transfer got its first-transfer marker"
        (marker,) = markers
        assert marker["document"]["first_transfer"]["transaction_id"] == moved.json()["transaction_id"]


async def test_a6r45_a_transfer_that_needs_an_authorization_is_refused_before_it_applies_and_accepted_after(
    service_settings,
) -> None:
    """The same authorization, with a window of seconds (the rules ask for the descriptors in force
    at the ledger's real proposal instant, which a test cannot move past a midnight)."""
    window = {"default": {"min_delay_hours": 20 / 3600, "next_day": False, "align_to_midnight": False}}
    async with three_services(service_settings, utc_now, applicability=window) as (http, urls):
        acc = await _open_registry(http, urls)
        issued = await _authorize(http, urls)
        assert issued.status_code == 201, issued.text
        applies = datetime.fromisoformat(issued.json()["applicable_from"])

        refused = await _ledger(http, urls["ledger"], _abroad(acc))
        assert datetime.now(UTC) < applies, "proposed before the authorization applies"
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "units_not_authorized"

        await asyncio.sleep((applies - datetime.now(UTC)).total_seconds() + 0.5)
        moved = await _ledger(http, urls["ledger"], _abroad(acc))
        assert moved.status_code == 201, moved.text
