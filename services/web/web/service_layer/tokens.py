"""The user's tokens, kept in the server-side session (they never reach the browser).

- Sign-in stores identity's access and refresh tokens with the claims the menus need.
- Before a call, an access token about to expire is refreshed through identity; refresh tokens
  rotate, and presenting a rotated one again ends the whole session at identity, so the refresh
  runs under a row lock on the session: concurrent requests of one browser refresh once.
- Impersonation (A6R-43) adds a second, short-lived token acting for another user; while it lives
  every call uses it, and the page shows a banner.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from registry_platform.auth import TokenVerifier
from registry_platform.jwks import IdentityKeys, verify
from web.adapters.backends import Backends, ServiceError, ServiceUnavailable
from web.adapters.sessions import SessionStore, WebSession
from web.service_layer.errors import ImpersonationEnded, SignInRequired
from web.settings import WebSettings

# Refresh this long before the access token expires, so a call never carries a dying token.
EXPIRY_MARGIN_SECONDS = 20
# An impersonation token this close to its end is not sent: it could expire on its way.
IMPERSONATION_MARGIN_SECONDS = 2


@dataclass
class WebContext:
    """The web service's adapters, made once at start (bootstrap) and reached by every page."""

    settings: WebSettings
    sessions: SessionStore
    backends: Backends
    verifier: TokenVerifier
    # Identity's JWKS where a URL names it (None otherwise): a token signed with a key identity has
    # just rotated to is verified after reading it again, not refused until the next periodic read.
    identity_keys: IdentityKeys | None


async def claims(ctx: WebContext, token: str) -> dict[str, Any]:
    """The verified token's subject, actor, grants and second-factor time."""
    principal = await verify(ctx.verifier, ctx.identity_keys, token)
    return {
        "sub": principal.subject,
        "act": principal.actor,
        "grants": [g.claim() for g in principal.grants],
        "auth_time": principal.auth_time,
        "amr": list(principal.amr),
    }


async def auth_record(
    ctx: WebContext, answer: dict[str, Any], previous: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What the session keeps of identity's token answer; a step-up answer has no refresh token."""
    now = time.time()
    record = dict(previous or {})
    record.update(
        access=answer["access_token"],
        expires_at=now + float(answer.get("expires_in", 300)),
        minted_at=now,
        identity_session=answer.get("session_id"),
        **await claims(ctx, answer["access_token"]),
    )
    if answer.get("refresh_token"):
        record["refresh"] = answer["refresh_token"]
    return record


async def refresh(ctx: WebContext, session: WebSession, *, force: bool = False) -> dict[str, Any]:
    """Rotate the refresh token (once, however many requests ask at the same time)."""
    current = session.data.get("auth") or {}
    async with ctx.sessions.engine.begin() as conn:
        stored = await ctx.sessions.locked_data(conn, session)
        if stored is None:
            raise SignInRequired("Your session has ended; please sign in again.")
        auth = stored.get("auth") or {}
        if auth.get("access") and auth.get("access") != current.get("access"):
            session.data.update(stored)  # another request refreshed meanwhile
            return dict(auth)
        if not force and auth.get("expires_at", 0) - time.time() > EXPIRY_MARGIN_SECONDS:
            return dict(auth)
        if not auth.get("refresh"):
            raise SignInRequired("Your session has ended; please sign in again.")
        try:
            answer = await ctx.backends.call(
                "identity", "POST", "/sessions/refresh", json={"refresh_token": auth["refresh"]}
            )
        except ServiceError as exc:
            # Only identity's refusal of this refresh ends the sign-in; identity starting, busy or
            # failing (5xx, 429) leaves it for the next request to refresh.
            if exc.status >= 500 or exc.status == 429:
                raise ServiceUnavailable("identity", f"HTTP {exc.status} {exc.code}") from exc
            raise SignInRequired("Your session has ended; please sign in again.") from exc
        fresh = await auth_record(ctx, answer, auth)
        session.data.update(stored)
        session.data["auth"] = fresh
        await ctx.sessions.write_locked(conn, session)
    return fresh


def impersonating(session: WebSession) -> dict[str, Any] | None:
    """The impersonation while it lives, by the margin every use of it follows."""
    imp = session.data.get("impersonation")
    return imp if imp and imp.get("expires_at", 0) - time.time() > IMPERSONATION_MARGIN_SECONDS else None


async def access_token(ctx: WebContext, session: WebSession, *, own: bool = False) -> str:
    """The token to call services with: the impersonation token while it lives (unless `own`).
    An impersonation that ran out ends the request: what it asked for was asked for the user, and
    must not be done as the administrator instead."""
    imp = session.data.get("impersonation")
    if imp and not own:
        if impersonating(session):
            return str(imp["access"])
        session.pop("impersonation")
        session.pop("step_up")
        raise ImpersonationEnded(
            f"The impersonation of {imp.get('label', 'the user')} ended: its time ran out. "
            "Nothing was done; start the impersonation again to go on."
        )
    auth = session.data.get("auth")
    if not auth:
        raise SignInRequired()
    if auth.get("expires_at", 0) - time.time() <= EXPIRY_MARGIN_SECONDS:
        auth = await refresh(ctx, session)
    return str(auth["access"])


def effective(session: WebSession) -> dict[str, Any]:
    """Whose grants the pages follow: the impersonated user's while impersonating."""
    imp = impersonating(session)
    return dict(imp) if imp else dict(session.data.get("auth") or {})
