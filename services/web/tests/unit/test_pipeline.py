"""The pipeline every web route runs in: session cookie, the routes' `session` policies, CSRF on
every unsafe request, security headers, and the answers to interruptions (sign in, step-up, a
refusal nobody expected)."""

from __future__ import annotations

import re
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
from web.service_layer.errors import StepUpRequired
from web.settings import WebSettings

from .conftest import MemoryStore


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


async def test_only_pages_with_forms_open_a_session() -> None:
    app, store = make_app()
    async with client(app) as http:
        board = await http.get("/board")
        assert board.status_code == 200 and "set-cookie" not in board.headers and not store.rows
        assert "<td>identity</td>" in board.text  # the walking skeleton reads the board this way
        form = await http.get("/sign-in-page")
        assert "set-cookie" in form.headers and len(store.rows) == 1
        token = next(iter(store.rows.values())).csrf
        assert f'name="csrf_token" value="{token}"' in form.text


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
