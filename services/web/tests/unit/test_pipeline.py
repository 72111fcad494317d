"""The pipeline every web route runs in: session cookie, the routes' `session` policies, CSRF on
every unsafe request, security headers, and the answers to interruptions (sign in, step-up, a
refusal nobody expected)."""

from __future__ import annotations

import re
import time
from types import SimpleNamespace

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute

from registry_platform.auth import SYSTEM_ADMINISTRATOR
from registry_platform.authz import session
from registry_platform.errors import install_error_handlers
from registry_platform.matrix import Row, rows_for
from web.adapters.backends import ServiceError
from web.bootstrap import create_app
from web.entrypoints.page import Page, safe_next
from web.entrypoints.pipeline import PageRoute
from web.entrypoints.security import csrf_cookie_token
from web.service_layer.errors import StepUpRequired
from web.settings import WebSettings

from .conftest import MemoryStore

KEY = WebSettings(service_name="web", mode="test").csrf_key


def make_app() -> tuple[FastAPI, MemoryStore]:
    store = MemoryStore()
    router = APIRouter(route_class=PageRoute)

    @router.get("/form")
    async def form(request: Request) -> HTMLResponse:
        page = Page.of(request)
        return HTMLResponse(page.ensure_session().csrf)

    @router.post("/form")
    async def submit(request: Request) -> HTMLResponse:
        return HTMLResponse("done")

    @router.post("/start")
    async def start(request: Request) -> HTMLResponse:
        Page.of(request).ensure_session().set("sign_in", "under way")
        return HTMLResponse("started")

    @router.get("/private")
    async def private(request: Request) -> HTMLResponse:
        Page.of(request).user_session()
        return HTMLResponse("secret")

    @router.post("/elevated")
    async def elevated(request: Request) -> HTMLResponse:
        Page.of(request).user_session()
        raise StepUpRequired("Prove it again.")

    @router.get("/board")
    async def board(request: Request) -> HTMLResponse:
        instances = [{"service": "identity", "version": "0.1.0", "last_seen_at": "2026-01-01T00:00:00+00:00"}]
        return Page.of(request).render("status.html", title="Service status", instances=instances)

    @router.get("/sign-in-page")
    async def sign_in_page(request: Request) -> HTMLResponse:
        return Page.of(request).render("sign_in.html", title="Sign in", values={}, errors={})

    @router.get("/refused")
    async def refused(request: Request) -> HTMLResponse:
        raise ServiceError(404, "unknown_account", "There is no account X you may see.", {}, "ledger")

    @router.get("/busy")
    async def busy(request: Request) -> HTMLResponse:
        raise ServiceError(503, "database_timeout", "The registry's database took too long.", {}, "ledger")

    app = FastAPI()
    app.include_router(router)
    settings = WebSettings(service_name="web", mode="test")
    ctx = SimpleNamespace(settings=settings, sessions=store)
    app.state.runtime = SimpleNamespace(state={"web": ctx})
    return app, store


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_csrf_token_is_required_on_every_post() -> None:
    app, _ = make_app()
    async with client(app) as http:
        token = (await http.get("/form")).text
        assert "registry-session" in http.cookies
        missing = await http.post("/form", data={"x": "1"})
        assert missing.status_code == 400 and "This form has expired" in missing.text
        wrong = await http.post("/form", data={"csrf_token": "not-it"})
        assert wrong.status_code == 400
        assert (await http.post("/form", data={"csrf_token": token})).text == "done"
        assert (await http.post("/form", headers={"X-CSRF-Token": token})).text == "done"
    async with client(app) as stranger:  # another browser: no session, so no token can match
        assert (await stranger.post("/form", data={"csrf_token": token})).status_code == 400


async def test_every_answer_carries_the_security_headers_and_the_cookie_flags() -> None:
    app, _ = make_app()
    async with client(app) as http:
        response = await http.get("/form")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY"
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie
        assert (await http.post("/form")).headers["content-security-policy"]


async def post_with_cookie(app: FastAPI, cookie: str, token: str) -> httpx.Response:
    async with client(app) as http:
        return await http.post("/form", data={"csrf_token": token}, headers={"cookie": f"registry-csrf={cookie}"})


