"""A user's own profile (A6R-9 to A6R-11, A6R-49): what identity holds about them, its history, and
requests to change it. Contacts change at once; a new name or new affiliations wait until a
registry administrator, or an administrator of a section the user works in, acknowledges them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from web.adapters.backends import ServiceError
from web.domain.forms import is_uuid, missing
from web.domain.people_forms import profile_change, profile_fields
from web.entrypoints.page import Page
from web.entrypoints.pipeline import PageRoute, signed_in
from web.service_layer.messages import field_errors

router = APIRouter(route_class=PageRoute)
PROFILE_FIELDS = {
    "name": "name",
    "invalid_name": "name",
    "affiliations": "affiliations",
    "invalid_email": "email",
    "invalid_contact": "phone",
    "too_few_contacts": "phone",
    "contacts": "phone",
}
FIELD_NAMES = {"name": "name", "affiliations": "organisations", "contacts": "contacts"}


def _listed(fields: list[str]) -> str:
    return " and ".join(FIELD_NAMES.get(f, f) for f in fields)


async def _profile_page(
    page: Page, *, status: int = 200, values: dict[str, str] | None = None, errors: dict[str, str] | None = None
) -> Response:
    me = await page.call("identity", "GET", "/me", own=True)
    history = await page.call("identity", "GET", "/me/profile/history", own=True)
    profile: dict[str, Any] = me.get("profile") or {}
    return page.render(
        "profile.html",
        status=status,
        title="Your profile",
        email=me.get("email", ""),
        profile=profile,
        values=values if values is not None else profile_fields(profile),
        errors=errors or {},
        history=list(reversed(history)),
    )


@router.get("/profile", response_class=HTMLResponse, dependencies=[signed_in()])
async def profile(request: Request) -> Response:
    return await _profile_page(Page.of(request))


@router.post("/profile", response_class=HTMLResponse, dependencies=[signed_in()])
async def request_change(request: Request) -> Response:
    page = Page.of(request)
    form = await page.form()
    errors = missing(form, {"name": "Enter your full name."})
    if errors:
        return await _profile_page(page, status=400, values=form, errors=errors)
    me = await page.call("identity", "GET", "/me", own=True)
    change = profile_change(form, me.get("profile") or {})
    if not change:
        page.flash("Nothing was changed: the form is as your profile is.", "info")
        return page.redirect("/profile")
    try:
        answer = await page.call("identity", "POST", "/me/profile/changes", json=change, own=True)
    except ServiceError as exc:
        return await _profile_page(page, status=400, values=form, errors=field_errors(exc, PROFILE_FIELDS))
    said = []
    if answer.get("applied"):
        said.append(f"Your {_listed(answer['applied'])} changed.")
    if answer.get("pending"):
        said.append(f"Your new {_listed(answer['pending'])} await an administrator's acknowledgement.")
    page.flash(" ".join(said), "success")
    return page.redirect("/profile")


@router.get("/profile-changes", response_class=HTMLResponse, dependencies=[signed_in("profile_changes.decide")])
async def pending_changes(request: Request) -> Response:
    page = Page.of(request)
    cursor = request.query_params.get("cursor")
    params = {"limit": 50, "cursor": cursor if cursor and is_uuid(cursor) else None}
    answer = await page.call("identity", "GET", "/profile-changes", params=params)
    return page.render(
        "profile_changes.html", title="Profile changes to acknowledge", items=answer["items"], next=answer.get("next")
    )


@router.post(
    "/profile-changes/{request_id}/decision",
    response_class=HTMLResponse,
    dependencies=[signed_in("profile_changes.decide")],
)
async def decide_change(request: Request, request_id: str) -> Response:
    page = Page.of(request)
    if not is_uuid(request_id):
        return page.render("error.html", status=404, title="Not found", message="There is no such change request.")
    form = await page.form()
    approve = form.get("decision") == "approve"
    try:
        await page.call("identity", "POST", f"/profile-changes/{request_id}/decision", json={"approve": approve})
    except ServiceError as exc:
        page.flash(f"The change was not decided: {exc.message}", "error")
    else:
        page.flash("The change is acknowledged and applied." if approve else "The change is refused.", "success")
    return page.redirect("/profile-changes")
