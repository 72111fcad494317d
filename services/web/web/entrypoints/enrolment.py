"""Activation and enrolment (A6R-4): the link from the email plus the code from the second channel,
then a password and an authenticator app (TOTP, shown as a QR code); security keys (WebAuthn) are
added afterwards from the security page (`sign_in_methods`). Also the step-up prompt for elevated
operations."""

from __future__ import annotations

import time

import segno
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from starlette.responses import Response

from registry_platform.authz import public
from web.adapters.backends import ServiceError
from web.domain.forms import missing
from web.entrypoints.page import Page, safe_next
from web.entrypoints.pipeline import PageRoute, signed_in
from web.entrypoints.second_factor import ceremony_options, confirm_factor
from web.entrypoints.sign_in import identity_step
from web.service_layer import tokens
from web.service_layer.messages import field_errors

router = APIRouter(route_class=PageRoute)
ACTIVATION_FIELDS = {"invalid_activation_code": "code", "code": "code", "token": "token"}
EXPIRED = (
    "No activation is under way here, or it expired: open your activation link again; "
    "if it no longer works, ask your administrator for a new activation."
)
ENROL_FIELDS = {"weak_password": "password", "password": "password", "invalid_totp_code": "code", "totp_code": "code"}


def qr_svg(uri: str) -> Markup:
    svg = segno.make(uri, error="m").svg_inline(scale=5, title="QR code for your authenticator app", svgclass="qr")
    svg = svg.replace("<svg ", '<svg role="img" aria-label="QR code for your authenticator app" ', 1)
    return Markup(svg)  # noqa: S704 - segno's SVG of the otpauth URI, no user markup


@router.get("/activate", response_class=HTMLResponse, dependencies=[public()])
async def activation_form(request: Request) -> Response:
    page = Page.of(request)
    notice = EXPIRED if request.query_params.get("expired") else None
    return page.render(
        "activate.html",
        title="Activate your access",
        values={"token": request.query_params.get("token", "")},
        notice=notice,
    )


@router.post("/activate", response_class=HTMLResponse, dependencies=[public()])
async def activate(request: Request) -> Response:
    page = Page.of(request)
    form = await page.form()
    errors = missing(
        form,
        {
            "token": "Open the activation link from your email, or paste its token here.",
            "code": "Enter the activation code you received by phone or post.",
        },
    )
    if not errors:
        body = {"token": form["token"], "code": form["code"]}
        answer, errors = await identity_step(page, "/activation", body, ACTIVATION_FIELDS)
        if not errors:
            page.ensure_session().set(
                "enrolment",
                {
                    "token": answer["enrolment_token"],
                    "secret": answer["totp_secret"],
                    "uri": answer["otpauth_uri"],
                    "expires_at": time.time() + float(answer.get("expires_in", 900)),
                },
            )
            return page.redirect("/activate/enrol")
    return page.render("activate.html", status=400, title="Activate your access", errors=errors, values=form)


def _enrolment(page: Page) -> dict[str, str] | None:
    pending = page.session.data.get("enrolment") if page.session else None
    return pending if pending and pending.get("expires_at", 0) > time.time() else None


def _enrol_page(page: Page, pending: dict[str, str], status: int = 200, **values: object) -> Response:
    secret = pending["secret"]
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return page.render(
        "enrol.html",
        status=status,
        title="Set your password and authenticator",
        qr=qr_svg(pending["uri"]),
        secret=grouped,
        uri=pending["uri"],
        **values,
    )


@router.get("/activate/enrol", response_class=HTMLResponse, dependencies=[public()])
async def enrol_form(request: Request) -> Response:
    page = Page.of(request)
    pending = _enrolment(page)
    if pending is None:
        # Said by the activation page, not kept in a session: an anonymous visit stores nothing.
        return page.redirect("/activate?expired=1")
    return _enrol_page(page, pending)


@router.post("/activate/enrol", response_class=HTMLResponse, dependencies=[public()])
async def enrol(request: Request) -> Response:
    page = Page.of(request)
    pending = _enrolment(page)
    if pending is None:
        # Said by the activation page, not kept in a session: an anonymous visit stores nothing.
        return page.redirect("/activate?expired=1")
    form = await page.form()
    errors: dict[str, str] = {}
    if not form.get("password"):
        errors["password"] = "Choose a password."  # noqa: S105 - a message, not a secret
    elif form.get("password") != form.get("password_again"):
        errors["password_again"] = "The two passwords are not the same."  # noqa: S105 - a message, not a secret
    if not form.get("code"):
        errors["code"] = "Enter the 6-digit code your authenticator app shows."
    if not errors:
        try:
            body = {"enrolment_token": pending["token"], "password": form["password"], "totp_code": form["code"]}
            done = await page.ctx.backends.call("identity", "POST", "/activation/complete", json=body)
        except ServiceError as exc:
            errors = field_errors(exc, ENROL_FIELDS)
        else:
            page.ensure_session().pop("enrolment")
            return page.render("recovery_codes.html", title="Your recovery codes", codes=done["recovery_codes"])
    return _enrol_page(page, pending, status=400, errors=errors)


@router.get("/step-up", response_class=HTMLResponse, dependencies=[signed_in()])
async def step_up_form(request: Request) -> Response:
    page = Page.of(request)
    pending = page.user_session().data.get("step_up") or {}
    return page.render("step_up.html", title="Confirm with your second factor", message=pending.get("message"))


@router.post("/step-up/webauthn-options", dependencies=[signed_in()])
async def step_up_webauthn_options(request: Request) -> Response:
    page = Page.of(request)
    return await ceremony_options(lambda: page.call("identity", "POST", "/sessions/step-up/webauthn-options", own=True))


@router.post("/step-up", response_class=HTMLResponse, dependencies=[signed_in()])
async def step_up(request: Request) -> Response:
    """A fresh second factor gives a new access token whose auth_time is now (RFC 9470)."""
    page = Page.of(request)
    session = page.user_session()
    pending = session.data.get("step_up") or {}
    answer, errors = await confirm_factor(
        await page.form(),
        lambda factor: page.call("identity", "POST", "/sessions/step-up", json=factor, own=True),
        missing="Enter the code from your authenticator app.",
    )
    if not errors:
        session.set("auth", await tokens.auth_record(page.ctx, answer, session.data.get("auth")))
        session.pop("step_up")
        # Kept forms are the administrator's own (none is kept while impersonating): never sent on
        # an impersonation token.
        if pending.get("form") is not None and not tokens.impersonating(session):
            return page.render(
                "step_up_done.html",
                title="Confirmed",
                action=safe_next(pending.get("next")),
                fields=pending["form"],
                lists=pending.get("lists") or {},
            )
        return page.redirect(safe_next(pending.get("next")))
    return page.render(
        "step_up.html",
        status=400,
        title="Confirm with your second factor",
        message=pending.get("message"),
        errors=errors,
    )
