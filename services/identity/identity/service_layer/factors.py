"""Second factors (A6R-6, A6R-7): proving one at sign-in or step-up, and making recovery codes.

- TOTP: single use, by storing the last accepted time step (see domain.totp).
- WebAuthn (py_webauthn): the authenticator signs a fresh server challenge; the signature counter
  must not go backwards (a cloned key shows up as a counter that does).
- Recovery codes: ten random codes, stored hashed, each usable once.
"""

from __future__ import annotations

import secrets
from typing import Any

import webauthn
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from webauthn.helpers import base64url_to_bytes
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidJSONStructure
from webauthn.helpers.structs import PublicKeyCredentialDescriptor, UserVerificationRequirement

from identity.adapters.hashing import token_hash
from identity.domain import totp
from identity.domain.errors import Refused
from identity.service_layer.unit import Identity, Unit, new_id

AMR = {"totp": "otp", "recovery_code": "otp", "webauthn": "hwk"}
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _normal_recovery(code: str) -> str:
    return code.replace("-", "").replace(" ", "").upper()


def new_recovery_codes(n: int = 10) -> list[str]:
    codes = []
    for _ in range(n):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(12))
        codes.append(f"{raw[:4]}-{raw[4:8]}-{raw[8:]}")
    return codes


async def store_recovery_codes(unit: Unit, user_id: str, created_by: str) -> tuple[str, list[str]]:
    # One new set at a time per user: a second request waits here instead of colliding on the
    # one-active-set index (a double click).
    await unit.conn.execute(text("SELECT 1 FROM users WHERE id = :u FOR UPDATE"), {"u": user_id})
    await unit.conn.execute(
        text(
            "UPDATE credentials SET status = 'revoked', revoked_at = :now, revoked_by = :by "
            "WHERE user_id = :u AND kind = 'recovery_codes' AND status = 'active'"
        ),
        {"now": unit.now, "by": created_by, "u": user_id},
    )
    credential_id = new_id()
    await unit.conn.execute(
        text(
            "INSERT INTO credentials (id, user_id, kind, status, created_by, created_at) "
            "VALUES (:id, :u, 'recovery_codes', 'active', :by, :now)"
        ),
        {"id": credential_id, "u": user_id, "by": created_by, "now": unit.now},
    )
    codes = new_recovery_codes()
    await unit.conn.execute(
        text("INSERT INTO recovery_codes (credential_id, code_hash) VALUES (:c, :h)"),
        [{"c": credential_id, "h": token_hash(_normal_recovery(c))} for c in codes],
    )
    return credential_id, codes


async def available_methods(conn: AsyncConnection, user_id: str) -> list[str]:
    rows = await conn.execute(
        text(
            "SELECT DISTINCT kind FROM credentials c WHERE user_id = :u AND status = 'active' AND "
            "(kind <> 'recovery_codes' OR EXISTS (SELECT 1 FROM recovery_codes r "
            "WHERE r.credential_id = c.id AND r.used_at IS NULL))"
        ),
        {"u": user_id},
    )
    kinds = {r[0] for r in rows}
    names = {"totp": "totp", "webauthn": "webauthn", "recovery_codes": "recovery_code"}
    return sorted(names[k] for k in kinds if k in names)


async def authentication_options(identity: Identity, conn: AsyncConnection, user_id: str) -> tuple[bytes, str]:
    """A fresh WebAuthn challenge for the user's registered keys: (challenge, options JSON)."""
    rows = await conn.execute(
        text("SELECT webauthn_id FROM credentials WHERE user_id = :u AND kind = 'webauthn' AND status = 'active'"),
        {"u": user_id},
    )
    allowed = [PublicKeyCredentialDescriptor(id=bytes(r[0])) for r in rows]
    if not allowed:
        raise Refused(409, "no_security_key", "This user has no registered security key.")
    options = webauthn.generate_authentication_options(
        rp_id=identity.settings.webauthn_rp_id,
        allow_credentials=allowed,
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return options.challenge, webauthn.options_to_json(options)


async def prove(
    identity: Identity,
    unit: Unit,
    user_id: str,
    method: str,
    *,
    code: str | None = None,
    credential: dict[str, Any] | None = None,
    challenge: bytes | None = None,
) -> str | None:
    """The id of the credential that proved the factor, or None. Consumes what it accepts."""
    if method == "totp" and code:
        return await _totp(identity, unit, user_id, code)
    if method == "recovery_code" and code:
        return await _recovery(unit, user_id, code)
    if method == "webauthn" and credential and challenge:
        return await _webauthn(identity, unit, user_id, credential, challenge)
    return None


async def _totp(identity: Identity, unit: Unit, user_id: str, code: str) -> str | None:
    row = (
        await unit.conn.execute(
            text(
                "SELECT id::text, sealed, last_step FROM credentials "
                "WHERE user_id = :u AND kind = 'totp' AND status = 'active' FOR UPDATE"
            ),
            {"u": user_id},
        )
    ).first()
    if row is None:
        return None
    secret = identity.sealer.open(bytes(row.sealed), f"totp:{user_id}")
    step = totp.accepted_step(secret, code.strip(), now=unit.now, last_used_step=row.last_step)
    if step is None:
        return None
    await unit.conn.execute(text("UPDATE credentials SET last_step = :s WHERE id = :id"), {"s": step, "id": row.id})
    return str(row.id)


async def _recovery(unit: Unit, user_id: str, code: str) -> str | None:
    used = (
        await unit.conn.execute(
            text(
                "UPDATE recovery_codes r SET used_at = :now FROM credentials c "
                "WHERE r.credential_id = c.id AND c.user_id = :u AND c.kind = 'recovery_codes' "
                "AND c.status = 'active' AND r.code_hash = :h AND r.used_at IS NULL RETURNING c.id::text"
            ),
            {"now": unit.now, "u": user_id, "h": token_hash(_normal_recovery(code))},
        )
    ).first()
    return used[0] if used else None


async def _webauthn(
    identity: Identity, unit: Unit, user_id: str, credential: dict[str, Any], challenge: bytes
) -> str | None:
    try:
        raw_id = base64url_to_bytes(str(credential.get("rawId") or credential.get("id") or ""))
    except ValueError:
        return None
    row = (
        await unit.conn.execute(
            text(
                "SELECT id::text, public_key, sign_count FROM credentials WHERE user_id = :u AND kind = 'webauthn' "
                "AND status = 'active' AND webauthn_id = :w FOR UPDATE"
            ),
            {"u": user_id, "w": raw_id},
        )
    ).first()
    if row is None:
        return None
    s = identity.settings
    try:
        verified = webauthn.verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=s.webauthn_rp_id,
            expected_origin=s.webauthn_origins,
            credential_public_key=bytes(row.public_key),
            credential_current_sign_count=int(row.sign_count or 0),
        )
    except (InvalidAuthenticationResponse, InvalidJSONStructure, ValueError, KeyError, TypeError):
        return None
    await unit.conn.execute(
        text("UPDATE credentials SET sign_count = :n WHERE id = :id"), {"n": verified.new_sign_count, "id": row.id}
    )
    return str(row.id)
