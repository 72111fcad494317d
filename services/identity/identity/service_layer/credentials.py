"""A user's credentials (A6R-5, A6R-7): listing, WebAuthn security key registration, new recovery
codes, and revocation by the user or an administrator, effective at once: every session of the
user ends (`identity.SessionRevoked`), so no token minted with the credential outlives it."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import webauthn
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from identity.domain.errors import Refused, not_found
from identity.domain.passwords import password_problems
from identity.service_layer import factors
from identity.service_layer.grants import check_administers
from identity.service_layer.throttling import account_failed
from identity.service_layer.tokens import revoke_user_sessions
from identity.service_layer.unit import Actor, Identity, new_id


async def listing(identity: Identity, user_id: str) -> list[dict[str, Any]]:
    async with identity.read() as conn:
        rows = await conn.execute(
            text(
                "SELECT id::text, kind, status, label, created_by, created_at, revoked_by, revoked_at, "
                "(SELECT count(*) FROM recovery_codes r WHERE r.credential_id = c.id AND r.used_at IS NULL) "
                "AS unused_codes FROM credentials c WHERE user_id = :u ORDER BY created_at, id"
            ),
            {"u": user_id},
        )
        items = []
        for r in rows:
            d = dict(r._mapping)
            d["created_at"] = d["created_at"].isoformat()
            d["revoked_at"] = d["revoked_at"].isoformat() if d["revoked_at"] else None
            if d["kind"] != "recovery_codes":
                d.pop("unused_codes")
            items.append(d)
    return items


async def revoke(identity: Identity, actor: Actor, user_id: str, credential_id: str) -> dict[str, Any]:
    async with identity.unit() as unit:
        if user_id != actor.subject:
            await check_administers(unit.conn, actor, user_id)
        row = (
            await unit.conn.execute(
                text(
                    "UPDATE credentials SET status = 'revoked', revoked_at = :now, revoked_by = :by "
                    "WHERE id = :c AND user_id = :u AND status = 'active' RETURNING kind"
                ),
                {"now": unit.now, "by": actor.initiator, "c": credential_id, "u": user_id},
            )
        ).first()
        if row is None:
            raise not_found("credential", credential_id)
        await unit.record("credential.revoked", actor, subject=user_id, credential_id=credential_id, kind=row.kind)
        ended = await revoke_user_sessions(unit, actor, user_id, f"{row.kind} credential revoked")
    return {"credential_id": credential_id, "status": "revoked", "sessions_ended": ended}


async def change_password(identity: Identity, actor: Actor, current: str, new: str) -> dict[str, Any]:
    """A new password, proven by the current one; every other session of the user ends."""
    async with identity.unit() as unit:
        row = (
            await unit.conn.execute(
                text(
                    "SELECT c.id::text, c.secret, u.email, p.name FROM credentials c JOIN users u ON u.id = c.user_id "
                    "JOIN profiles p ON p.user_id = c.user_id "
                    "WHERE c.user_id = :u AND c.kind = 'password' AND c.status = 'active' FOR UPDATE OF c"
                ),
                {"u": actor.subject},
            )
        ).first()
        if row is None or not await identity.passwords.verify(row.secret, current):
            await account_failed(identity, unit, actor.subject)
            await unit.record("credential.password_change_refused", actor, subject=actor.subject)
            refusal = Refused(401, "invalid_credentials", "The current password is not right.")
        else:
            problems = password_problems(new, email=row.email or "", name=row.name or "")
            if problems:
                raise Refused(422, "weak_password", "The password " + "; ".join(problems) + ".", problems=problems)
            credential_id = new_id()
            await unit.conn.execute(
                text("UPDATE credentials SET status = 'revoked', revoked_at = :now, revoked_by = :by WHERE id = :c"),
                {"now": unit.now, "by": actor.initiator, "c": row.id},
            )
            await unit.conn.execute(
                text(
                    "INSERT INTO credentials (id, user_id, kind, status, secret, created_by, created_at) "
                    "VALUES (:id, :u, 'password', 'active', :h, :by, :now)"
                ),
                {
                    "id": credential_id,
                    "u": actor.subject,
                    "h": await identity.passwords.hash(new),
                    "by": actor.initiator,
                    "now": unit.now,
                },
            )
            await unit.record(
                "credential.password_changed",
                actor,
                subject=actor.subject,
                credential_id=credential_id,
                replaced=row.id,
            )
            ended = await revoke_user_sessions(unit, actor, actor.subject, "password changed", keep=actor.session)
            return {"credential_id": credential_id, "sessions_ended": ended}
    raise refusal


async def new_recovery_codes(identity: Identity, actor: Actor) -> dict[str, Any]:
    async with identity.unit() as unit:
        credential_id, codes = await factors.store_recovery_codes(unit, actor.subject, actor.initiator)
        await unit.record("credential.recovery_codes_issued", actor, subject=actor.subject, credential_id=credential_id)
    return {"credential_id": credential_id, "recovery_codes": codes}


async def webauthn_options(identity: Identity, actor: Actor) -> dict[str, Any]:
    s = identity.settings
    async with identity.unit() as unit:
        row = (
            await unit.conn.execute(
                text("SELECT u.email, p.name FROM users u JOIN profiles p ON p.user_id = u.id WHERE u.id = :u"),
                {"u": actor.subject},
            )
        ).one()
        existing = await unit.conn.execute(
            text("SELECT webauthn_id FROM credentials WHERE user_id = :u AND kind = 'webauthn' AND status = 'active'"),
            {"u": actor.subject},
        )
        options = webauthn.generate_registration_options(
            rp_id=s.webauthn_rp_id,
            rp_name=s.webauthn_rp_name,
            user_id=uuid.UUID(actor.subject).bytes,
            user_name=row.email or actor.subject,
            user_display_name=row.name,
            exclude_credentials=[PublicKeyCredentialDescriptor(id=bytes(r[0])) for r in existing],
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.DISCOURAGED,
                user_verification=UserVerificationRequirement.PREFERRED,
            ),
        )
        await unit.conn.execute(
            text(
                "INSERT INTO webauthn_challenges (id, user_id, purpose, challenge, expires_at) "
                "VALUES (:id, :u, 'register', :c, :exp)"
            ),
            {"id": new_id(), "u": actor.subject, "c": options.challenge, "exp": unit.now + timedelta(minutes=5)},
        )
    return dict(json.loads(webauthn.options_to_json(options)))


async def register_webauthn(identity: Identity, actor: Actor, credential: dict[str, Any], label: str) -> dict[str, Any]:
    s = identity.settings
    async with identity.unit() as unit:
        challenge = await unit.conn.scalar(
            text(
                "UPDATE webauthn_challenges SET used_at = :now WHERE id = (SELECT id FROM webauthn_challenges "
                "WHERE user_id = :u AND purpose = 'register' AND used_at IS NULL AND expires_at > :now "
                "ORDER BY expires_at DESC LIMIT 1) RETURNING challenge"
            ),
            {"now": unit.now, "u": actor.subject},
        )
        if challenge is None:
            raise Refused(409, "no_registration_pending", "Ask for registration options first.")
        try:
            verified = webauthn.verify_registration_response(
                credential=credential,
                expected_challenge=bytes(challenge),
                expected_rp_id=s.webauthn_rp_id,
                expected_origin=s.webauthn_origins,
            )
        # Every WebAuthnException: a crafted attestation (bad CBOR, key, chain) is the client's error.
        except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
            raise Refused(422, "invalid_security_key", f"The security key's answer was refused: {exc}") from exc
        credential_id = new_id()
        try:
            async with unit.conn.begin_nested():
                await unit.conn.execute(
                    text(
                        "INSERT INTO credentials (id, user_id, kind, status, webauthn_id, public_key, sign_count, "
                        "label, created_by, created_at) VALUES (:id, :u, 'webauthn', 'active', :w, :pk, :n, :l, :by, "
                        ":now)"
                    ),
                    {
                        "id": credential_id,
                        "u": actor.subject,
                        "w": verified.credential_id,
                        "pk": verified.credential_public_key,
                        "n": verified.sign_count,
                        "l": label,
                        "by": actor.initiator,
                        "now": unit.now,
                    },
                )
        except IntegrityError as exc:
            raise Refused(409, "security_key_registered", "This security key is already registered.") from exc
        await unit.record("credential.webauthn_registered", actor, subject=actor.subject, credential_id=credential_id)
    return {"credential_id": credential_id, "kind": "webauthn", "label": label}
