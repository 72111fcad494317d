"""What happens to a running session: refresh (rotation with reuse detection), step-up, sign-out,
and impersonation (A6R-43)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from identity.adapters.hashing import token_hash
from identity.domain.errors import Refused
from identity.service_layer import factors, login
from identity.service_layer.throttling import account_failed
from identity.service_layer.tokens import acr_for, active_grants, mint_access, revoke_session, token_response
from identity.service_layer.unit import Actor, Identity, new_id
from registry_platform.auth import REGISTRY_ADMINISTRATOR, SYSTEM_ADMINISTRATOR, Principal

# An administrator acting as another registry or system administrator would borrow powers that the
# hierarchy gives only to that person (A6R-43 is about acting for users, within their rights).
NOT_IMPERSONABLE = frozenset({REGISTRY_ADMINISTRATOR, SYSTEM_ADMINISTRATOR})


async def refresh(identity: Identity, presented: str) -> dict[str, Any]:
    refusal: Refused
    async with identity.unit() as unit:
        row = (
            await unit.conn.execute(
                text(
                    "SELECT r.status, r.expires_at, s.id::text AS session_id, s.user_id::text AS user_id, "
                    "s.status AS session_status, u.access FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id "
                    "JOIN users u ON u.id = s.user_id WHERE r.token_hash = :h FOR UPDATE OF r, s"
                ),
                {"h": token_hash(presented)},
            )
        ).first()
        if row is None:
            raise Refused(401, "invalid_refresh_token", "This refresh token is not known.")
        user = Actor(row.user_id)
        if row.status != "active":
            # A rotated (or revoked) token came back: someone holds a copy. End the whole family.
            await revoke_session(unit, user, row.session_id, row.user_id, "refresh token reused")
            await unit.record("session.refresh_reuse_detected", user, subject=row.user_id, session_id=row.session_id)
            refusal = Refused(401, "refresh_token_reused", "This refresh token was already used; sign in again.")
        elif row.session_status != "active" or row.expires_at <= unit.now:
            raise Refused(401, "invalid_refresh_token", "This refresh token has expired; sign in again.")
        elif row.access != "active":
            raise Refused(403, "user_suspended", "Access to the registry is suspended for this user.")
        else:
            await unit.conn.execute(
                text("UPDATE refresh_tokens SET status = 'rotated', used_at = :now WHERE token_hash = :h"),
                {"now": unit.now, "h": token_hash(presented)},
            )
            session = (
                await unit.conn.execute(
                    text("SELECT id, user_id, amr, auth_time, expires_at FROM sessions WHERE id = :id"),
                    {"id": row.session_id},
                )
            ).one()
            await unit.record("session.refreshed", user, subject=row.user_id, session_id=row.session_id)
            return await token_response(identity, unit, session)
    raise refusal


async def logout(identity: Identity, caller: Principal) -> None:
    if caller.session is None:
        raise Refused(409, "no_session", "This token belongs to no sign-in session.")
    async with identity.unit() as unit:
        await revoke_session(unit, _actor(caller), caller.session, caller.subject, "signed out")


def _actor(caller: Principal) -> Actor:
    return Actor(caller.subject, caller.grants, caller.actor, caller.session)


async def _own_session(unit: Any, caller: Principal) -> Any:
    if caller.actor is not None:
        raise Refused(403, "impersonation_cannot_step_up", "An impersonation token cannot be stepped up.")
    row = (
        await unit.conn.execute(
            text(
                "SELECT s.id, s.user_id, s.amr, s.status, s.expires_at, s.failed_mfa, u.locked_at "
                "FROM sessions s JOIN users u ON u.id = s.user_id "
                "WHERE s.id = :id AND s.user_id = :u FOR UPDATE OF s"
            ),
            {"id": caller.session, "u": caller.subject},
        )
    ).first()
    if row is None or row.status != "active" or row.expires_at <= unit.now:
        raise Refused(401, "session_revoked", "This sign-in session has ended; sign in again.")
    if row.locked_at is not None:
        raise login.account_locked()
    return row


async def step_up_options(identity: Identity, caller: Principal) -> dict[str, Any]:
    async with identity.unit() as unit:
        await _own_session(unit, caller)
        raw, options = await factors.authentication_options(identity, unit.conn, caller.subject)
        await unit.conn.execute(
            text(
                "INSERT INTO webauthn_challenges (id, user_id, purpose, challenge, expires_at) "
                "VALUES (:id, :u, 'step_up', :c, :exp)"
            ),
            {"id": new_id(), "u": caller.subject, "c": raw, "exp": unit.now + timedelta(minutes=5)},
        )
    return dict(json.loads(options))


async def step_up(
    identity: Identity,
    caller: Principal,
    method: str,
    *,
    code: str | None = None,
    credential: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A fresh second factor renews the session's auth_time: elevated operations elsewhere accept
    it for five minutes (the decision point checks `auth_time`)."""
    refusal: Refused
    async with identity.unit() as unit:
        session = await _own_session(unit, caller)
        challenge = None
        if method == "webauthn":
            challenge = await unit.conn.scalar(
                text(
                    "UPDATE webauthn_challenges SET used_at = :now WHERE id = (SELECT id FROM webauthn_challenges "
                    "WHERE user_id = :u AND purpose = 'step_up' AND used_at IS NULL AND expires_at > :now "
                    "ORDER BY expires_at DESC LIMIT 1) RETURNING challenge"
                ),
                {"now": unit.now, "u": caller.subject},
            )
        actor = _actor(caller)
        proved = await factors.prove(
            identity,
            unit,
            caller.subject,
            method,
            code=code,
            credential=credential,
            challenge=bytes(challenge) if challenge else None,
        )
        if proved is None:
            # As at sign-in: a few wrong codes end the session, and they count towards the account's
            # lock, so a stolen session cannot guess its way to a fresh second factor.
            locked = await account_failed(identity, unit, caller.subject)
            failures = session.failed_mfa + 1
            await unit.conn.execute(
                text("UPDATE sessions SET failed_mfa = :n WHERE id = :id"), {"n": failures, "id": session.id}
            )
            await unit.record("session.step_up_refused", actor, subject=caller.subject, method=method)
            if failures >= identity.settings.mfa_failures_per_session or locked:
                await revoke_session(unit, actor, session.id, caller.subject, "too many second-factor failures")
            refusal = Refused(401, "invalid_second_factor", "The second factor was not accepted.")
        else:
            amr = ["pwd", factors.AMR[method]]
            session = (
                await unit.conn.execute(
                    text(
                        "UPDATE sessions SET auth_time = :now, amr = :amr, acr = :acr, failed_mfa = 0 WHERE id = :id "
                        "RETURNING id, user_id, amr, auth_time, expires_at"
                    ),
                    {"now": unit.now, "amr": amr, "acr": acr_for(amr), "id": caller.session},
                )
            ).one()
            await unit.record(
                "session.stepped_up",
                actor,
                subject=caller.subject,
                session_id=caller.session,
                method=method,
                credential_id=proved,
            )
            return await token_response(identity, unit, session, refresh=False)
    raise refusal


