"""What every identity router shares: the service kernel, the caller as an Actor, the client's
address, pages, and the one policy for self-service endpoints."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from pydantic import BaseModel

from identity.domain.errors import Refused
from identity.service_layer.unit import Actor, Identity
from registry_platform.auth import Principal
from registry_platform.authz import Caller, authenticated
from registry_platform.errors import RegistryError


def _identity(request: Request) -> Identity:
    identity = request.app.state.runtime.state.get("identity")
    if identity is None:
        raise RegistryError(503, "identity_starting", "The identity service is starting; retry in a moment.")
    assert isinstance(identity, Identity)
    return identity


Service = Annotated[Identity, Depends(_identity)]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size")]
# A log sequence to page from: within PostgreSQL's bigint, so a huge number is a 422, not a 500.
LogSequence = Annotated[int, Query(ge=0, le=2**63 - 1)]


def client_address(request: Request) -> str:
    """The client's address; behind a trusted proxy, the last address it appended."""
    host = request.client.host if request.client else "unknown"
    identity = request.app.state.runtime.state.get("identity")
    forwarded = request.headers.get("x-forwarded-for")
    if identity is not None and forwarded and host in identity.settings.trusted_proxies:
        return forwarded.split(",")[-1].strip() or host
    return host


Client = Annotated[str, Depends(client_address)]


async def _signed_in_user(identity: Service, caller: Caller) -> Principal:
    """The caller, whose token identity minted for a sign-in (or impersonation) session of this
    registry that is still running. Every service holds the shared key, so in production a token it
    signs names no user; and a token without a running session could only be such a forgery."""
    if caller.service_key or caller.session is None:
        raise Refused(401, "no_session", "This token belongs to no sign-in session; sign in again.")
    try:
        # Identity mints session and user ids as UUIDs; anything else was never one of its sessions.
        session, user = str(uuid.UUID(caller.session)), str(uuid.UUID(caller.subject))
        acting = str(uuid.UUID(caller.actor)) if caller.actor else None
        running = await identity.session_running(session, user, acting)
    except ValueError:
        running = False
    if not running:
        raise Refused(401, "session_revoked", "This sign-in session has ended; sign in again.")
    return caller


SignedIn = Annotated[Principal, Depends(_signed_in_user)]


def actor(caller: Principal) -> Actor:
    return Actor(caller.subject, caller.grants, caller.actor, caller.session)


def signed_in(step_up: bool = False) -> Any:
    """Self-service endpoints: any signed-in user, with or without grants (A6R-13)."""
    return authenticated(step_up=step_up)


def not_impersonating(caller: Principal, what: str = "Credentials") -> None:
    """Credentials, and the contacts that carry activation codes, are the user's own: an
    impersonating administrator may not touch them."""
    if caller.actor is not None:
        raise Refused(403, "not_while_impersonating", f"{what} cannot be changed while impersonating.")


class Page(BaseModel):
    items: list[dict[str, Any]]
    next: str | int | None = None
