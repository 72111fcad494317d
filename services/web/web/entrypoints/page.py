"""One web request as the pages see it: the visitor's session, who they act as, their working
context and menu, calls to the services with their token, and rendering."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.responses import Response

from registry_platform.authz import admit_session
from web.adapters.backends import ServiceError
from web.adapters.sessions import WebSession
from web.domain.access import Context, Grant, MenuItem, contexts_for, grants_of, may, menu_for, pick_context
from web.domain.formatting import parse_time
from web.entrypoints.security import (
    cookie_name,
    csrf_cookie_expiry,
    csrf_cookie_name,
    csrf_cookie_token,
    new_csrf_cookie,
)
from web.entrypoints.templating import render
from web.service_layer import tokens
from web.service_layer.errors import ATTEMPT_REFUSED, NotPermitted, SignInRequired, StepUpRequired
from web.service_layer.tokens import WebContext

T = TypeVar("T")


def safe_next(target: str | None, default: str = "/home") -> str:
    """Only paths of this site: no scheme, no host, no protocol-relative '//'."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


class LazyCsrf:
    """The page's CSRF token, asked for only if a template shows a form: pages without forms, such
    as the status board, set no CSRF cookie."""

    def __init__(self, page: Page) -> None:
        self.page = page

    def __str__(self) -> str:
        return self.page.csrf_token()

    def __html__(self) -> str:
        return str(self)


