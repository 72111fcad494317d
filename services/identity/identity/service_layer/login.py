"""Signing in (A6R-6): a password opens a pending session and returns an MFA challenge, never a
token; only a second factor turns the session active and yields an access and a refresh token.

Failures cost the client time (429 with Retry-After, see domain.throttle) and count against the
account, which locks after a run of them; a locked account refuses every sign-in without even
checking the password, until an administrator unlocks it. It refuses with the answer a wrong
password gets, so the answer never tells whether an email address has an account.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import text

from identity.adapters.hashing import new_token, token_hash
from identity.domain.errors import Refused
from identity.domain.people import normalise_email
from identity.service_layer import factors
from identity.service_layer.throttling import (
    account_failed,
    check_client,
    client_failed,
    client_succeeded,
)
from identity.service_layer.tokens import acr_for, revoke_session, token_response
from identity.service_layer.unit import Actor, Identity, new_id

_BAD_PASSWORD = Refused(
    401,
    "invalid_credentials",
    "The email address or the password is not right, or the account is locked after failed sign-ins "
    "(an administrator can unlock it).",
)


def account_locked() -> Refused:
    return Refused(423, "account_locked", "This account is locked after failed sign-ins; ask an administrator.")


async def password(identity: Identity, email: str, secret: str, client: str) -> dict[str, Any]:
    refusal: Refused | None = None
    async with identity.unit() as unit:
        await check_client(unit, client)
        user = (
            await unit.conn.execute(
                text("SELECT id::text, access, locked_at FROM users WHERE email_key = :e FOR UPDATE"),
                {"e": normalise_email(email)},
            )
        ).first()
        if user is not None and user.locked_at is not None:
            await client_failed(identity, unit, client)
            refusal = _BAD_PASSWORD
        else:
            stored = None
            if user is not None:
                stored = await unit.conn.scalar(
                    text(
                        "SELECT secret FROM credentials WHERE user_id = :u AND kind = 'password' AND status = 'active'"
                    ),
                    {"u": user.id},
                )
            if user is None or not await identity.passwords.verify(stored, secret):
                await client_failed(identity, unit, client)
                if user is not None:
                    await account_failed(identity, unit, user.id)
                    await unit.record("session.password_refused", Actor(user.id), subject=user.id)
                refusal = _BAD_PASSWORD
            elif user.access != "active":
                refusal = Refused(403, "user_suspended", "Access to the registry is suspended for this user.")
            else:
                methods = await factors.available_methods(unit.conn, user.id)
                if not methods:
                    refusal = Refused(403, "no_second_factor", "This account has no second factor; ask for activation.")
                else:
                    challenge = new_token(32)
                    session_id = new_id()
                    expires = unit.now + timedelta(seconds=identity.settings.mfa_challenge_seconds)
                    await unit.conn.execute(
                        text(
                            "INSERT INTO sessions (id, user_id, status, challenge_hash, client, amr, created_at, "
                            "expires_at) VALUES (:id, :u, 'pending', :h, :c, ARRAY['pwd'], :now, :exp)"
                        ),
                        {
                            "id": session_id,
                            "u": user.id,
                            "h": token_hash(challenge),
                            "c": client,
                            "now": unit.now,
                            "exp": expires,
                        },
                    )
                    await unit.record(
                        "session.password_verified", Actor(user.id), subject=user.id, session_id=session_id
                    )
                    return {
                        "challenge_id": challenge,
                        "methods": methods,
                        "expires_in": identity.settings.mfa_challenge_seconds,
                    }
    assert refusal is not None
    raise refusal


async def _pending(unit: Any, challenge: str) -> Any:
    session = (
        await unit.conn.execute(
            text(
                "SELECT s.id::text, s.user_id::text, s.failed_mfa, s.webauthn_challenge, s.expires_at, "
                "u.locked_at, u.access FROM sessions s JOIN users u ON u.id = s.user_id "
                "WHERE s.challenge_hash = :h AND s.status = 'pending' FOR UPDATE OF s"
            ),
            {"h": token_hash(challenge)},
        )
    ).first()
    if session is None or session.expires_at <= unit.now:
        raise Refused(401, "invalid_challenge", "This sign-in challenge is unknown or expired; sign in again.")
    return session


async def webauthn_options(identity: Identity, challenge: str) -> dict[str, Any]:
    async with identity.unit() as unit:
        session = await _pending(unit, challenge)
        raw, options = await factors.authentication_options(identity, unit.conn, session.user_id)
        await unit.conn.execute(
            text("UPDATE sessions SET webauthn_challenge = :c WHERE id = :id"), {"c": raw, "id": session.id}
        )
    return dict(json.loads(options))


async def second_factor(
    identity: Identity,
    challenge: str,
    method: str,
    client: str,
    *,
    code: str | None = None,
    credential: dict[str, Any] | None = None,
) -> dict[str, Any]:
    refusal: Refused
    async with identity.unit() as unit:
        await check_client(unit, client)
        session = await _pending(unit, challenge)
        user = session.user_id
        if session.locked_at is not None:
            raise account_locked()
        if session.access != "active":
            raise Refused(403, "user_suspended", "Access to the registry is suspended for this user.")
        proved = await factors.prove(
            identity,
            unit,
            user,
            method,
            code=code,
            credential=credential,
            challenge=bytes(session.webauthn_challenge) if session.webauthn_challenge else None,
        )
        if proved is None:
            await client_failed(identity, unit, client)
            locked = await account_failed(identity, unit, user)
            failures = session.failed_mfa + 1
            await unit.conn.execute(
                text("UPDATE sessions SET failed_mfa = :n, webauthn_challenge = NULL WHERE id = :id"),
                {"n": failures, "id": session.id},
            )
            await unit.record(
                "session.second_factor_refused", Actor(user), subject=user, method=method, session_id=session.id
            )
            if failures >= identity.settings.mfa_failures_per_session or locked:
                await revoke_session(unit, Actor(user), session.id, user, "too many second-factor failures")
            refusal = Refused(401, "invalid_second_factor", "The second factor was not accepted.")
        else:
            amr = ["pwd", factors.AMR[method]]
            expires = unit.now + timedelta(seconds=identity.settings.session_max_seconds)
            row = (
                await unit.conn.execute(
                    text(
                        "UPDATE sessions SET status = 'active', challenge_hash = NULL, webauthn_challenge = NULL, "
                        "auth_time = :now, amr = :amr, acr = :acr, expires_at = :exp WHERE id = :id "
                        "RETURNING id, user_id, amr, auth_time, expires_at"
                    ),
                    {"now": unit.now, "amr": amr, "acr": acr_for(amr), "exp": expires, "id": session.id},
                )
            ).one()
            await unit.conn.execute(text("UPDATE users SET failed_logins = 0 WHERE id = :u"), {"u": user})
            await client_succeeded(unit, client)
            await unit.record(
                "session.started", Actor(user), subject=user, session_id=session.id, method=method, credential_id=proved
            )
            return await token_response(identity, unit, row)
    raise refusal
