"""The authorization decision point every service's endpoints use (A6R-12, A6R-51; A6R-25 g, h).

Each route declares exactly one policy: `require(role, ...)` (the caller must hold one of these roles,
in any scope; finer scope checks follow in the service layer with `Principal.has`), `authenticated()`
(any signed-in caller, for self-service), `session(role, ...)` (the web's pages: a signed-in web
session, see `session`) or `public()`.
The policies are data on the routes, so the authorization matrix (docs/authorization-matrix.csv) is
generated from the running code and a test compares it with the committed table.

The live `AccessState` is applied to every request, after the token's signature: grants suspended or
revoked, sessions revoked and users suspended since the token was minted stop working at once, fed
by identity's `identity.access` topic (see `AccessFeed`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute, iter_route_contexts

from registry_platform.auth import Principal, TokenVerifier
from registry_platform.errors import RegistryError
from registry_platform.jwks import IdentityKeys, verify

# Elevated operations need a second factor proven this recently (issue 4, step-up).
STEP_UP_SECONDS = 300


class AccessState:
    """What identity has withdrawn since tokens were minted. Mutated only by the feed.

    Not `current` until the feed has read identity's topic up to date: until then every bearer
    request is refused (503), for a withdrawn grant, ended session or suspended user would pass."""

    def __init__(self, *, current: bool = True) -> None:
        self.current = current
        # Why this service cannot know what identity withdrew (an access event it cannot read):
        # until it is upgraded, every bearer request is refused rather than decided without it.
        self.unreadable: str | None = None
        self.withdrawn_grants: set[str] = set()
        self.revoked_sessions: set[str] = set()
        self.suspended_users: set[str] = set()

    def adopt(self, other: AccessState) -> None:
        """Take `other`'s withdrawals (a feed's replay from the beginning, now up to date) at once."""
        self.withdrawn_grants = other.withdrawn_grants
        self.revoked_sessions = other.revoked_sessions
        self.suspended_users = other.suspended_users
        self.unreadable = self.unreadable or other.unreadable
        self.current = True

    def grant_changed(self, grant_id: str, status: str) -> None:
        if status == "active":
            self.withdrawn_grants.discard(grant_id)
        else:
            self.withdrawn_grants.add(grant_id)

    def session_revoked(self, session_id: str) -> None:
        self.revoked_sessions.add(session_id)

    def user_access_changed(self, user_id: str, status: str) -> None:
        if status == "active":
            self.suspended_users.discard(user_id)
        else:
            self.suspended_users.add(user_id)

    def apply(self, principal: Principal) -> Principal:
        """The principal as identity sees it now: 401 for a dead session or user, fewer grants if
        some were withdrawn."""
        if self.unreadable is not None:
            raise RegistryError(
                503,
                "access_events_unreadable",
                f"This service cannot read identity's withdrawals ({self.unreadable}) and decides nothing "
                "without them; it must be upgraded to identity's event schema.",
            )
        if not self.current:
            raise RegistryError(
                503,
                "access_state_catching_up",
                "This service is still reading which sessions and authorizations were withdrawn; retry in a moment.",
                headers={"Retry-After": "1"},
            )
        if principal.session is not None and principal.session in self.revoked_sessions:
            raise RegistryError(401, "session_revoked", "This sign-in session was ended; sign in again.")
        for user in (principal.subject, principal.actor):
            if user is not None and user in self.suspended_users:
                raise RegistryError(401, "user_suspended", "Access to the registry is suspended for this user.")
        if not self.withdrawn_grants:
            return principal
        kept = tuple(g for g in principal.grants if g.id is None or g.id not in self.withdrawn_grants)
        return principal if len(kept) == len(principal.grants) else replace(principal, grants=kept)


@dataclass(frozen=True)
class Policy:
    """Who may call one endpoint. Instances are FastAPI dependencies and the matrix's source."""

    roles: frozenset[str]
    step_up: bool = False
    public: bool = False
    # Any verified caller, whatever the grants: a user's own profile and credentials (A6R-13:
    # users exist before they hold any user authorization).
    any_grant: bool = False
    # A web page: the web's own sessions decide (`session`); `roles` empty means any signed-in user.
    session: bool = False
    # A POST that changes nothing (a preview): logged like a read.
    reads: bool = False

    async def __call__(self, request: Request) -> None:
        if self.public:
            return
        if self.session:
            # Fail closed: only the web's pipeline knows its sessions and marks the request admitted.
            if not getattr(request.state, "session_admitted", False):
                raise RegistryError(401, "not_authenticated", "This page needs a signed-in web session.")
            return
        principal = await _authenticate(request)
        if not self.any_grant and not any(g.role in self.roles for g in principal.grants):
            self._track(request, principal, "refused")
            raise RegistryError(
                403,
                "not_authorized",
                "Your user authorizations do not include this function; ask your administrator for access.",
                required_roles=sorted(self.roles),
            )
        if self.step_up:
            require_recent_mfa(principal)
        self._track(request, principal, "admitted")
        request.state.principal = principal

    def _track(self, request: Request, principal: Principal, outcome: str) -> None:
        if self.reads or request.method in READS:
            _log_read(request, principal, outcome)


