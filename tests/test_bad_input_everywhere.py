"""Bad input on every endpoint of every running service gets a 4xx with a machine-readable code,
never a 500 (issue 3 item 10, A6R-47; the developers' guide's rule for every service).

Each operation of each service's OpenAPI document is called by a role the authorization matrix
admits, so the request gets past the decision point to the input handling, with hostile values: in
each path parameter, in each query parameter, and as bodies (not JSON, JSON of the wrong shape, and
the operation's own schema filled with hostile values). Each protected operation is also called
with authorization headers that name no valid token, which must get a 401 with its code. The second
test does the same for the web's pages and forms, the third for the pages that ask identity about
the signed-in user, as a real user signed in through the web."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import pyotp
import pytest
from hypothesis import strategies as st

from identity.entrypoints.cli import bootstrap_admin
from identity.settings import IdentitySettings
from registry_platform.auth import REGISTRY_ADMINISTRATOR, Grant, dev_signing_key, issue_token
from registry_platform.db import create_engine
from registry_platform.matrix import MATRIX_FILE, Row, parse
from registry_platform.roles import url_for_service
from registry_platform.settings import DEV_TOKEN_SECRET
from registry_platform.testing.services import serve_all
from registry_platform.testing.tokens import ACCOUNT, SECTION, role_token
from registry_platform.text_guard import MAX_BODY_BYTES
from web.adapters.sessions import SessionStore
from web.entrypoints.security import cookie_name

# Percent-encoded as they go into a URL: a NUL, bytes that are not UTF-8, a very long value,
# numbers beyond 64 bits, a quote and a path separator, impossible dates (and ones outside the
# calendar once in UTC).
HOSTILE_URL_VALUES = (
    "%00",
    "a%00b",
    "%FF%FE",
    "x" * 3000,
    "-1",
    "99999999999999999999999999",
    "1e400",
    "%27%20OR%201%3D1%20--",
    "..%2F..",
    "2026-13-45T99:99:99",
    "0001-01-01T00:00:00%2B14:00",
    "9999-12-31T23:59:59-10:00",
    "%F0%9F%92%A9",
)
HOSTILE_STRINGS = (
    "\u0000",
    "a\u0000b",
    "\ud800",
    "x" * 3000,
    "\ud7ff\U0001f4a9",
    "' OR 1=1 --",
    "",
    "[" * 2000 + "]" * 2000,  # JSON nested past the decoder's recursion limit, where a field holds JSON
)
HOSTILE_INTEGERS = (2**63, -(2**63) - 1, 10**30, -1, 0)
# Authorization headers that name no valid token (a token cut short is added per call).
HOSTILE_AUTHORIZATIONS = (
    "Bearer",
    "Bearer x",
    "Bearer a.b.c",
    "Bearer " + "a" * 8000,
    "Basic dXNlcjpwYXNz",
    "bearer%00",
    "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
)
JSON = {"content-type": "application/json"}
HOSTILE_RAW_BODIES = (
    b"{",
    b"not json",
    b"\xff\xfe",
    b"[]",
    b"null",
    b"1",
    b'"s"',
    b'{"a": ' * 200 + b"1" + b"}" * 200,
    b"[" * 100_000 + b'"\\u0041"' + b"]" * 100_000,
)


def _admitted_role(row: Row) -> str:
    roles = sorted(row.roles)
    return roles[0] if roles and REGISTRY_ADMINISTRATOR not in roles else REGISTRY_ADMINISTRATOR


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _plausible_string(schema: dict[str, Any]) -> str:
    """A string the schema accepts, so that the hostile value in another field is what is judged."""
    if "pattern" in schema:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return st.from_regex(schema["pattern"], fullmatch=True).example()
    formats = {"uuid": str(uuid.uuid4()), "date-time": "2026-01-01T00:00:00Z", "date": "2026-01-01", "email": "a@b.org"}
    return formats.get(schema.get("format", ""), ACCOUNT)


def _variants(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> Iterator[Any]:
    """A value the schema accepts first, then that value with one string or integer in it hostile."""
    schema = _resolve(schema, components)
    branches = schema.get("oneOf") or schema.get("anyOf")
    if branches:
        for branch in branches:
            if _resolve(branch, components).get("type") != "null":
                yield from itertools.islice(_variants(branch, components, depth + 1), 60)
        return
    if "const" in schema or "enum" in schema:
        yield schema.get("const", schema.get("enum", [None])[0])
        return
    kind = schema.get("type")
    if kind == "string":
        yield _plausible_string(schema)
        yield from HOSTILE_STRINGS
    elif kind == "integer":
        yield max(schema.get("minimum", 1), schema.get("exclusiveMinimum", 0) + 1)
        yield from HOSTILE_INTEGERS
    elif kind == "number":
        yield from (1.0, 1e308, -1.5)
    elif kind == "boolean":
        yield True
    elif kind == "array" and depth < 6:
        items = _variants(schema.get("items", {}), components, depth + 1)
        yield [next(items, None)]
        yield from ([value] for value in items)
        yield []
    elif (kind == "object" or "properties" in schema) and depth < 6:
        properties = {name: _variants(sub, components, depth + 1) for name, sub in schema.get("properties", {}).items()}
        plausible = {name: next(values, None) for name, values in properties.items()}
        yield plausible
        for name, values in properties.items():
            yield from ({**plausible, name: value} for value in values)
    else:
        yield None


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield method.upper(), path, operation


def _requests(path: str, operation: dict[str, Any], components: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Keyword arguments for httpx's request: one hostile value at a time."""
    parameters = [_resolve(p, components) for p in operation.get("parameters", [])]
    names = [p["name"] for p in parameters if p["in"] == "path"]

    def url(hostile: dict[str, str]) -> str:
        filled = path
        for name in names:
            default = str(uuid.uuid4()) if name.endswith("id") else ACCOUNT
            filled = filled.replace("{" + name + "}", hostile.get(name, default))
        return filled

    for name in names:
        for value in HOSTILE_URL_VALUES:
            yield {"url": url({name: value})}
    for parameter in (p for p in parameters if p["in"] == "query"):
        for value in (*HOSTILE_URL_VALUES, ""):
            yield {"url": f"{url({})}?{parameter['name']}={value}"}
        yield {"url": f"{url({})}?{parameter['name']}=1&{parameter['name']}=2"}
    body = operation.get("requestBody")
    if body is None:
        return
    content = body.get("content", {})
    for raw in HOSTILE_RAW_BODIES:
        yield {"url": url({}), "content": raw, "headers": {"content-type": next(iter(content), "application/json")}}
    if "application/json" in content:
        for value in itertools.islice(_variants(content["application/json"].get("schema", {}), components), 1000):
            # Encoded here, escaping everything beyond ASCII: httpx cannot encode a lone surrogate.
            yield {"url": url({}), "content": json.dumps(value).encode(), "headers": JSON}
    elif "application/x-www-form-urlencoded" in content:
        schema = _resolve(content["application/x-www-form-urlencoded"].get("schema", {}), components)
        for name in schema.get("properties", {}):
            for value in HOSTILE_URL_VALUES:
                yield {
                    "url": url({}),
                    "content": f"{name}={value}".encode(),
                    "headers": {"content-type": "application/x-www-form-urlencoded"},
                }


