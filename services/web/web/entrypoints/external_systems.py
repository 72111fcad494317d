"""External systems (A6R-8): registry administrators register a system that calls the registry's
APIs with its own key (OAuth private_key_jwt at identity), scoped like a user's grant and backed by
a recorded risk assessment, and disable it at once when it must stop."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from web.adapters.backends import ServiceError
from web.domain.external_systems import RISK_LEVELS, registration_body, registration_problems
from web.domain.forms import is_uuid
from web.entrypoints.page import Page
from web.entrypoints.pipeline import PageRoute, signed_in
from web.service_layer.messages import field_errors

router = APIRouter(route_class=PageRoute)
FIELDS = {
    "name": "name",
    "duplicate_external_system": "name",
    "public_jwk": "public_jwk",
    "invalid_jwk": "public_jwk",
    "assessor": "assessor",
    "date": "assessment_date",
    "level": "level",
    "mitigations_required": "mitigations",
    "mitigations": "mitigations",
    "scope_required": "scope_section",
    "invalid_scope": "scope_section",
    "section": "scope_section",
    "account": "scope_account",
    "cooperative_approach": "scope_cooperative_approach",
}


async def _systems_page(
    page: Page, *, status: int = 200, values: dict[str, str] | None = None, errors: dict[str, str] | None = None
) -> Response:
    systems = await page.call("identity", "GET", "/external-systems")
    return page.render(
        "external_systems.html",
        status=status,
        title="External systems",
        systems=systems,
        levels=[(level, level.capitalize()) for level in RISK_LEVELS],
        values=values or {"level": "medium"},
        errors=errors or {},
    )


@router.get("/external-systems", response_class=HTMLResponse, dependencies=[signed_in("external_systems")])
async def external_systems(request: Request) -> Response:
    return await _systems_page(Page.of(request))


@router.post("/external-systems", response_class=HTMLResponse, dependencies=[signed_in("external_systems")])
async def register(request: Request) -> Response:
    page = Page.of(request)
    form = await page.form()
    errors = registration_problems(form)
    if not errors:
        try:
            answer = await page.call("identity", "POST", "/external-systems", json=registration_body(form))
        except ServiceError as exc:
            errors = field_errors(exc, FIELDS)
        else:
            page.flash(
                f"{form['name']} is registered. Its client id is {answer['client_id']}; it asks for tokens at "
                f"{answer['token_endpoint']} with a JWT signed by its key (key id {answer['kid']}).",
                "success",
            )
            return page.redirect("/external-systems")
    return await _systems_page(page, status=400, values=form, errors=errors)


@router.post(
    "/external-systems/{client_id}/disable", response_class=HTMLResponse, dependencies=[signed_in("external_systems")]
)
async def disable(request: Request, client_id: str) -> Response:
    """Stops the system at once: its grants are revoked, so its tokens stop working everywhere."""
    return await _act(
        Page.of(request),
        client_id,
        "disable",
        "The system is disabled; its access has ended.",
        "The system was not disabled",
    )


@router.post(
    "/external-systems/{client_id}/unthrottle",
    response_class=HTMLResponse,
    dependencies=[signed_in("external_systems")],
)
async def unthrottle(request: Request, client_id: str) -> Response:
    """Ends the wait identity imposes after failed token requests, once their cause is fixed (a new
    key, a corrected clock): the system's next request is looked at at once."""
    return await _act(
        Page.of(request),
        client_id,
        "unthrottle",
        "The system may ask for tokens again now; its failed requests are forgotten.",
        "The system still waits",
    )


async def _act(page: Page, client_id: str, action: str, done: str, refused: str) -> Response:
    if not is_uuid(client_id):
        return page.render("error.html", status=404, title="Not found", message="There is no such external system.")
    try:
        await page.call("identity", "POST", f"/external-systems/{client_id}/{action}")
    except ServiceError as exc:
        page.flash(f"{refused}: {exc.message}", "error")
    else:
        page.flash(done, "success")
    return page.redirect("/external-systems")
