"""The public status board names the services and when each was last seen; their versions, which
would tell anyone which releases (and so which known flaws) to try, only administrators see."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from registry_platform.auth import REGISTRY_ADMINISTRATOR, SECTION_USER, SYSTEM_ADMINISTRATOR
from web.bootstrap import create_app
from web.settings import WebSettings

from .conftest import MemoryStore, signed_in_browser

VERSIONS = ("4.2.1-ledger", "7.0.3-identity")


class Reporting:
    async def call(self, service: str, method: str, path: str, **_: Any) -> Any:
        assert (service, method, path) == ("reporting", "GET", "/services")
        return [
            {"service": "ledger", "version": VERSIONS[0], "last_seen_at": "2026-11-28T10:00:00+00:00"},
            {"service": "identity", "version": VERSIONS[1], "last_seen_at": "2026-11-28T10:00:01+00:00"},
        ]


async def _anonymous(path: str) -> httpx.Response:
    app = create_app()
    app.state.runtime.state["web"] = SimpleNamespace(
        settings=WebSettings(service_name="web", mode="test"), sessions=MemoryStore(), backends=Reporting()
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        return await http.get(path)


@pytest.mark.parametrize("path", ["/", "/status"])
async def test_anonymous_visitors_see_the_services_but_not_their_versions(path: str) -> None:
    page = await _anonymous(path)
    assert page.status_code == 200
    assert "ledger" in page.text and "identity" in page.text
    assert not any(v in page.text for v in VERSIONS)
    assert ">Version<" not in page.text


async def test_a_signed_in_user_who_administers_nothing_sees_no_versions() -> None:
    async with signed_in_browser(Reporting(), SECTION_USER) as (http, _):
        page = await http.get("/status")
    assert page.status_code == 200 and "ledger" in page.text
    assert not any(v in page.text for v in VERSIONS)


@pytest.mark.parametrize("role", [REGISTRY_ADMINISTRATOR, SYSTEM_ADMINISTRATOR])
async def test_administrators_see_each_services_version(role: str) -> None:
    async with signed_in_browser(Reporting(), role) as (http, _):
        page = await http.get("/status")
    assert page.status_code == 200
    assert ">Version<" in page.text and all(v in page.text for v in VERSIONS)