def _wrong(response: httpx.Response) -> str | None:
    if response.status_code >= 500:
        return f"{response.status_code}: {response.text[:300]}"
    if response.status_code >= 400 and response.headers.get("content-type", "").startswith("application/json"):
        error = response.json().get("error") if isinstance(response.json(), dict) else None
        if not (isinstance(error, dict) and error.get("code") and error.get("message")):
            return f"{response.status_code} without an error code and message: {response.text[:300]}"
    return None


async def _a_refused_command_changes_nothing(client: httpx.AsyncClient, ledger: str) -> None:
    """A NUL in a command's free text is refused with its code before the writer sees it."""
    admin = {"authorization": f"Bearer {role_token(REGISTRY_ADMINISTRATOR)}"}
    journal = f"{ledger}/journal?limit=1000"
    before = (await client.get(journal, headers=admin)).json()
    command = {"kind": "create_section", "party": "GHA", "name": "Gh\u0000ana"}
    refused = await client.put(f"{ledger}/transactions/{uuid.uuid4()}", headers=admin, json=command)
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "invalid_character"), refused.text
    assert (await client.get(journal, headers=admin)).json() == before
    command["name"] = "Ghana"
    accepted = await client.put(f"{ledger}/transactions/{uuid.uuid4()}", headers=admin, json=command)
    assert accepted.status_code == 201, accepted.text
    assert (await client.get(journal, headers=admin)).json() != before


