"""What runs around every web page: session loading, the route's `session` policy (signed in, with
one of its roles), the CSRF check on every unsafe request, the answer to interruptions (sign in, not
permitted, step-up, a service down), session saving with its cookie, and the security headers.

It is a FastAPI route class rather than ASGI middleware so that it travels with the routers: every
way the platform builds the app (uvicorn's factory, the tests' `serve_all`) gets it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from registry_platform.authz import policies_of, session
from web.adapters.backends import ServiceError, ServiceUnavailable
from web.domain.access import FUNCTIONS
from web.entrypoints.page import Page
from web.entrypoints.security import (
    CSRF_FIELD,
    SAFE_METHODS,
    apply_security_headers,
    clear_session_cookie,
    csrf_presented,
    csrf_valid,
    set_csrf_cookie,
    set_session_cookie,
)
from web.service_layer.errors import ImpersonationEnded, NotPermitted, SignInRequired, StepUpRequired

log = logging.getLogger(__name__)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def signed_in(function: str | None = None) -> Any:
    """A page for signed-in users, and if `function` is named (web.domain.access.FUNCTIONS) for the
    roles that may use it: the matrix lists them, the pipeline checks them in any scope before the
    page runs, and the page checks the scope where it depends on the request."""
    return session(*(FUNCTIONS[function] if function else ()))


async def _form(request: Request) -> dict[str, Any] | None:
    if not request.headers.get("content-type", "").startswith(FORM_TYPES):
        return None
    return dict(await request.form())


async def _csrf_ok(page: Page, request: Request) -> bool:
    # A visitor with a session sends its token; one without, the token of their CSRF cookie.
    expected = page.session.csrf if page.session is not None else page.anonymous_csrf
    return csrf_valid(expected, csrf_presented(request.headers, await _form(request)))


async def _interrupted(page: Page, exc: Exception) -> Response:
    request = page.request
    if isinstance(exc, SignInRequired):
        if page.signed_in:
            # The sign-in is over (identity refused the refresh: the session was revoked, a credential
            # withdrawn). Kept, the session would send the sign-in page straight back here.
            await page.ctx.sessions.delete(page.user_session())
        if exc.message:
            page.flash(exc.message, "error")
        target = request.url.path if request.method == "GET" else "/home"
        params = {"next": target} if target not in ("/", "/home") else {}
        if page.expired:
            params["expired"] = "1"
        return page.redirect("/sign-in" + (f"?{urlencode(params)}" if params else ""))
    if isinstance(exc, NotPermitted):
        return page.render("error.html", status=403, title="Not available to you", message=exc.message)
    if isinstance(exc, ImpersonationEnded):
        page.flash(exc.message, "error")
        return page.redirect("/home")
    if isinstance(exc, StepUpRequired) and page.impersonation:
        # The second factor an administrator proves refreshes their own sign-in, not the token of
        # the user they act as: a form kept for after the step-up would be sent on the wrong token.
        return page.render(
            "error.html",
            status=403,
            title="Confirm your second factor first",
            message=f"{exc.message} While acting as someone, this needs a second factor you proved after "
            "the impersonation began: end the impersonation, confirm your second factor on the step-up page, "
            "start the impersonation again and repeat the operation.",
        )
    if isinstance(exc, StepUpRequired):
        session = page.user_session()
        if request.method == "GET":
            session.set("step_up", {"next": str(request.url.path), "form": None, "message": exc.message})
        else:
            form = {k: v for k, v in (await page.form()).items() if k != CSRF_FIELD}
            lists = {k: await page.form_list(k) for k in form if len(await page.form_list(k)) > 1}
            session.set(
                "step_up",
                {"next": str(request.url.path), "form": form, "lists": lists, "message": exc.message},
            )
        return page.redirect("/step-up")
    assert isinstance(exc, ServiceUnavailable)
    return page.render(
        "error.html",
        status=503,
        title="A registry service is not reachable",
        message=f"The {exc.service} service did not answer. Nothing was changed; try again in a moment.",
    )


def _refused(page: Page, exc: ServiceError) -> Response:
    """A refusal no page expected (e.g. an account that is not yours): said plainly, never a 500."""
    if exc.status == 503:
        # A service that answered but could not finish in time (`database_timeout`) or is starting:
        # nothing was done, and the same request may succeed in a moment (not "refused").
        log.info("service busy on %s: %s", page.request.url.path, exc)
        response = page.render(
            "error.html",
            status=503,
            title="The registry is busy",
            message=f"{exc.message or exc.code} Nothing was changed by this request.",
        )
        response.headers["Retry-After"] = "5"
        return response
    if exc.status == 404:
        title, status = "Not found", 404
    elif exc.status == 403:
        title, status = "Not available to you", 403
    else:
        title, status = "The registry refused", 400 if exc.status < 500 else 502
    log.info("unexpected refusal on %s: %s", page.request.url.path, exc)
    return page.render("error.html", status=status, title=title, message=exc.message or exc.code)


async def _finish(page: Page, response: Response) -> Response:
    settings = page.ctx.settings
    session = page.session
    if session is not None:
        if session.ended:
            clear_session_cookie(response, secure=settings.secure_cookies)
        else:
            if session.dirty:
                await page.ctx.sessions.save(session)
            if session.new:
                set_session_cookie(response, session.id, secure=settings.secure_cookies)
                session.new = False
    elif page.expired:
        clear_session_cookie(response, secure=settings.secure_cookies)
    if page.csrf_cookie_new and page.csrf_cookie is not None:
        set_csrf_cookie(
            response, page.csrf_cookie, secure=settings.secure_cookies, max_age=settings.anonymous_csrf_seconds
        )
    return apply_security_headers(response)


class PageRoute(APIRoute):
    """Every route of the web's routers is a PageRoute (APIRouter(route_class=PageRoute))."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        inner = super().get_route_handler()
        gate = next((p for p in policies_of(self) if p.session), None)

        async def handler(request: Request) -> Response:
            page = await Page.open(request)
            request.state.page = page
            response: Response
            try:
                # Before the CSRF check: a visitor without a session is sent to sign in, not told
                # that a form they could not have sent expired.
                if gate is not None:
                    page.admit(gate.roles)
                if request.method not in SAFE_METHODS and not await _csrf_ok(page, request):
                    response = page.render(
                        "error.html",
                        status=400,
                        title="This form has expired",
                        message="The form was sent without its security token, or from an old page. "
                        "Go back, reload the page and send it again.",
                    )
                else:
                    response = await inner(request)
            except (SignInRequired, NotPermitted, StepUpRequired, ImpersonationEnded, ServiceUnavailable) as exc:
                response = await _interrupted(page, exc)
            except ServiceError as exc:
                response = _refused(page, exc)
            return await _finish(page, response)

        return handler
