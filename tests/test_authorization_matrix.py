"""The authorization matrix (issue 4, item 8; A6R-12, A6R-50, A6R-25 g and h): the committed table equals what the code
declares, and every role is admitted or refused by every endpoint of every running service exactly as
the table says."""

from __future__ import annotations

import contextlib
import difflib
import re
import uuid

import httpx
import pytest

from registry_platform.auth import ROLES, SYSTEM_ADMINISTRATOR
from registry_platform.matrix import MATRIX_FILE, Row, current_matrix, parse, render
from registry_platform.testing.services import serve_all
from registry_platform.testing.tokens import ACCOUNT, role_token


def test_a6r12_committed_matrix_matches_the_code() -> None:
    committed = MATRIX_FILE.read_text()
    generated = render(current_matrix())
    diff = "".join(difflib.unified_diff(committed.splitlines(True), generated.splitlines(True), "committed", "code"))
    assert not diff, f"run `python -m registry_platform.matrix --write` and commit:\n{diff}"


# The web's pages in front of identity's user and credential administration.
WEB_IDENTITY_PAGES = ("/users", "/grants/", "/registry-administrators", "/identity-log")


def test_a6r50_system_administrators_have_no_business_function() -> None:
    rows = parse(MATRIX_FILE.read_text())
    business = [
        r
        for r in rows
        if SYSTEM_ADMINISTRATOR in r.roles
        and r.service != "identity"
        and not (r.service == "web" and r.path.startswith(WEB_IDENTITY_PAGES))
    ]
    assert business == [], "system administrators may only administer users and credentials in identity"


def test_a6r12_web_pages_for_signed_in_users_say_so_in_the_matrix() -> None:
    """Only the pages before sign-in (and the operational endpoints) are public on the web."""
    web = [r for r in parse(MATRIX_FILE.read_text()) if r.service == "web"]
    public = {r.path for r in web if r.access == "public"}
    assert public == {
        "/", "/status", "/health", "/ready", "/metrics", "/static/{name}", "/activate", "/activate/enrol",
        "/sign-in", "/sign-in/second-factor", "/sign-in/webauthn-options", "/sign-out",
    }  # fmt: skip
    assert all(r.session for r in web if r.path not in public)
    assert {r.access for r in web if r.path == "/transfer"} == {
        "session: account_approver account_initiator registry_administrator section_administrator"
    }


def _path(row: Row) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(uuid.uuid4()) if m.group(1).endswith("id") else ACCOUNT, row.path)


async def _call(client: httpx.AsyncClient, base: str, row: Row, token: str | None) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    body = {} if row.method in ("POST", "PUT", "PATCH") else None
    return await client.request(row.method, f"{base}{_path(row)}", headers=headers, json=body)


# 401s the decision point gives; a service's own 401 after it (e.g. identity's unknown_user for a
# token naming no user it knows) means the policy admitted the caller.
POLICY_401 = {"not_authenticated", "invalid_token", "session_revoked", "user_suspended", "step_up_required"}


def _role_refused(response: httpx.Response) -> bool:
    if response.status_code != 403:
        return False
    error = response.json()["error"]
    return error["code"] == "not_authorized" and "required_roles" in error.get("details", {})


def _unauthenticated(response: httpx.Response) -> bool:
    return response.status_code == 401 and response.json()["error"]["code"] in POLICY_401


def _sent_to_sign_in(response: httpx.Response) -> bool:
    return response.status_code == 303 and response.headers["location"].startswith("/sign-in")


@pytest.mark.integration
async def test_a6r12_every_role_on_every_endpoint_of_every_running_service(infra, database_url, service_settings):
    rows = parse(MATRIX_FILE.read_text())
    tokens = {role: role_token(role) for role in sorted(ROLES)}
    wrong: list[str] = []
    async with contextlib.AsyncExitStack() as stack:
        urls = await serve_all(stack, infra, database_url, service_settings)
        async with httpx.AsyncClient(timeout=10) as client:
            for row in rows:
                where = f"{row.service} {row.method} {row.path}"
                anonymous = await _call(client, urls[row.service], row, None)
                if row.access == "public":
                    if anonymous.status_code in (401, 403):
                        wrong.append(f"{where}: public, but refused without a token")
                    continue
                if row.session:
                    # A web page: the browser's session decides, a bearer token opens nothing.
                    if not _sent_to_sign_in(anonymous):
                        wrong.append(f"{where}: needs a web session, but answered {anonymous.status_code} without")
                    continue
                if not _unauthenticated(anonymous):
                    wrong.append(f"{where}: answered {anonymous.status_code} without a token")
                for role, token in tokens.items():
                    response = await _call(client, urls[row.service], row, token)
                    if response.status_code >= 500:
                        wrong.append(f"{where} as {role}: {response.status_code}")
                    elif row.access == "authenticated":
                        if _unauthenticated(response) or _role_refused(response):
                            wrong.append(f"{where}: any signed-in user may call it, but {role} was refused")
                    elif role in row.roles and (_role_refused(response) or _unauthenticated(response)):
                        wrong.append(f"{where}: {role} is in the matrix but was refused")
                    elif role not in row.roles and not _role_refused(response):
                        wrong.append(f"{where}: {role} is not in the matrix but got {response.status_code}")
    assert not wrong, "\n".join(wrong)