async def impersonate(identity: Identity, caller: Principal, user_id: str, reason: str) -> dict[str, Any]:
    """A registry administrator acts for a user (A6R-43): the token carries exactly the user's active
    grants, never the administrator's, and names the administrator in `act` (RFC 8693)."""
    if caller.actor is not None:
        raise Refused(403, "already_impersonating", "An impersonation token cannot impersonate again.")
    if user_id == caller.subject:
        raise Refused(422, "cannot_impersonate_self", "You cannot impersonate yourself.")
    lifetime = identity.settings.impersonation_token_seconds
    async with identity.unit() as unit:
        user = (
            await unit.conn.execute(text("SELECT access, anonymised_at FROM users WHERE id = :u"), {"u": user_id})
        ).first()
        if user is None or user.anonymised_at is not None:
            raise Refused(404, "unknown_user", f"There is no user {user_id}.")
        if user.access != "active":
            raise Refused(409, "user_suspended", "Access to the registry is suspended for this user.")
        grants = await active_grants(unit.conn, user_id)
        if any(g.role in NOT_IMPERSONABLE for g in grants):
            raise Refused(
                403, "cannot_impersonate_administrator", "Administrators of the registry cannot be impersonated."
            )
        session_id = new_id()
        amr = list(caller.amr) or ["pwd", "otp"]
        auth_time = unit.now if caller.auth_time is None else _at(caller.auth_time)
        await unit.conn.execute(
            text(
                "INSERT INTO sessions (id, user_id, actor, status, client, amr, acr, auth_time, created_at, "
                "expires_at) "
                "VALUES (:id, :u, :a, 'active', 'impersonation', :amr, :acr, :at, :now, :exp)"
            ),
            {
                "id": session_id,
                "u": user_id,
                "a": caller.subject,
                "amr": amr,
                "acr": acr_for(amr),
                "at": auth_time,
                "now": unit.now,
                "exp": unit.now + timedelta(seconds=lifetime),
            },
        )
        token = await mint_access(
            identity,
            unit.conn,
            user_id=user_id,
            session_id=session_id,
            amr=amr,
            auth_time=auth_time,
            now=unit.now,
            actor=caller.subject,
            lifetime=lifetime,
            # The grants just checked: read again, one granted meanwhile could slip in unchecked.
            grants=grants,
        )
        await unit.record(
            "impersonation.started",
            Actor(caller.subject, caller.grants, session=caller.session),
            subject=user_id,
            session_id=session_id,
            reason=reason,
            lifetime=lifetime,
        )
    return {"access_token": token, "token_type": "Bearer", "expires_in": lifetime, "session_id": session_id}


def _at(unix: int) -> datetime:
    return datetime.fromtimestamp(unix, UTC)
