"""A user's own sign-in methods (A6R-5, A6R-7): the list, security keys added and removed, the
password changed, and a new set of recovery codes.

Changing the password, new recovery codes and adding a security key are elevated at identity (a
second factor proven in the last minutes). The password and key forms ask for that proof before
they are shown, so passwords never wait in the session across a step-up, as other forms' fields
do, and a key's ceremony is not refused halfway.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from registry_platform.authz import second_factor_recent
from web.adapters.backends import ServiceError
from web.domain.forms import is_uuid, json_field, missing
from web.entrypoints.page import Page
from web.entrypoints.pipeline import PageRoute, signed_in
from web.entrypoints.second_factor import ceremony_options
from web.service_layer.errors import StepUpRequired
from web.service_layer.messages import field_errors

router = APIRouter(route_class=PageRoute)
PASSWORD_FIELDS = {
    "invalid_credentials": "current_password",
    "current_password": "current_password",
    "weak_password": "new_password",
    "new_password": "new_password",
}
CONFIRM_FIRST = "Confirm it is you with your second factor before you change your password."
CONFIRM_KEY = "Confirm it is you with your second factor before you add a security key."


@router.get("/security", response_class=HTMLResponse, dependencies=[signed_in()])
async def security(request: Request) -> Response:
    page = Page.of(request)
    try:
        credentials = await page.call("identity", "GET", "/me/credentials", own=True)
    except ServiceError:
        credentials = None
    return page.render(
        "security.html", title="Sign-in methods", credentials=credentials, key_ready=_second_factor_recent(page)
    )


@router.get("/security/keys/new", response_class=HTMLResponse, dependencies=[signed_in()])
async def new_security_key(request: Request) -> Response:
    """Identity adds a key only with a fresh second factor: confirm it first, then the form shows."""
    page = Page.of(request)
    if not _second_factor_recent(page):
        raise StepUpRequired(CONFIRM_KEY)
    return page.redirect("/security#add-key")


@router.post("/security/keys/options", dependencies=[signed_in()])
async def security_key_options(request: Request) -> Response:
    page = Page.of(request)
    return await ceremony_options(lambda: page.call("identity", "POST", "/me/credentials/webauthn/options", own=True))


@router.post("/security/keys", response_class=HTMLResponse, dependencies=[signed_in()])
async def add_security_key(request: Request) -> Response:
    page = Page.of(request)
    form = await page.form()
    try:
        credential = json_field(form.get("credential") or "{}")
        body = {"credential": credential, "label": form.get("label") or "security key"}
        await page.call("identity", "POST", "/me/credentials/webauthn", json=body, own=True)
    except (ServiceError, ValueError) as exc:
        message = exc.message if isinstance(exc, ServiceError) else "The security key's answer could not be read."
        page.flash(f"The security key was not added: {message}", "error")
    else:
        page.flash("Your security key was added. You can use it to sign in.", "success")
    return page.redirect("/security")


@router.post("/security/keys/{credential_id}/removal", response_class=HTMLResponse, dependencies=[signed_in()])
async def remove_security_key(request: Request, credential_id: str) -> Response:
    """A lost key is removed at once; identity then ends every session of the user, this one too."""
    page = Page.of(request)
    if not is_uuid(credential_id):
        return page.render("error.html", status=404, title="Not found", message="There is no such security key.")
    try:
        await page.call("identity", "DELETE", f"/me/credentials/{credential_id}", own=True)
    except ServiceError as exc:
        page.flash(f"The security key was not removed: {exc.message}", "error")
        return page.redirect("/security")
    await page.ctx.sessions.delete(page.user_session())
    return page.redirect("/sign-in?key_removed=1")


def _second_factor_recent(page: Page) -> bool:
    auth_time = (page.user_session().data.get("auth") or {}).get("auth_time")
    return second_factor_recent(float(auth_time) if auth_time is not None else None)


@router.get("/security/password", response_class=HTMLResponse, dependencies=[signed_in()])
async def password_form(request: Request) -> Response:
    page = Page.of(request)
    if not _second_factor_recent(page):
        raise StepUpRequired(CONFIRM_FIRST)
    return page.render("password.html", title="Change your password", errors={})


@router.post("/security/password", response_class=HTMLResponse, dependencies=[signed_in()])
async def change_password(request: Request) -> Response:
    page = Page.of(request)
    if not _second_factor_recent(page):
        page.flash("Your second factor was confirmed too long ago; confirm it again, then enter the passwords.")
        return page.redirect("/security/password")
    form = await page.form()
    errors = missing(
        form,
        {
            "current_password": "Enter your current password.",
            "new_password": "Choose a new password.",
            "new_password_again": "Type the new password again.",
        },
    )
    if not errors and form["new_password"] != form["new_password_again"]:
        errors["new_password_again"] = "The two new passwords are not the same."  # noqa: S105 - a message
    if not errors:
        body = {"current_password": form["current_password"], "new_password": form["new_password"]}
        try:
            await page.call("identity", "POST", "/me/credentials/password", json=body, own=True)
        except StepUpRequired:
            page.flash(CONFIRM_FIRST)
            return page.redirect("/security/password")
        except ServiceError as exc:
            errors = field_errors(exc, PASSWORD_FIELDS)
        else:
            page.flash("Your password is changed. Your other sessions have ended.", "success")
            return page.redirect("/security")
    return page.render("password.html", status=400, title="Change your password", errors=errors)


@router.post("/security/recovery-codes", response_class=HTMLResponse, dependencies=[signed_in()])
async def new_recovery_codes(request: Request) -> Response:
    """A new set replaces the old one, which stops working at once."""
    page = Page.of(request)
    answer = await page.call("identity", "POST", "/me/credentials/recovery-codes", own=True)
    return page.render(
        "recovery_codes.html", title="Your new recovery codes", codes=answer["recovery_codes"], renewed=True
    )