class Page:
    def __init__(
        self,
        request: Request,
        ctx: WebContext,
        session: WebSession | None,
        expired: bool,
        csrf_cookie: str | None = None,
    ) -> None:
        self.request = request
        self.ctx = ctx
        self.session = session
        self.expired = expired
        # The visitor's unexpired CSRF cookie (security.py), and whether this answer sets a new one.
        self.csrf_cookie = csrf_cookie
        self.csrf_cookie_new = False
        # Set when `collect` stopped at its page limit with more to read: the page says it is partial.
        self.partial = False

    @classmethod
    async def open(cls, request: Request) -> Page:
        ctx: WebContext = request.app.state.runtime.state["web"]
        raw = request.cookies.get(cookie_name(ctx.settings.secure_cookies), "")
        session, expired = await ctx.sessions.load(raw) if raw else (None, False)
        csrf_cookie = request.cookies.get(csrf_cookie_name(ctx.settings.secure_cookies))
        expiry = csrf_cookie_expiry(csrf_cookie)
        now = time.time()
        # A cookie the web did not make may name any expiry: one beyond what it sets counts as none.
        live = expiry is not None and now < expiry <= now + ctx.settings.anonymous_csrf_seconds
        return cls(request, ctx, session, expired, csrf_cookie if live else None)

    @staticmethod
    def of(request: Request) -> Page:
        page = request.state.page
        assert isinstance(page, Page)
        return page

    # The session, CSRF and the signed-in user.
    def ensure_session(self) -> WebSession:
        """The visitor's session, made now if they have none (it is stored when the answer goes):
        only for state that must outlive the request, never merely to show a form."""
        if self.session is None or self.session.ended:
            # It keeps the token the visitor's open forms carry (tabs opened before it still work).
            self.session = self.ctx.sessions.new(csrf=self.anonymous_csrf)
        return self.session

    @property
    def anonymous_csrf(self) -> str | None:
        """The token that goes with the visitor's CSRF cookie, if they have a live one."""
        if self.csrf_cookie is None:
            return None
        return csrf_cookie_token(self.ctx.settings.csrf_key, self.csrf_cookie)

    def csrf_token(self) -> str:
        """The token this page's forms send back: the session's if there is one; otherwise the one
        bound to the visitor's CSRF cookie, which is set (or renewed, past half its life) instead of
        storing an anonymous session."""
        if self.session is not None and not self.session.ended:
            return self.session.csrf
        lifetime = self.ctx.settings.anonymous_csrf_seconds
        now = time.time()
        cookie = self.csrf_cookie
        expiry = csrf_cookie_expiry(cookie)
        if cookie is None or expiry is None or expiry - now < lifetime / 2:
            cookie = new_csrf_cookie(now, lifetime)
            self.csrf_cookie, self.csrf_cookie_new = cookie, True
        return csrf_cookie_token(self.ctx.settings.csrf_key, cookie)

    @property
    def signed_in(self) -> bool:
        return self.session is not None and not self.session.ended and bool(self.session.data.get("auth"))

    def user_session(self) -> WebSession:
        if not self.signed_in:
            raise SignInRequired("Your session has expired; please sign in again." if self.expired else "")
        assert self.session is not None
        return self.session

    @property
    def acting(self) -> dict[str, Any]:
        return tokens.effective(self.user_session())

    @property
    def impersonation(self) -> dict[str, Any] | None:
        return None if self.session is None else tokens.impersonating(self.session)

    @property
    def grants(self) -> list[Grant]:
        return grants_of(self.acting.get("grants", []))

    @property
    def contexts(self) -> list[Context]:
        return contexts_for(self.grants)

    @property
    def context(self) -> Context | None:
        wanted = self.session.data.get("context") if self.session else None
        return pick_context(self.contexts, wanted)

    @property
    def menu(self) -> list[MenuItem]:
        return menu_for(self.context, self.grants)

    def may(self, function: str, section: str | None = None) -> bool:
        return self.signed_in and may(self.grants, function, section)

    def admit(self, roles: frozenset[str]) -> None:
        """The route's `session` policy: signed in, and holding one of `roles` (if any) in any scope."""
        self.user_session()
        if roles and not any(g.role in roles for g in self.grants):
            raise NotPermitted()
        admit_session(self.request)

    def require(self, function: str, section: str | None = None) -> None:
        self.user_session()
        if not may(self.grants, function, section):
            raise NotPermitted()

    def flash(self, message: str, kind: str = "info") -> None:
        self.ensure_session().flash(message, kind)

    @property
    def client_address(self) -> str | None:
        return self.request.client.host if self.request.client else None

    # Calls to the services with the user's token.
    async def _authorized(self, call: Callable[[str], Awaitable[T]], *, own: bool = False) -> T:
        session = self.user_session()
        for attempt in range(2):
            token = await tokens.access_token(self.ctx, session, own=own)
            try:
                return await call(token)
            except ServiceError as exc:
                if exc.status != 401 or exc.code in ATTEMPT_REFUSED:
                    raise
                if exc.code == "step_up_required":
                    raise StepUpRequired(exc.message) from exc
                if self.impersonation and not own:
                    session.pop("impersonation")
                    raise NotPermitted(f"The impersonation ended: {exc.message}") from exc
                if attempt == 0 and exc.code in ("invalid_token", "not_authenticated"):
                    await tokens.refresh(self.ctx, session, force=True)
                    continue
                # The pipeline ends the session (pipeline._interrupted).
                raise SignInRequired(f"{exc.message} Please sign in again.") from exc
        raise AssertionError("unreachable")

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        own: bool = False,
    ) -> Any:
        backends = self.ctx.backends
        return await self._authorized(
            lambda token: backends.call(
                service, method, path, token=token, json=json, params=params, client_address=self.client_address
            ),
            own=own,
        )

    async def propose(self, command: dict[str, Any], transaction_id: str | None = None) -> tuple[int, Any]:
        """A ledger transaction under the web's own id for it (idempotent on repeats)."""
        tx = transaction_id or str(uuid.uuid4())
        backends = self.ctx.backends
        return await self._authorized(
            lambda token: backends.call_with_status("ledger", "PUT", f"/transactions/{tx}", token=token, json=command)
        )

    async def collect(
        self, service: str, path: str, params: dict[str, Any] | None = None, *, pages: int = 20, limit: int = 500
    ) -> list[dict[str, Any]]:
        """Every item of a paginated listing ({items, next}), up to `pages` pages; if there were
        more, `partial` is set and the page shown says so."""
        items: list[dict[str, Any]] = []
        cursor_name = "cursor" if service == "identity" else "after"
        query = {**(params or {}), "limit": limit}
        for _ in range(pages):
            answer = await self.call(service, "GET", path, params=query)
            items += answer.get("items", [])
            if not answer.get("next"):
                return items
            query[cursor_name] = answer["next"]
        self.partial = True
        return items

    # Forms and answers.
    def instant(self, params: dict[str, Any], errors: dict[str, str]) -> tuple[datetime | None, str]:
        """The page's `at` query parameter (an instant, UTC) and its text: put into `params` for the
        service, or a problem into `errors`."""
        text = self.request.query_params.get("at", "")
        at = parse_time(text) if text else None
        if text and at is None:
            errors["at"] = "Give a date and time, e.g. 2026-01-31T12:00."
        elif at is not None:
            params["at"] = at.isoformat()
        return at, text

    async def form(self) -> dict[str, str]:
        data = await self.request.form()
        return {k: v.strip() for k, v in data.items() if isinstance(v, str)}

    async def form_list(self, name: str) -> list[str]:
        data = await self.request.form()
        return [v for v in data.getlist(name) if isinstance(v, str) and v]

    def values(self) -> dict[str, Any]:
        session = self.session
        signed_in = self.signed_in
        return {
            "page": self,
            "signed_in": signed_in,
            "acting": self.acting if signed_in else {},
            "me": (session.data.get("me") or {}) if session else {},
            "contexts": self.contexts if signed_in else [],
            "context": self.context if signed_in else None,
            "menu": self.menu if signed_in else [],
            "impersonation": self.impersonation,
            "csrf": LazyCsrf(self),
            "flashes": session.take_flashes() if session else [],
            "path": self.request.url.path,
            "params": dict(self.request.query_params),
        }

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        return HTMLResponse(render(template, {**self.values(), **values}), status_code=status)

    def redirect(self, url: str) -> Response:
        if self.request.headers.get("hx-request"):
            return Response(status_code=204, headers={"HX-Redirect": url})
        return RedirectResponse(url, status_code=303)