# Reads leave no journal entry, so each is logged with who made it (A6R-25 j), the administrator
# acting on a user's behalf too (A6R-43). Writes are journaled with both by the services that record them.
access_log = logging.getLogger("registry.access")
READS = frozenset({"GET", "HEAD"})


def _log_read(request: Request, principal: Principal, outcome: str) -> None:
    fields = {
        "outcome": outcome,
        "subject": principal.subject,
        "actor": principal.actor,
        "caller_service": principal.service,
        "method": request.method,
        "path": request.url.path,
        "query": request.url.query,
    }
    access_log.info("%s %s %s", outcome, request.method, request.url.path, extra={"fields": fields})


def second_factor_recent(auth_time: float | None) -> bool:
    """Whether a second factor proven at `auth_time` (epoch seconds) still counts for step-up."""
    return auth_time is not None and time.time() - auth_time <= STEP_UP_SECONDS


def require_recent_mfa(principal: Principal) -> None:
    """Step-up: refuse with 401 and an RFC 9470 challenge unless a second factor is recent."""
    if not second_factor_recent(principal.auth_time):
        raise RegistryError(
            401,
            "step_up_required",
            f"This operation needs a second factor proven in the last {STEP_UP_SECONDS // 60} minutes; "
            "confirm with your authenticator and retry.",
            max_age=STEP_UP_SECONDS,
            # RFC 9470: the client learns it must re-authenticate with a fresh second factor.
            headers={"WWW-Authenticate": f'Bearer error="insufficient_user_authentication", max_age={STEP_UP_SECONDS}'},
        )


def require(*roles: str, step_up: bool = False, reads: bool = False) -> Any:
    """Route dependency: the caller holds at least one of `roles` (in any scope). `reads`: a POST
    that changes nothing, logged as a read."""
    if not roles:
        raise ValueError("require() needs at least one role; use public() for open endpoints")
    return Depends(Policy(frozenset(roles), step_up=step_up, reads=reads))


def authenticated(*, step_up: bool = False) -> Any:
    """Route dependency: any signed-in caller, with or without grants (self-service endpoints)."""
    return Depends(Policy(frozenset(), step_up=step_up, any_grant=True))


def session(*roles: str) -> Any:
    """Route dependency for the web's pages: a signed-in web session and, if `roles` are named, one of
    them in any scope (the page checks the scope). Browsers carry a session cookie, not a bearer
    token, so the web's pipeline checks its own session before the page runs and calls
    `admit_session`; a route without that pipeline refuses everyone."""
    return Depends(Policy(frozenset(roles), session=True))


def admit_session(request: Request) -> None:
    """The web's pipeline found the visitor's session meets the route's `session` policy."""
    request.state.session_admitted = True


def policies_of(route: APIRoute) -> list[Policy]:
    """The policies a route declares (exactly one, the matrix insists)."""
    return [d.call for d in route.dependant.dependencies if isinstance(d.call, Policy)]


def public() -> Any:
    """Route dependency marking an endpoint anyone may call (sign-in, JWKS, health)."""
    return Depends(Policy(frozenset(), public=True))


async def _authenticate(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise RegistryError(401, "not_authenticated", "Send an access token: 'Authorization: Bearer <token>'.")
    verifier: TokenVerifier = request.app.state.token_verifier
    keys: IdentityKeys | None = getattr(request.app.state, "identity_keys", None)
    access: AccessState = request.app.state.access_state
    return access.apply(await verify(verifier, keys, token.strip()))


async def current_principal(request: Request) -> Principal:
    """The principal the route's policy admitted. Async, so FastAPI runs it on the event loop."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        raise RegistryError(401, "not_authenticated", "This endpoint has no caller; it is public.")
    assert isinstance(principal, Principal)
    return principal


Caller = Annotated[Principal, Depends(current_principal)]


def route_policies(app: FastAPI) -> Iterator[tuple[str, set[str], list[Policy]]]:
    """Every API route of an app (path, methods) with the policies it declares; the matrix reads this.
    Routers are included lazily by FastAPI, so walk the effective route contexts."""
    for context in iter_route_contexts(app.routes):
        route = context.route
        if isinstance(route, APIRoute):
            yield context.path or "", set(context.methods or ()), policies_of(route)
