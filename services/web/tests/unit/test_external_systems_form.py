"""The external systems page (A6R-8): the registration form, what it asks for and identity's
request; ending a throttled system's wait."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from registry_platform.auth import REGISTRY_ADMINISTRATOR
from web.adapters.backends import Backends
from web.domain.external_systems import registration_body, registration_problems

from .conftest import signed_in_browser

JWK = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
FORM = {
    "name": "Ghana national registry",
    "public_jwk": json.dumps(JWK),
    "assessor": "Registry security office",
    "assessment_date": "2026-11-20",
    "level": "medium",
    "mitigations": "mutual TLS; IP allow-list ;",
    "scope_section": "gha",
}


def test_a6r8_a_complete_form_becomes_identitys_request() -> None:
    assert registration_problems(FORM) == {}
    assert registration_body(FORM) == {
        "name": "Ghana national registry",
        "public_jwk": JWK,
        "risk_assessment": {
            "assessor": "Registry security office",
            "date": "2026-11-20",
            "level": "medium",
            "mitigations": ["mutual TLS", "IP allow-list"],
        },
        "scopes": [{"section": "GHA", "account": None, "cooperative_approach": None}],
    }


def test_a6r8_each_missing_or_unreadable_part_is_named_at_its_field() -> None:
    problems = registration_problems({"public_jwk": "[1, 2]", "level": "extreme"})
    assert set(problems) == {"name", "public_jwk", "assessor", "assessment_date", "level", "scope_section"}
    assert "JSON object" in problems["public_jwk"]
    assert "JSON object" in registration_problems({**FORM, "public_jwk": "{not json"})["public_jwk"]


THROTTLED, CALM = "7a0d3c52-0000-4000-8000-000000000001", "7a0d3c52-0000-4000-8000-000000000002"
RISK_ASSESSMENT = {"assessor": "Registry security office", "date": "2026-11-20", "level": "medium"}


class Identity:
    """Identity's external systems, one of them waiting after failed token requests."""

    def __init__(self) -> None:
        self.changes: list[str] = []

    async def call(self, service: str, method: str, path: str, **_: Any) -> Any:
        if method == "POST":
            self.changes.append(path)
            return {}
        return [
            {"client_id": client, "name": name, "risk_assessment": RISK_ASSESSMENT, "status": "active",
             "registered_at": "2026-11-20T09:00:00+00:00", "throttled_until": until}
            for client, name, until in [(THROTTLED, "GHA registry", "2026-11-28T10:00:00+00:00"),
                                        (CALM, "CHE registry", None)]
        ]  # fmt: skip


async def test_a6r8_a_throttled_system_has_a_button_that_ends_its_wait() -> None:
    identity = Identity()
    async with signed_in_browser(identity, REGISTRY_ADMINISTRATOR) as (http, session):
        page = await http.get("/external-systems")
        ended = await http.post(f"/external-systems/{THROTTLED}/unthrottle", data={"csrf_token": session.csrf})
        unknown = await http.post("/external-systems/not-an-id/unthrottle", data={"csrf_token": session.csrf})
    assert re.findall(r'action="/external-systems/([^"]+)"', page.text) == [
        f"{THROTTLED}/unthrottle",
        f"{THROTTLED}/disable",
        f"{CALM}/disable",
    ]
    assert "waits until" in page.text
    assert ended.status_code == 303 and ended.headers["location"] == "/external-systems"
    assert unknown.status_code == 404
    assert identity.changes == [f"/external-systems/{THROTTLED}/unthrottle"]


@pytest.mark.parametrize("jwk", ['{"x": NaN}', '{"x": Infinity}', '{"x": 1e999}', '{"x": "\\ud800"}'])
async def test_a6r8_a_key_json_cannot_carry_is_refused_at_its_field(jwk: str) -> None:
    """Before, the form took it and encoding identity's request failed: a 500."""
    sent: list[httpx.Request] = []

    def identity(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json=[])

    backends = Backends({"identity": "http://identity"}, httpx.AsyncClient(transport=httpx.MockTransport(identity)))
    async with signed_in_browser(backends, REGISTRY_ADMINISTRATOR) as (http, session):
        answer = await http.post("/external-systems", data={**FORM, "public_jwk": jwk, "csrf_token": session.csrf})
    await backends.client.aclose()
    assert answer.status_code == 400
    assert "The key is not a JSON object" in answer.text
    assert [(r.method, r.url.path) for r in sent] == [("GET", "/external-systems")]
