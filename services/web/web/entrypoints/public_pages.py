"""The pages anyone may open: the landing page with the service status board, and the static files.

These routes declare `public()` for the authorization matrix. The others declare `signed_in(...)`
(registry_platform.authz.session): browsers carry a session cookie, not an access token, so the
pipeline checks the web session and the roles before the page runs and sends visitors to sign in;
the services the pages call then decide again with the user's own access token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse
from starlette.responses import Response

from registry_platform.authz import public
from web.adapters.backends import ServiceError, ServiceUnavailable
from web.entrypoints.page import Page
from web.entrypoints.pipeline import PageRoute
from web.entrypoints.security import apply_security_headers

router = APIRouter(route_class=PageRoute)
static_router = APIRouter()
STATIC = Path(__file__).resolve().parents[1] / "static"
STATIC_TYPES = {
    "htmx.min.js": "text/javascript",
    "registry.js": "text/javascript",
    "webauthn.js": "text/javascript",
    "registry.css": "text/css",
    "htmx.LICENSE.txt": "text/plain",
}


async def _status(page: Page) -> dict[str, Any]:
    """The status board's values: every service and when it was last seen, with its version only
    for administrators (to anyone else the versions say which known flaws to try)."""
    try:
        instances = await page.ctx.backends.call("reporting", "GET", "/services")
    except (ServiceError, ServiceUnavailable):
        return {"status": 503, "instances": None, "versions": False}
    versions = page.may("service_versions")
    if not versions:
        instances = [{k: v for k, v in i.items() if k != "version"} for i in instances]
    return {"status": 200, "instances": list(instances), "versions": versions}


@router.get("/", response_class=HTMLResponse, dependencies=[public()])
async def landing(request: Request) -> Response:
    """Anonymous visitors: sign-in link and the service status board; signed-in users: their home."""
    page = Page.of(request)
    if page.signed_in:
        return page.redirect("/home")
    return page.render("landing.html", title="Welcome", **await _status(page))


@router.get("/status", response_class=HTMLResponse, dependencies=[public()])
async def status_board(request: Request) -> Response:
    page = Page.of(request)
    return page.render("status.html", title="Service status", **await _status(page))


@static_router.get("/static/{name}", dependencies=[public()], include_in_schema=False)
async def static_file(name: str) -> Response:
    """The project's own scripts and styles (no CDN: the CSP allows this origin only)."""
    media_type = STATIC_TYPES.get(name)
    if media_type is None:
        return apply_security_headers(Response("Not found", status_code=404, media_type="text/plain"))
    response = FileResponse(STATIC / name, media_type=media_type)
    response.headers["Cache-Control"] = "public, max-age=3600"
    return apply_security_headers(response, cacheable=True)
