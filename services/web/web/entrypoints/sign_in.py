"""Signing in (A6R-6): the password step opens an MFA challenge at identity; the second factor (an
authenticator code, a recovery code or a security key) yields the tokens, which stay in the
server-side session. Also: signing out and switching the working context (A6R-15, A6R-27)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.responses import Response

from registry_platform.authz import public
from web.adapters.backends import ServiceError
from web.domain.forms import missing
from web.entrypoints.page import Page, safe_next
from web.entrypoints.pipeline import PageRoute, signed_in
from web.entrypoints.second_factor import ceremony_options, confirm_factor
from web.service_layer import tokens
from web.service_layer.messages import field_errors

router = APIRouter(route_class=PageRoute)
PASSWORD_FIELDS = {"invalid_credentials": "password", "email": "email", "password": "password"}


@router.get("/sign-in", response_class=HTMLResponse, dependencies=[public()])
async def sign_in_form(request: Request) -> Response:
    page = Page.of(request)
    if page.signed_in:
        return page.redirect(safe_next(request.query_params.get("next")))
    notice = None
    if request.query_params.get("expired") or page.expired:
        notice = "Your session has expired; please sign in again."
    elif request.query_params.get("signed_out"):
        notice = "You have signed out."
    elif request.query_params.get("key_removed"):
        notice = "The security key is removed, and every session of yours has ended; sign in again."
    return page.render(
        "sign_in.html", title="Sign in", values={"next": request.query_params.get("next", "")}, notice=notice
    )


@router.post("/sign-in", response_class=HTMLResponse, dependencies=[public()])
async def sign_in(request: Request) -> Response:
    page = Page.of(request)
    form = await page.form()
    errors = missing(form, {"email": "Enter your email address.", "password": "Enter your password."})
    if not errors:
        body = {"email": form["email"], "password": form["password"]}
        answer, errors = await identity_step(page, "/sessions", body, PASSWORD_FIELDS)
        if not errors:
            page.ensure_session().set(
                "sign_in",
                {
                    "challenge_id": answer["challenge_id"],
                    "methods": answer.get("methods", []),
                    "email": form["email"],
                    "next": safe_next(form.get("next")),
                    "expires_at": time.time() + float(answer.get("expires_in", 300)),
                },
            )
            return page.redirect("/sign-in/second-factor")
    values = {"email": form.get("email", ""), "next": form.get("next", "")}
    return page.render("sign_in.html", status=400, title="Sign in", errors=errors, values=values)


async def identity_step(
    page: Page, path: str, body: dict[str, Any], fields: dict[str, str]
) -> tuple[Any, dict[str, str]]:
    """A step before sign-in (activation, password): identity's answer, or its refusal by form
    field. Sent in the browser's name: identity throttles failures per client."""
    try:
        return await page.ctx.backends.call("identity", "POST", path, json=body, client_address=page.client_address), {}
    except ServiceError as exc:
        return None, field_errors(exc, fields)


def _pending(page: Page) -> dict[str, Any] | None:
    pending = page.session.data.get("sign_in") if page.session else None
    return pending if pending and pending.get("expires_at", 0) > time.time() else None


@router.get("/sign-in/second-factor", response_class=HTMLResponse, dependencies=[public()])
async def second_factor_form(request: Request) -> Response:
    page = Page.of(request)
    pending = _pending(page)
    if pending is None:
        return page.redirect("/sign-in")
    return page.render("second_factor.html", title="Confirm it is you", methods=pending["methods"])


@router.post("/sign-in/webauthn-options", dependencies=[public()])
async def sign_in_webauthn_options(request: Request) -> Response:
    """The security key ceremony's options, for static/webauthn.js (JSON, with the CSRF header)."""
    page = Page.of(request)
    pending = _pending(page)
    if pending is None:
        return JSONResponse({"error": {"message": "Sign in again: the sign-in step expired."}}, status_code=409)
    return await ceremony_options(
        lambda: page.ctx.backends.call(
            "identity", "POST", "/sessions/webauthn-options", json={"challenge_id": pending["challenge_id"]}
        )
    )


@router.post("/sign-in/second-factor", response_class=HTMLResponse, dependencies=[public()])
async def second_factor(request: Request) -> Response:
    page = Page.of(request)
    pending = _pending(page)
    if pending is None:
        # Said by the sign-in page, not kept in a session: a POST without a sign-in under way stores nothing.
        return page.redirect("/sign-in?expired=1")

    async def send(factor: dict[str, Any]) -> Any:
        body = {"challenge_id": pending["challenge_id"], **factor}
        return await page.ctx.backends.call(
            "identity", "POST", "/sessions/mfa", json=body, client_address=page.client_address
        )

    try:
        answer, errors = await confirm_factor(
            await page.form(), send, missing="Enter the code.", passthrough=("invalid_challenge",)
        )
    except ServiceError as exc:
        page.flash(exc.message, "error")
        return page.redirect("/sign-in")
    if not errors:
        await establish(page, answer, pending["email"])
        return page.redirect(pending["next"])
    return page.render(
        "second_factor.html", status=400, title="Confirm it is you", methods=pending["methods"], errors=errors
    )


async def establish(page: Page, answer: dict[str, Any], email: str) -> None:
    """A new session id for the signed-in user (no fixation), their tokens and who they are."""
    old = page.ensure_session()
    auth = await tokens.auth_record(page.ctx, answer)
    page.session = await page.ctx.sessions.rotate(old, {"auth": auth, "me": {"email": email}})
    try:
        me = await page.call("identity", "GET", "/me", own=True)
        page.session.set(
            "me", {"email": me.get("email", email), "name": me.get("name") or me.get("profile", {}).get("name")}
        )
    except ServiceError:
        pass  # a user without any grant cannot read /me yet (A6R-13); the email is enough


@router.post("/sign-out", response_class=HTMLResponse, dependencies=[public()])
async def sign_out(request: Request) -> Response:
    page = Page.of(request)
    if page.signed_in:
        try:
            await page.call("identity", "POST", "/sessions/logout", own=True)
        except Exception:  # noqa: S110 - signing out here must not depend on identity answering
            pass
    if page.session is not None:
        await page.ctx.sessions.delete(page.session)
    return page.redirect("/sign-in?signed_out=1")


@router.post("/context", response_class=HTMLResponse, dependencies=[signed_in()])
async def switch_context(request: Request) -> Response:
    """A user with roles in several sections works in one at a time (A6R-15, A6R-27)."""
    page = Page.of(request)
    session = page.user_session()
    wanted = (await page.form()).get("context")
    if any(c.key == wanted for c in page.contexts):
        session.set("context", wanted)
    return page.redirect("/home")
