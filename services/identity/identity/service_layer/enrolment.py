"""Issuing credentials to an identified user (A6R-4): a single-use, expiring activation link sent
to the user's email address, plus an activation code sent over a second channel (phone or post),
so that an out-of-date or wrong email address alone does not hand the credentials to someone else.

1. An administrator issues an activation (only for a verified user, A6R-3).
2. The user opens the link and enters the code: the activation is spent, and the user receives a
   short-lived enrolment token and a fresh TOTP secret.
3. With that token the user chooses a password (policy: domain.passwords) and proves the TOTP
   secret with a code; the password, the TOTP credential and ten recovery codes are created.

Links, codes and enrolment tokens are stored only as hashes.
"""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import text

from identity.adapters.hashing import new_code, new_token, token_hash
from identity.domain import totp
from identity.domain.errors import Refused, not_found
from identity.domain.passwords import password_problems
from identity.domain.people import second_channel
from identity.service_layer import factors
from identity.service_layer.grants import check_administers
from identity.service_layer.throttling import check_client, client_failed
from identity.service_layer.tokens import revoke_user_sessions
from identity.service_layer.unit import SYSTEM, Actor, Identity, Unit, new_id

MAX_CODE_FAILURES = 5
ENROLMENT_SECONDS = 900


def _code_hash(token: str, code: str) -> bytes:
    return token_hash(f"{token}\x00{code}")


async def issue(identity: Identity, unit: Unit, actor: Actor, user_id: str, *, deliver: bool = True) -> dict[str, Any]:
    """Create an activation; send link and code (or return them, for the bootstrap CLI only)."""
    user = (
        await unit.conn.execute(
            text(
                "SELECT u.email, u.verification, u.anonymised_at, p.contacts FROM users u "
                "JOIN profiles p ON p.user_id = u.id WHERE u.id = :u FOR UPDATE OF u"
            ),
            {"u": user_id},
        )
    ).first()
    if user is None or user.anonymised_at is not None:
        raise not_found("user", user_id)
    if user.verification != "verified":
        raise Refused(409, "user_not_verified", "Record the user's identity verification before issuing credentials.")
    await unit.conn.execute(
        text(
            "UPDATE activations SET cancelled_at = :now "
            "WHERE user_id = :u AND completed_at IS NULL AND cancelled_at IS NULL"
        ),
        {"now": unit.now, "u": user_id},
    )
    token, code = new_token(32), new_code(8)
    activation_id = new_id()
    expires = unit.now + timedelta(seconds=identity.settings.activation_lifetime_seconds)
    await unit.conn.execute(
        text(
            "INSERT INTO activations (id, user_id, token_hash, code_hash, expires_at, issued_by, issued_at) "
            "VALUES (:id, :u, :t, :c, :exp, :by, :now)"
        ),
        {
            "id": activation_id,
            "u": user_id,
            "t": token_hash(token),
            "c": _code_hash(token, code),
            "exp": expires,
            "by": actor.initiator,
            "now": unit.now,
        },
    )
    link = f"{identity.settings.activation_url}?token={quote(token)}"
    channels = {"link": "email", "code": "terminal"}
    if deliver:
        code_contact = second_channel(list(user.contacts))
        await identity.notifier.send(
            unit.conn, user_id=user_id, channel="email", address=user.email, purpose="activation_link", body=link
        )
        await identity.notifier.send(
            unit.conn,
            user_id=user_id,
            channel=code_contact["kind"],
            address=code_contact["value"],
            purpose="activation_code",
            body=code,
        )
        channels["code"] = code_contact["kind"]
    await unit.record(
        "credential.activation_issued",
        actor,
        subject=user_id,
        activation_id=activation_id,
        expires_at=expires.isoformat(),
        channels=channels,
    )
    result: dict[str, Any] = {"activation_id": activation_id, "expires_at": expires.isoformat()}
    if not deliver:
        result.update(link=link, token=token, code=code)
    return result


async def issue_activation(identity: Identity, actor: Actor, user_id: str) -> dict[str, Any]:
    async with identity.unit() as unit:
        # A new activation cancels the pending one: only an administrator of the user's level.
        await check_administers(unit.conn, actor, user_id)
        return await issue(identity, unit, actor, user_id)