def shown_token(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


async def test_a6r51_pages_with_forms_store_no_session_for_an_anonymous_visitor() -> None:
    """A form's token for a visitor without a session is bound to a cookie: nothing is stored, so
    requests from cookie-less clients (bots) cannot fill the sessions table."""
    app, store = make_app()
    async with client(app) as http:
        board = await http.get("/board")
        assert board.status_code == 200 and "set-cookie" not in board.headers and not store.rows
        assert "<td>identity</td>" in board.text  # the walking skeleton reads the board this way
        form = await http.get("/sign-in-page")
        cookie = form.headers["set-cookie"]
        assert cookie.startswith("registry-csrf=") and "registry-session" not in cookie
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=7200" in cookie
        assert shown_token(form) == csrf_cookie_token(KEY, http.cookies["registry-csrf"])
        again = await http.get("/sign-in-page")
        assert "set-cookie" not in again.headers and shown_token(again) == shown_token(form)
    for _ in range(20):
        async with client(app) as bot:
            await bot.get("/sign-in-page")
    assert not store.rows


async def test_a6r51_an_anonymous_post_needs_the_token_of_its_own_unexpired_cookie() -> None:
    """Double submit: the token must be the one of the cookie sent with it. Missing, forged, another
    visitor's or an expired one is refused with the same page as a form without its session token."""
    app, store = make_app()
    async with client(app) as http, client(app) as other:
        token = shown_token(await http.get("/sign-in-page"))
        others = shown_token(await other.get("/sign-in-page"))
        assert token != others
        assert (await http.post("/form", data={"csrf_token": token})).text == "done"
        assert (await http.post("/form", headers={"X-CSRF-Token": token})).text == "done"
        own = http.cookies["registry-csrf"]
        expiry, nonce = own.split(".", 1)
        past = f"{int(time.time()) - 1}.{nonce}"
        far = f"{int(time.time()) + 7300}.{nonce}"  # beyond the 2 hours the web gives its cookies
        refused = [
            await http.post("/form", data={"x": "1"}),
            await http.post("/form", data={"csrf_token": token + "x"}),
            await http.post("/form", data={"csrf_token": others}),
            await other.post("/form", data={"csrf_token": token}),
            await http.post("/form", data={"csrf_token": csrf_cookie_token(b"another key", own)}),
            # The cookie's expiry is bound too: a later one does not go with the token, an earlier
            # one is refused even with its own token.
            await post_with_cookie(app, f"{int(expiry) + 3600}.{nonce}", token),
            await post_with_cookie(app, past, csrf_cookie_token(KEY, past)),
            await post_with_cookie(app, far, csrf_cookie_token(KEY, far)),
        ]
    assert (await post_with_cookie(app, own, token)).text == "done", "the cookie and its token, from any client"
    async with client(app) as stranger:  # no cookie: no token can match
        refused.append(await stranger.post("/form", data={"csrf_token": token}))
    for response in refused:
        assert response.status_code == 400 and "This form has expired" in response.text
    assert not store.rows


async def test_a6r51_a_post_that_needs_state_opens_the_session_with_the_forms_token() -> None:
    """Only a POST that passed the check and keeps state (a sign-in under way) stores a session; it
    takes over the visitor's token, so forms already open in other tabs still work."""
    app, store = make_app()
    async with client(app) as http:
        token = shown_token(await http.get("/sign-in-page"))
        assert (await http.post("/start", data={"x": "1"})).status_code == 400 and not store.rows
        started = await http.post("/start", data={"csrf_token": token})
        assert started.text == "started" and "registry-session=" in started.headers["set-cookie"]
        (session,) = store.rows.values()
        assert session.csrf == token and session.data == {"sign_in": "under way"}
        assert (await http.post("/form", data={"csrf_token": token})).text == "done"
        assert shown_token(await http.get("/sign-in-page")) == token


async def test_a6r51_a_csrf_cookie_past_half_its_life_is_renewed_when_a_form_is_shown() -> None:
    app, _ = make_app()
    kept = f"{int(time.time()) + 7000}.{'k' * 43}"
    old = f"{int(time.time()) + 1000}.{'n' * 43}"
    async with client(app) as http:
        form = await http.get("/sign-in-page", headers={"cookie": f"registry-csrf={kept}"})
        assert "set-cookie" not in form.headers and shown_token(form) == csrf_cookie_token(KEY, kept)
        form = await http.get("/sign-in-page", headers={"cookie": f"registry-csrf={old}"})
        renewed = form.headers["set-cookie"].split(";")[0].removeprefix("registry-csrf=")
        assert renewed != old and int(renewed.split(".")[0]) > time.time() + 7000
        assert shown_token(form) == csrf_cookie_token(KEY, renewed)


async def test_pages_for_signed_in_users_send_visitors_to_sign_in() -> None:
    app, _ = make_app()
    async with client(app) as http:
        response = await http.get("/private")
        assert response.status_code == 303
        assert response.headers["location"] == "/sign-in?next=%2Fprivate"


async def test_step_up_keeps_the_form_and_asks_for_a_second_factor() -> None:
    app, store = make_app()
    async with client(app) as http:
        token = (await http.get("/form")).text
        session = next(iter(store.rows.values()))
        session.data["auth"] = {"access": "a", "expires_at": 9e12}
        response = await http.post("/elevated", data={"csrf_token": token, "quantity": "5"})
        assert response.status_code == 303 and response.headers["location"] == "/step-up"
        assert session.data["step_up"]["form"] == {"quantity": "5"}
        assert session.data["step_up"]["next"] == "/elevated"


async def test_an_unexpected_refusal_is_a_page_not_a_500() -> None:
    app, _ = make_app()
    async with client(app) as http:
        response = await http.get("/refused")
        assert response.status_code == 404
        assert "There is no account X you may see." in response.text


async def test_a_service_cut_off_by_its_database_limits_is_busy_not_refused() -> None:
    """A backend's 503 (`database_timeout`): the page says to try again, with Retry-After, not
    "the registry refused" as a 502."""
    app, _ = make_app()
    async with client(app) as http:
        response = await http.get("/busy")
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert "The registry is busy" in response.text
        assert "Nothing was changed" in response.text
        assert "refused" not in response.text


def test_every_web_route_runs_in_the_pipeline_and_declares_one_policy() -> None:
    """CSRF is checked by the pipeline, so every page route must be a PageRoute."""
    app = create_app()
    platform = {"/health", "/ready", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
    for route in app.routes:
        if not isinstance(route, APIRoute) or route.path in platform or route.path.startswith("/static/"):
            continue
        assert isinstance(route, PageRoute), route.path
        assert "GET" not in route.methods or "POST" not in route.methods


def test_next_urls_stay_on_this_site() -> None:
    assert safe_next("/accounts/GHA-1") == "/accounts/GHA-1"
    for bad in ("https://evil.example/", "//evil.example", "/\\evil", "", None, "javascript:alert(1)"):
        assert safe_next(bad) == "/home"


def web_app() -> tuple[FastAPI, MemoryStore]:
    """The web service's own routes over the memory store: the policy refuses before any service call."""
    app = create_app()
    store = MemoryStore()
    app.state.runtime.state["web"] = SimpleNamespace(
        settings=WebSettings(service_name="web", mode="test"), sessions=store
    )
    return app, store


def session_rows(app: FastAPI) -> list[Row]:
    rows = [r for r in rows_for("web", app) if r.session]
    assert len(rows) > 40, "the web's pages for signed-in users declare session policies"
    return rows


def concrete(row: Row) -> str:
    return re.sub(r"\{\w+\}", "GHA-1", row.path)


async def test_a6r12_every_session_route_sends_an_anonymous_visitor_to_sign_in() -> None:
    """Before the page runs and before the CSRF check: no form, no session, only the way to sign in."""
    app, store = web_app()
    async with client(app) as http:
        for row in session_rows(app):
            response = await http.request(row.method, concrete(row), data={"x": "1"} if row.method == "POST" else None)
            assert response.status_code == 303, (row, response.status_code)
            assert response.headers["location"].startswith("/sign-in"), row
            htmx = await http.request(row.method, concrete(row), headers={"HX-Request": "true"})
            assert htmx.status_code == 204 and htmx.headers["hx-redirect"].startswith("/sign-in"), row
    assert not store.rows, "refusing opens no session"


async def test_a6r12_session_routes_refuse_a_signed_in_user_without_their_roles() -> None:
    """A6R-50: a system administrator is refused every business page, with the page that says so
    (before the CSRF check too: nothing is sent here but the session cookie)."""
    app, store = web_app()
    auth = {"access": "a", "expires_at": 9e12, "grants": [{"role": SYSTEM_ADMINISTRATOR}]}
    session = store.new({"auth": auth})
    store.rows[session.id] = session
    refused = [r for r in session_rows(app) if r.roles and SYSTEM_ADMINISTRATOR not in r.roles]
    assert any(r.path == "/transfer" for r in refused)
    async with client(app) as http:
        http.cookies.set("registry-session", session.id)
        for row in refused:
            response = await http.request(row.method, concrete(row))
            assert response.status_code == 403 and "Not available to you" in response.text, row


async def test_a6r12_a_session_policy_outside_the_web_pipeline_refuses_everyone() -> None:
    """The decision point only records `session`; a route the web's pipeline does not run is closed."""
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/page", dependencies=[session()])
    async def page() -> dict[str, str]:
        return {"shown": "yes"}

    async with client(app) as http:
        response = await http.get("/page")
    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"
