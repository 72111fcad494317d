"""External systems (A6R-8): registered with a risk assessment, private_key_jwt client credentials
(RFC 7523), narrowly scoped, every call logged."""

from __future__ import annotations

import uuid
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey
from sqlalchemy import text

from registry_platform.auth import ISSUER

from .conftest import Harness, claims, make_world

RISK = {"assessor": "IT security, UNFCCC", "date": "2026-02-01", "level": "medium", "mitigations": ["IP allow-list"]}


def assertion(key: ECKey, client: str, now: float, **overrides: Any) -> str:
    now = int(now)
    body = {"iss": client, "sub": client, "aud": ISSUER, "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())}
    body.update(overrides)
    return jwt.encode({"alg": "ES256"}, body, key)


def form(token: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": token,
    }


async def test_a6r_8_external_system_authenticates_with_private_key_jwt(idp: Harness) -> None:
    world = await make_world(idp)
    reg = world.tokens["regadmin"]
    key = ECKey.generate_key("P-256")
    private = key.as_dict(private=True)
    refused = await idp.call(
        "POST",
        "/external-systems",
        reg,
        json={
            "name": "GHA national registry",
            "public_jwk": private,
            "risk_assessment": RISK,
            "scopes": [{"section": "GHA"}],
        },
    )
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "private_key_sent"
    risky = await idp.call(
        "POST",
        "/external-systems",
        reg,
        json={
            "name": "x",
            "public_jwk": key.as_dict(private=False),
            "risk_assessment": {**RISK, "level": "high", "mitigations": []},
            "scopes": [{"section": "GHA"}],
        },
    )
    assert risky.status_code == 422
    system = await idp.ok(
        "POST",
        "/external-systems",
        reg,
        status=201,
        json={
            "name": "GHA national registry",
            "public_jwk": key.as_dict(private=False),
            "risk_assessment": RISK,
            "scopes": [{"section": "GHA"}],
        },
    )
    client = system["client_id"]

    signed = assertion(key, client, idp.clock().timestamp())
    answer = await idp.ok("POST", "/oauth/token", data=form(signed))
    token = claims(answer["access_token"])
    assert token["sub"] == client and token["amr"] == ["pop"]
    assert [(g["role"], g.get("section")) for g in token["grants"]] == [("external_system", "GHA")]

    replay = await idp.call("POST", "/oauth/token", data=form(signed))
    assert replay.status_code == 401 and "already used" in replay.json()["error"]["message"]
    wrong_aud = await idp.call(
        "POST", "/oauth/token", data=form(assertion(key, client, idp.clock().timestamp(), aud="https://elsewhere"))
    )
    assert wrong_aud.status_code == 401
    other_key = ECKey.generate_key("P-256")
    forged = await idp.call("POST", "/oauth/token", data=form(assertion(other_key, client, idp.clock().timestamp())))
    assert forged.status_code == 401
    too_long = await idp.call(
        "POST",
        "/oauth/token",
        data=form(assertion(key, client, idp.clock().timestamp(), exp=int(idp.clock().timestamp()) + 3600)),
    )
    assert too_long.status_code == 401
    password_grant = await idp.call("POST", "/oauth/token", data={"grant_type": "password"})
    assert password_grant.status_code == 400 and password_grant.json()["error"]["code"] == "unsupported_grant_type"

    calls = await idp.ok("GET", f"/external-systems/{client}/calls", reg)
    assert [c["outcome"] for c in calls["items"]] == ["token_issued"] + ["invalid_client"] * 4
    await idp.ok("POST", f"/external-systems/{client}/disable", reg)
    disabled = await idp.call("POST", "/oauth/token", data=form(assertion(key, client, idp.clock().timestamp())))
    assert disabled.status_code == 401


async def test_a6r_8_failed_token_requests_are_logged_for_registered_clients_only(idp: Harness) -> None:
    """POST /oauth/token is public: made-up client ids must not each add a row to the call log."""
    key = ECKey.generate_key("P-256")
    for client in [str(uuid.uuid4()), "x" * 200, "unknown"]:
        refused = await idp.call(
            "POST", "/oauth/token", data={**form(assertion(key, client, idp.clock().timestamp())), "client_id": client}
        )
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_client"
    async with idp.identity.read() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM external_calls")) == 0


async def test_a6r_8_a_client_assertion_expiring_in_the_far_future_is_a_401(idp: Harness) -> None:
    world = await make_world(idp)
    key = ECKey.generate_key("P-256")
    system = await idp.ok(
        "POST",
        "/external-systems",
        world.tokens["regadmin"],
        status=201,
        json={
            "name": "CHE registry",
            "public_jwk": key.as_dict(private=False),
            "risk_assessment": RISK,
            "scopes": [{"section": "CHE"}],
        },
    )
    for exp in (1e300, 10**400, float("nan")):
        signed = assertion(key, system["client_id"], idp.clock().timestamp(), exp=exp)
        refused = await idp.call("POST", "/oauth/token", data=form(signed))
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_client", (exp, refused.text)