async def start(identity: Identity, token: str, code: str, client: str) -> dict[str, Any]:
    refusal: Refused
    async with identity.unit() as unit:
        await check_client(unit, client)
        row = (
            await unit.conn.execute(
                text(
                    "SELECT a.id::text, a.user_id::text, a.code_hash, a.expires_at, a.failed_codes, a.redeemed_at, "
                    "a.cancelled_at, u.email FROM activations a JOIN users u ON u.id = a.user_id "
                    "WHERE a.token_hash = :t FOR UPDATE OF a"
                ),
                {"t": token_hash(token)},
            )
        ).first()
        if row is None:
            await client_failed(identity, unit, client)
            refusal = Refused(404, "unknown_activation", "This activation link is not valid.")
        elif row.redeemed_at is not None or row.cancelled_at is not None:
            refusal = Refused(410, "activation_used", "This activation link was already used or replaced.")
        elif row.expires_at <= unit.now:
            refusal = Refused(410, "activation_expired", "This activation link has expired; ask for a new one.")
        elif not hmac.compare_digest(_code_hash(token, code.strip()), bytes(row.code_hash)):
            await client_failed(identity, unit, client)
            failures = row.failed_codes + 1
            await unit.conn.execute(
                text(
                    "UPDATE activations SET failed_codes = :n, cancelled_at = CASE WHEN :n >= :max THEN :now END "
                    "WHERE id = :id"
                ),
                {"n": failures, "max": MAX_CODE_FAILURES, "now": unit.now, "id": row.id},
            )
            await unit.record(
                "credential.activation_code_refused",
                SYSTEM,
                subject=row.user_id,
                activation_id=row.id,
                failures=failures,
            )
            refusal = Refused(400, "invalid_activation_code", "The activation code is not right.")
        else:
            enrolment, secret = new_token(32), totp.new_secret()
            expires = unit.now + timedelta(seconds=ENROLMENT_SECONDS)
            await unit.conn.execute(
                text(
                    "UPDATE activations SET redeemed_at = :now, enrolment_hash = :e, enrolment_expires_at = :exp, "
                    "totp_sealed = :s WHERE id = :id"
                ),
                {
                    "now": unit.now,
                    "e": token_hash(enrolment),
                    "exp": expires,
                    "s": identity.sealer.seal(secret, f"totp:{row.user_id}"),
                    "id": row.id,
                },
            )
            await unit.record(
                "credential.activation_redeemed", Actor(row.user_id), subject=row.user_id, activation_id=row.id
            )
            return {
                "enrolment_token": enrolment,
                "totp_secret": secret,
                "otpauth_uri": totp.provisioning_uri(secret, row.email),
                "expires_in": ENROLMENT_SECONDS,
            }
    raise refusal


async def complete(identity: Identity, enrolment: str, password: str, totp_code: str) -> dict[str, Any]:
    async with identity.unit() as unit:
        row = (
            await unit.conn.execute(
                text(
                    "SELECT a.id::text, a.user_id::text, a.enrolment_expires_at, a.totp_sealed, a.completed_at, "
                    "a.cancelled_at, u.email, u.access, u.anonymised_at, p.name "
                    "FROM activations a JOIN users u ON u.id = a.user_id JOIN profiles p ON p.user_id = a.user_id "
                    "WHERE a.enrolment_hash = :e FOR UPDATE OF a"
                ),
                {"e": token_hash(enrolment)},
            )
        ).first()
        # A newer activation cancels this one even after its code was redeemed: the administrator
        # may have issued it because the first link was intercepted.
        if (
            row is None
            or row.completed_at is not None
            or row.cancelled_at is not None
            or row.enrolment_expires_at <= unit.now
        ):
            raise Refused(410, "enrolment_expired", "This enrolment is finished or expired; ask for a new activation.")
        if row.access != "active" or row.anonymised_at is not None:
            raise Refused(403, "user_suspended", "Access to the registry is suspended for this user.")
        problems = password_problems(password, email=row.email or "", name=row.name or "")
        if problems:
            raise Refused(422, "weak_password", "The password " + "; ".join(problems) + ".", problems=problems)
        secret = identity.sealer.open(bytes(row.totp_sealed), f"totp:{row.user_id}")
        step = totp.accepted_step(secret, totp_code.strip(), now=unit.now, last_used_step=None)
        if step is None:
            raise Refused(400, "invalid_totp_code", "The code from your authenticator app is not right; try again.")
        user, actor = row.user_id, Actor(row.user_id)
        # A new enrolment replaces what the user had: old secrets may be what was compromised.
        await unit.conn.execute(
            text(
                "UPDATE credentials SET status = 'revoked', revoked_at = :now, revoked_by = :by "
                "WHERE user_id = :u AND status = 'active' AND kind IN ('password', 'totp', 'webauthn')"
            ),
            {"now": unit.now, "u": user, "by": user},
        )
        await revoke_user_sessions(unit, actor, user, "credentials re-issued")
        password_id, totp_id = new_id(), new_id()
        await unit.conn.execute(
            text(
                "INSERT INTO credentials (id, user_id, kind, status, secret, sealed, last_step, created_by, "
                "created_at) "
                "VALUES (:p, :u, 'password', 'active', :hash, NULL, NULL, :by, :now), "
                "(:t, :u, 'totp', 'active', NULL, :sealed, :step, :by, :now)"
            ),
            {
                "p": password_id,
                "t": totp_id,
                "u": user,
                "by": user,
                "hash": await identity.passwords.hash(password),
                "sealed": identity.sealer.seal(secret, f"totp:{user}"),
                "step": step,
                "now": unit.now,
            },
        )
        recovery_id, codes = await factors.store_recovery_codes(unit, user, user)
        await unit.conn.execute(
            text("UPDATE activations SET completed_at = :now, totp_sealed = NULL WHERE id = :id"),
            {"now": unit.now, "id": row.id},
        )
        await unit.record(
            "credential.enrolled",
            actor,
            subject=user,
            activation_id=row.id,
            credentials={"password": password_id, "totp": totp_id, "recovery_codes": recovery_id},
        )
    return {"user_id": user, "recovery_codes": codes}