@pytest.mark.integration
async def _oversized_bodies_are_refused(
    client: httpx.AsyncClient, base: str, document: dict[str, Any], wrong: list[str]
) -> int:
    """A body over the limit is refused before it is read whole and before anyone is asked who the
    caller is, both when its length is declared and when it is streamed in chunks of unknown total."""
    posts = [path for method, path, _ in _operations(document) if method == "POST"] or ["/health"]
    url = base + re.sub(r"\{\w+\}", lambda m: str(uuid.uuid4()), posts[0])
    chunk = b'{"a": "' + b"x" * 65_536

    async def streamed() -> AsyncIterator[bytes]:
        for _ in range(MAX_BODY_BYTES // len(chunk) + 1):
            yield chunk

    for content in (chunk * (MAX_BODY_BYTES // len(chunk) + 1), streamed()):
        response = await client.post(url, content=content, headers={"content-type": "application/json"})
        if response.status_code != 413 or response.json()["error"]["code"] != "request_too_large":
            wrong.append(f"POST {url} with an oversized body: {response.status_code} {response.text[:120]}")
    return 2


async def test_a6r47_hostile_input_on_every_endpoint_gets_a_4xx_with_a_code(infra, database_url, service_settings):
    rows = {(r.service, r.method, r.path): r for r in parse(MATRIX_FILE.read_text())}
    wrong: list[str] = []
    calls = 0
    async with contextlib.AsyncExitStack() as stack:
        urls = await serve_all(stack, infra, database_url, service_settings)
        async with httpx.AsyncClient(timeout=30) as client:
            for service, base in sorted(urls.items()):
                document = (await client.get(f"{base}/openapi.json")).json()
                components = document.get("components", {}).get("schemas", {})
                for method, path, operation in _operations(document):
                    row = rows.get((service, method, path))
                    if row is None or row.session:
                        continue
                    token = role_token(_admitted_role(row))
                    headers = {} if row.access == "public" else {"authorization": f"Bearer {token}"}
                    for authorization in () if row.access == "public" else (*HOSTILE_AUTHORIZATIONS, token[:-4]):
                        url = re.sub(r"\{\w+\}", lambda m: str(uuid.uuid4()), path)
                        hostile = {"authorization": authorization}
                        response = await client.request(method, f"{base}{url}", headers=hostile)
                        calls += 1
                        if response.status_code != 401 or _wrong(response):
                            wrong.append(f"{service} {method} {path} as {authorization[:40]!r}: {response.status_code}")
                    for request in _requests(path, operation, components):
                        url = request.pop("url")
                        request_headers = headers | request.pop("headers", {})
                        response = await client.request(method, f"{base}{url}", headers=request_headers, **request)
                        calls += 1
                        problem = _wrong(response)
                        if problem:
                            wrong.append(f"{service} {method} {url[:80]} {str(request)[:80]}: {problem[:120]}")
                calls += await _oversized_bodies_are_refused(client, base, document, wrong)
            await _a_refused_command_changes_nothing(client, urls["ledger"])
    assert calls > 1000
    assert not wrong, f"{len(wrong)} of {calls} calls:\n" + "\n".join(wrong[:60])


# The web's pages read their query parameters themselves: these are the names they read, besides
# those their own links and filter forms carry.
WEB_QUERY_NAMES = (
    "after",
    "cursor",
    "sort",
    "section",
    "account",
    "status",
    "type",
    "kind",
    "role",
    "at",
    "day",
    "next",
)
# The web's own operational endpoints: no input, and the first test calls them.
OPERATIONAL = {"/health", "/ready", "/metrics", "/static/{name}"}
SENT_TO_SIGN_IN = {
    # The pages that ask identity about the signed-in user: the made-up session's subject is no user
    # of identity's, so they end it. The third test reaches them with a real sign-in.
    "GET /security",
    "POST /security/keys",
    "POST /security/keys/options",
    "POST /security/keys/{credential_id}/removal",
    "POST /security/password",
    "POST /security/recovery-codes",
    "GET /profile",
    "POST /profile",
    "POST /step-up",
    "POST /step-up/webauthn-options",
    # Signing out, and the second factor of a sign-in that was never started.
    "POST /sign-out",
    "GET /sign-in/second-factor",
    "POST /sign-in/second-factor",
}
# Values a page could put into the path of its own call to a service: a query, a fragment, a dot segment.
# How many callers crawl the web's pages at once.
CRAWLERS = 4
BENDING_SEGMENTS = ("x%3Flimit%3D1", "x%23top", "..", ".", "x%5C..")
HOSTILE_FORM_VALUES = ("", "x" * 5000, "-1", "0", "99999999999999999999999999", "1e400", "NaN", "' OR 1=1 --", "\u202e")


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class PageReader(HTMLParser):
    """The forms a page offers (their fields with their default values) and the links it holds."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("action", ""), a.get("method", "get").lower()))
        elif tag in ("input", "select", "textarea") and self.forms and a.get("name"):
            self.forms[-1].fields.setdefault(a["name"], a.get("value", ""))
        elif tag == "option" and self.forms and self.forms[-1].fields and "value" in a:
            last = list(self.forms[-1].fields)[-1]
            self.forms[-1].fields[last] = self.forms[-1].fields[last] or a["value"]
        elif tag == "a" and a.get("href", "").startswith(("/", "?")):
            self.links.append(a["href"])


def _read(html: str) -> PageReader:
    reader = PageReader()
    reader.feed(html)
    return reader


def _matches(template: str, path: str) -> bool:
    return re.fullmatch(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template)), path) is not None


async def _web_session(database_url: str, grants: list[Grant]) -> tuple[str, str]:
    """A signed-in web session written straight into the web's store: its cookie value and CSRF token."""
    token = issue_token(dev_signing_key(DEV_TOKEN_SECRET), str(uuid.uuid4()), grants, lifetime=3600)
    engine = create_engine(url_for_service(database_url, "web"), "web", pool_size=1)
    try:
        store = SessionStore(engine, idle_seconds=3600, absolute_seconds=3600)
        now = time.time()
        auth = {
            "access": token,
            "expires_at": now + 3600,
            "minted_at": now,
            "sub": str(uuid.uuid4()),
            "act": None,
            "grants": [g.claim() for g in grants],
            "auth_time": int(now),
            "amr": ["pwd", "otp"],
        }
        session = store.new({"auth": auth, "me": {"email": "fuzz@example.org"}})
        await store.save(session)
    finally:
        await engine.dispose()
    return session.id, session.csrf


@pytest.mark.integration
async def test_a6r47_hostile_input_on_every_web_page_and_form_never_gets_a_500(
    infra, database_url, service_settings
) -> None:
    """The web's pages (those before sign-in too), as a signed-in user whose grants open every page:
    every query parameter a page reads or links to, and every field of every form it offers, one
    hostile value at a time."""
    rows = [
        r
        for r in parse(MATRIX_FILE.read_text())
        if r.service == "web" and r.path not in OPERATIONAL and (r.session or r.access == "public")
    ]
    grants = [
        Grant(REGISTRY_ADMINISTRATOR, id=str(uuid.uuid4())),
        Grant("section_administrator", section=SECTION, id=str(uuid.uuid4())),
        Grant("account_initiator", section=SECTION, account=ACCOUNT, id=str(uuid.uuid4())),
    ]
    wrong: list[str] = []
    calls = 0
    async with contextlib.AsyncExitStack() as stack:
        urls = await serve_all(stack, infra, database_url, service_settings, web={"grants_refresh_seconds": 3600})
        # Several callers at once, each with a session of its own (a page that ends its session
        # ends no other caller's): the services are separate processes, so both cores work.
        sessions: asyncio.Queue[list[str]] = asyncio.Queue()
        for _ in range(CRAWLERS):
            sessions.put_nowait(list(await _web_session(database_url, grants)))
        unreached: set[str] = set()
        # No cookie the web sets is kept: each request carries only its caller's session.
        jar = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
        async with httpx.AsyncClient(base_url=urls["web"], timeout=60, cookies=jar) as client:

            async def call(method: str, url: str, **kwargs: Any) -> httpx.Response:
                nonlocal calls
                session = await sessions.get()
                try:
                    calls += 1
                    headers = {"cookie": f"{cookie_name(False)}={session[0]}", **kwargs.pop("headers", {})}
                    if "csrf_token" in kwargs.get("data", {}):
                        kwargs["data"] = {**kwargs["data"], "csrf_token": session[1]}
                    response = await client.request(method, url, headers=headers, **kwargs)
                    if response.status_code >= 500:
                        wrong.append(f"{method} {url[:100]} {str(kwargs)[:100]}: {response.status_code}")
                    if response.status_code == 303 and response.headers["location"].startswith("/sign-in"):
                        # Pages that ask identity about the user themselves end the made-up session.
                        unreached.add(f"{method} {urlsplit(url).path}")
                        session[:] = await _web_session(database_url, grants)
                    return response
                finally:
                    sessions.put_nowait(session)

            async def all_of(*requests: tuple[str, str, dict[str, Any]]) -> None:
                await asyncio.gather(*(call(method, url, **kw) for method, url, kw in requests))

            forms: list[Form] = []
            for row in (r for r in rows if r.method == "GET"):
                path = re.sub(
                    r"\{(\w+)\}", lambda m: str(uuid.uuid4()) if m.group(1).endswith("id") else ACCOUNT, row.path
                )
                page = await call("GET", path)
                reader = _read(page.text)
                forms.extend(reader.forms)
                names = set(WEB_QUERY_NAMES)
                names |= {n for f in reader.forms if f.method == "get" for n in f.fields}
                names |= {n for link in reader.links for n, _ in parse_qsl(urlsplit(link).query)}
                await all_of(
                    *(
                        ("GET", re.sub(r"\{\w+\}", value, row.path), {})
                        for value in ((*HOSTILE_URL_VALUES, *BENDING_SEGMENTS) if "{" in row.path else ())
                    ),
                    *(("GET", f"{path}?{name}={value}", {}) for name in sorted(names) for value in HOSTILE_URL_VALUES),
                )
            posted = [f for f in forms if f.method == "post"]
            for row in (r for r in rows if r.method == "POST"):
                path = re.sub(
                    r"\{(\w+)\}", lambda m: str(uuid.uuid4()) if m.group(1).endswith("id") else ACCOUNT, row.path
                )
                fields: dict[str, str] = {}
                for form in posted:
                    if _matches(row.path, urlsplit(form.action).path):
                        fields |= form.fields
                # The caller's own CSRF token goes in at the call.
                base = {**fields, "csrf_token": ""}
                await all_of(
                    *(
                        ("POST", re.sub(r"\{\w+\}", value, row.path), {"data": base})
                        for value in ((*HOSTILE_URL_VALUES, *BENDING_SEGMENTS) if "{" in row.path else ())
                    ),
                    ("POST", path, {"data": base}),
                    ("POST", path, {"content": b"not a form", "headers": {"content-type": "application/json"}}),
                    *(
                        ("POST", path, {"data": {**base, name: value}})
                        for name in fields
                        if name != "csrf_token"
                        for value in HOSTILE_FORM_VALUES
                    ),
                )
    assert calls > 1000
    # Every other page was reached as a signed-in user.
    allowed = [entry.split(" ", 1) for entry in SENT_TO_SIGN_IN]
    stray = [
        f"{method} {path}"
        for method, path in (u.split(" ", 1) for u in unreached)
        if not any(method == m and _matches(template, path) for m, template in allowed)
    ]
    assert not stray, sorted(stray)
    assert not wrong, f"{len(wrong)} of {calls} calls:\n" + "\n".join(wrong[:60])


# The pages the made-up session cannot reach, with what a real sign-in reaches them by.
ASKING_IDENTITY = {
    "GET /security": "/security",
    "GET /step-up": "/step-up",
    "GET /security/password": "/security/password",
    "GET /profile": "/profile",
    "POST /security/keys/options": "/security/keys/options",
    "POST /security/keys": "/security/keys",
    "POST /security/keys/{credential_id}/removal": f"/security/keys/{uuid.uuid4()}/removal",
    "POST /security/password": "/security/password",
    "POST /security/recovery-codes": "/security/recovery-codes",
    "POST /profile": "/profile",
    "POST /step-up/webauthn-options": "/step-up/webauthn-options",
    "POST /step-up": "/step-up",
}


async def _enrolled_administrator(identity: str, settings: Any) -> tuple[str, str, list[str]]:
    """The first system administrator, activated at identity with a password and an authenticator:
    their email, password and recovery codes."""
    made = await bootstrap_admin(settings, email="root@registry.example", name="Root Operator")
    token = parse_qs(urlsplit(made["link"]).query)["token"][0]
    password = "violet-harbour-fuzz-tractor"
    async with httpx.AsyncClient(base_url=identity, timeout=30) as client:
        started = (await client.post("/activation", json={"token": token, "code": made["code"]})).json()
        body = {
            "enrolment_token": started["enrolment_token"],
            "password": password,
            "totp_code": pyotp.TOTP(started["totp_secret"]).now(),
        }
        done = await client.post("/activation/complete", json=body)
        assert done.status_code == 200, done.text
    return "root@registry.example", password, done.json()["recovery_codes"]


def _csrf_of(html: str) -> str:
    return next(f.fields["csrf_token"] for f in _read(html).forms if "csrf_token" in f.fields)


@pytest.mark.integration
async def test_a6r47_hostile_input_on_the_pages_that_ask_identity_never_gets_a_500(
    infra, database_url, service_settings
) -> None:
    """The pages that ask identity about the signed-in user (sign-in methods, security keys,
    step-up) and the second factor of a sign-in, as a real user signed in through the web: each
    field of each of their forms, one hostile value at a time. None may answer with a 5xx, and
    hostile input must not end the session."""
    wrong: list[str] = []
    calls = 0
    # Hostile codes are failed second factors: no throttling or lockout in this test.
    lenient = {
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8192,
        "client_free_failures": 10**6,
        "account_lock_threshold": 10**6,
        "mfa_failures_per_session": 10**6,
    }
    async with contextlib.AsyncExitStack() as stack:
        urls = await serve_all(stack, infra, database_url, service_settings, identity=lenient)
        identity_settings = service_settings(
            "identity", IdentitySettings, database_url=url_for_service(database_url, "identity"), **lenient
        )
        email, password, recovery_codes = await _enrolled_administrator(urls["identity"], identity_settings)
        async with httpx.AsyncClient(base_url=urls["web"], timeout=30) as client:

            async def call(method: str, url: str, **kwargs: Any) -> httpx.Response:
                nonlocal calls
                calls += 1
                response = await client.request(method, url, **kwargs)
                if response.status_code >= 500:
                    wrong.append(f"{method} {url[:100]} {str(kwargs)[:100]}: {response.status_code}")
                return response

            async def password_step() -> str:
                csrf = _csrf_of((await call("GET", "/sign-in")).text)
                answer = await call("POST", "/sign-in", data={"email": email, "password": password, "csrf_token": csrf})
                assert answer.headers.get("location") == "/sign-in/second-factor", answer.text
                page = await call("GET", "/sign-in/second-factor")
                assert page.status_code == 200, page.text
                return _csrf_of(page.text)

            csrf = await password_step()
            for method in ("totp", "recovery_code", "webauthn", "x"):
                for value in HOSTILE_FORM_VALUES:
                    field_name = "credential" if method == "webauthn" else "code"
                    data = {"method": method, field_name: value, "csrf_token": csrf}
                    if (await call("POST", "/sign-in/second-factor", data=data)).status_code == 303:
                        csrf = await password_step()  # the sign-in step ended: start it again
            data = {"method": "recovery_code", "code": recovery_codes[0], "csrf_token": csrf}
            signed_in = await call("POST", "/sign-in/second-factor", data=data)
            assert signed_in.status_code == 303 and not signed_in.headers["location"].startswith("/sign-in")

            forms: list[Form] = []
            for page, path in ((p, u) for p, u in ASKING_IDENTITY.items() if p.startswith("GET ")):
                answer = await call("GET", path)
                assert answer.status_code == 200, f"{page}: {answer.status_code} {answer.headers}"
                forms.extend(_read(answer.text).forms)
            csrf = _csrf_of(answer.text)
            # Filled in, so that one hostile field at a time reaches identity: a wrong current password,
            # a password identity's policy refuses.
            weak = {"current_password": password, "new_password": "short", "new_password_again": "short"}
            filled = {"/security/password": weak}
            removal = "/security/keys/{}/removal"
            for value in (*HOSTILE_URL_VALUES, *BENDING_SEGMENTS):
                answer = await call("POST", removal.format(value), data={"csrf_token": csrf})
                assert not answer.headers.get("location", "").startswith("/sign-in"), value
            for page, path in ((p, u) for p, u in ASKING_IDENTITY.items() if p.startswith("POST ")):
                # Each form posting here on its own (step-up offers a code, a recovery code and a key).
                offered = [f.fields for f in forms if f.method == "post" and urlsplit(f.action).path == path]
                for fields in offered or [{}]:
                    base = {**fields, **filled.get(path, {}), "csrf_token": csrf}
                    names = [name for name in fields if name != "csrf_token"]
                    hostile = [{**base, name: value} for name in names for value in HOSTILE_FORM_VALUES]
                    for data in (base, *hostile):
                        answer = await call("POST", path, data=data, headers={"x-csrf-token": csrf})
                        # Still signed in: a refused code or key answer is shown, the session goes on.
                        assert not answer.headers.get("location", "").startswith("/sign-in"), (page, data)
            assert (await call("GET", "/security")).status_code == 200
            signed_out = await call("POST", "/sign-out", data={"csrf_token": csrf})
            assert signed_out.headers["location"].startswith("/sign-in")
    assert calls > 100
    assert not wrong, f"{len(wrong)} of {calls} calls:\n" + "\n".join(wrong[:60])
