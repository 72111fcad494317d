"""Access tokens, sessions and rotating refresh tokens.

A session is one sign-in: it starts `pending` after the password (no token yet), becomes `active`
once a second factor is proven (A6R-6) and ends `revoked`. Its refresh tokens form one family:
each refresh rotates the token, and presenting a rotated token again (a stolen copy racing the
real client) revokes the whole session, announced as `identity.SessionRevoked`.

Tokens carry only the user's active grants, read at minting time, so a suspended or revoked grant
never reaches a new token; grants of roles that require a hardware key (A6R-7) reach only tokens
of sessions whose second factor was WebAuthn.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from identity.adapters.hashing import new_token, token_hash
from identity.service_layer.unit import Actor, Identity, Unit
from registry_platform.auth import Grant

HARDWARE = "hwk"


def acr_for(amr: list[str]) -> str:
    return "mfa-hwk" if HARDWARE in amr else "mfa"


async def active_grants(conn: AsyncConnection, user_id: str) -> list[Grant]:
    rows = await conn.execute(
        text(
            "SELECT id::text, role, section, account, cooperative_approach FROM grants "
            "WHERE user_id = :u AND status = 'active' ORDER BY granted_at, id"
        ),
        {"u": user_id},
    )
    return [Grant(r.role, r.section, r.account, r.cooperative_approach, r.id) for r in rows]


def usable(identity: Identity, grants: list[Grant], amr: list[str]) -> list[Grant]:
    if HARDWARE in amr:
        return grants
    return [g for g in grants if g.role not in identity.settings.hardware_key_roles]


async def mint_access(
    identity: Identity,
    conn: AsyncConnection,
    *,
    user_id: str,
    session_id: str | None,
    amr: list[str],
    auth_time: datetime,
    now: datetime,
    actor: str | None = None,
    lifetime: int | None = None,
    grants: list[Grant] | None = None,
) -> str:
    """An access token with the user's active grants, or with `grants` when the caller already read
    (and checked) them in this transaction."""
    held = await active_grants(conn, user_id) if grants is None else grants
    return identity.keys.mint(
        user_id,
        usable(identity, held, amr),
        actor=actor,
        session=session_id,
        auth_time=int(auth_time.timestamp()),
        amr=tuple(amr),
        acr=acr_for(amr),
        lifetime=lifetime or identity.settings.access_token_seconds,
        now=now.timestamp(),
    )


async def new_refresh_token(identity: Identity, unit: Unit, session_id: str, session_expires: datetime) -> str:
    token = new_token(32)
    expires = min(unit.now + timedelta(seconds=identity.settings.refresh_token_seconds), session_expires)
    await unit.conn.execute(
        text(
            "INSERT INTO refresh_tokens (token_hash, session_id, status, issued_at, expires_at) "
            "VALUES (:h, :s, 'active', :now, :exp)"
        ),
        {"h": token_hash(token), "s": session_id, "now": unit.now, "exp": expires},
    )
    return token


async def token_response(identity: Identity, unit: Unit, session: Any, *, refresh: bool = True) -> dict[str, Any]:
    access = await mint_access(
        identity,
        unit.conn,
        user_id=str(session.user_id),
        session_id=str(session.id),
        amr=list(session.amr),
        auth_time=session.auth_time,
        now=unit.now,
    )
    body: dict[str, Any] = {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": identity.settings.access_token_seconds,
        "session_id": str(session.id),
    }
    if refresh:
        body["refresh_token"] = await new_refresh_token(identity, unit, str(session.id), session.expires_at)
    return body


async def revoke_session(unit: Unit, actor: Actor, session_id: str, user_id: str, reason: str) -> bool:
    """End a session and its refresh tokens at once, and tell every decision point."""
    ended = await unit.conn.execute(
        text(
            "UPDATE sessions SET status = 'revoked', revoked_at = :now, revoke_reason = :r, challenge_hash = NULL "
            "WHERE id = :s AND status <> 'revoked'"
        ),
        {"now": unit.now, "r": reason, "s": session_id},
    )
    await unit.conn.execute(
        text("UPDATE refresh_tokens SET status = 'revoked' WHERE session_id = :s AND status = 'active'"),
        {"s": session_id},
    )
    if not ended.rowcount:
        return False
    unit.publish(
        "identity.SessionRevoked",
        {"session_id": session_id, "user_id": user_id, "reason": reason, "revoked_at": unit.now.isoformat()},
        key=user_id,
    )
    await unit.record("session.revoked", actor, subject=user_id, session_id=session_id, reason=reason)
    return True


async def revoke_user_sessions(unit: Unit, actor: Actor, user_id: str, reason: str, keep: str | None = None) -> int:
    rows = await unit.conn.execute(
        text(
            "SELECT id::text, user_id::text FROM sessions WHERE (user_id = :u OR actor = :u) AND status <> 'revoked' "
            "AND id::text <> :keep"
        ),
        {"u": user_id, "keep": keep or ""},
    )
    ended = 0
    for session_id, owner in rows.all():
        ended += await revoke_session(unit, actor, session_id, owner, reason)
    return ended


async def end_impersonations(unit: Unit, actor: Actor, administrator: str, reason: str) -> None:
    """End the impersonation sessions an administrator started."""
    rows = await unit.conn.execute(
        text("SELECT id::text, user_id::text FROM sessions WHERE actor = :a AND status <> 'revoked'"),
        {"a": administrator},
    )
    for session_id, user_id in rows.all():
        await revoke_session(unit, actor, session_id, user_id, reason)
