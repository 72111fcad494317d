"""Bad input gets a 4xx with a machine-readable code, never a 500."""

from __future__ import annotations

from .conftest import Harness


async def test_bad_input_is_refused_with_a_code(idp: Harness) -> None:
    root = await idp.bootstrap()
    token = await idp.token(root)
    first = await idp.ok("POST", "/sessions", json={"email": root.email, "password": root.password})
    jwt_form = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    }
    cases = [
        ("POST", "/oauth/token", None, {"data": {**jwt_form, "client_assertion": "a.b.c"}}),
        ("POST", "/oauth/token", None, {"data": {**jwt_form, "client_assertion": "x", "client_id": "'; drop"}}),
        ("POST", "/oauth/token", None, {"content": b"\xff\xfe"}),
        # An assertion whose payload is JSON but no object, and a NUL in a body that is not a form.
        ("POST", "/oauth/token", None, {"data": {**jwt_form, "client_assertion": "x.W10.y"}}),
        ("POST", "/oauth/token", None, {"data": {**jwt_form, "client_assertion": "x.bnVsbA.y"}}),
        ("POST", "/oauth/token", None, {"content": b"client_id=%00", "headers": {"content-type": "text/plain"}}),
        (
            "POST",
            "/sessions/mfa",
            None,
            {"json": {"challenge_id": first["challenge_id"], "method": "webauthn", "credential": {"rawId": "!!"}}},
        ),
        ("POST", "/sessions/mfa", None, {"json": {"challenge_id": "x", "method": "sms", "code": "1"}}),
        ("POST", "/sessions/webauthn-options", None, {"json": {"challenge_id": first["challenge_id"]}}),
        ("POST", "/activation", None, {"json": {"token": "x" * 40, "code": "1"}}),
        ("POST", "/activation/complete", None, {"json": {"enrolment_token": "x", "password": "p", "totp_code": "1"}}),
        ("POST", "/sessions/refresh", None, {"json": {"refresh_token": "nope"}}),
        ("POST", "/me/credentials/webauthn", token, {"json": {"credential": {"id": 1}}}),
        ("POST", "/external-systems", token, {"json": {"name": "x"}}),
        ("GET", "/users/not-a-uuid", token, {}),
        ("POST", "/grants", token, {"json": {"user_id": root.id, "role": "bogus"}}),
        (
            "POST",
            "/grants",
            token,
            {"json": {"user_id": "00000000-0000-0000-0000-000000000000", "role": "registry_administrator"}},
        ),
        ("POST", "/grants/00000000-0000-0000-0000-000000000000/suspend", token, {"json": {}}),
        ("GET", "/log", token, {"params": {"cursor": -1}}),
        ("GET", "/log", token, {"params": {"cursor": 10**20}}),
        ("GET", "/log/credentials", token, {"params": {"cursor": 10**20}}),
        ("GET", f"/external-systems/{root.id}/calls", token, {"params": {"cursor": 10**20}}),
        ("PUT", f"/users/{root.id}/access", token, {"json": {"status": "suspended", "reason": "self"}}),
        (
            "POST",
            "/users/00000000-0000-0000-0000-000000000001/verifications",
            token,
            {"json": {"outcome": "verified", "evidence": [{"type": "government_id", "document_number": "X1"}]}},
        ),
        (
            "POST",
            "/users",
            token,
            {
                "json": {
                    "email": "a@b.org",
                    "name": "A B",
                    "date_of_birth": "1990-01-01",
                    "nationality": "GHA",
                    "contacts": [{"kind": "fax", "value": "123"}] * 2,
                }
            },
        ),
    ]
    for method, path, bearer, kw in cases:
        response = await idp.call(method, path, bearer, **kw)
        assert 400 <= response.status_code < 500, (path, response.status_code, response.text)
        assert response.json()["error"]["code"], path
