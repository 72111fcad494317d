"""User records (A6R-3, A6R-13, A6R-15): created without any user authorization, identified by a
recorded verification, one record per person, and suspendable as a whole (A6R-50)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from identity.domain.errors import Refused, not_found
from identity.domain.people import check_contacts, check_email, document_key, normalise_email, person_key
from identity.service_layer.grants import check_administers
from identity.service_layer.tokens import revoke_user_sessions
from identity.service_layer.unit import Actor, Identity, Unit, new_id
from registry_platform.auth import REGISTRY_ADMINISTRATOR, SYSTEM_ADMINISTRATOR

EVIDENCE_TYPES = ("government_id", "residence", "un_system", "other")


async def insert_user(
    unit: Unit,
    actor: Actor,
    *,
    email: str,
    name: str,
    contacts: list[dict[str, str]],
    affiliations: list[str],
    date_of_birth: date | None,
    nationality: str | None,
) -> str:
    user_id = new_id()
    key = person_key(name, date_of_birth, nationality) if date_of_birth and nationality else None
    try:
        async with unit.conn.begin_nested():
            await unit.conn.execute(
                text(
                    "INSERT INTO users (id, email, email_key, person_key, date_of_birth, nationality, created_by, "
                    "created_at) VALUES (:id, :e, :ek, :pk, :dob, :nat, :by, :now)"
                ),
                {
                    "id": user_id,
                    "e": email,
                    "ek": normalise_email(email),
                    "pk": key,
                    "dob": date_of_birth,
                    "nat": nationality,
                    "by": actor.initiator,
                    "now": unit.now,
                },
            )
    except IntegrityError as exc:
        raise Refused(409, "duplicate_user", "This person already has a user record; one person, one user.") from exc
    profile = {"name": name, "affiliations": affiliations, "contacts": contacts}
    await unit.conn.execute(
        text(
            "INSERT INTO profiles (user_id, version, name, affiliations, contacts, updated_at) "
            "VALUES (:u, 1, :n, CAST(:a AS jsonb), CAST(:c AS jsonb), :now)"
        ),
        {"u": user_id, "n": name, "a": json.dumps(affiliations), "c": json.dumps(contacts), "now": unit.now},
    )
    await unit.conn.execute(
        text(
            "INSERT INTO profile_history (user_id, version, data, change, changed_by, changed_at) "
            "VALUES (:u, 1, CAST(:d AS jsonb), 'created', :by, :now)"
        ),
        {"u": user_id, "d": json.dumps(profile), "by": actor.initiator, "now": unit.now},
    )
    await unit.record("user.created", actor, subject=user_id, profile_version=1)
    return user_id


async def create(identity: Identity, actor: Actor, body: dict[str, Any]) -> dict[str, Any]:
    email = check_email(body["email"])
    contacts = check_contacts(body["contacts"])
    async with identity.unit() as unit:
        user_id = await insert_user(
            unit,
            actor,
            email=email,
            name=body["name"].strip(),
            contacts=contacts,
            affiliations=body.get("affiliations", []),
            date_of_birth=body["date_of_birth"],
            nationality=body["nationality"].upper(),
        )
    return {"user_id": user_id, "verification": "unverified"}


async def verify(
    identity: Identity, actor: Actor, user_id: str, outcome: str, evidence: list[dict[str, Any]]
) -> dict[str, Any]:
    """Record an identity verification (A6R-3): which evidence was checked, by whom, when, and the
    outcome. A government id's number is kept only as a hash, unique to one user (A6R-15)."""
    if user_id in (actor.subject, actor.initiator):
        raise Refused(403, "cannot_verify_self", "Nobody verifies their own identity.")
    types = [e["type"] for e in evidence]
    if not types or any(t not in EVIDENCE_TYPES for t in types):
        raise Refused(422, "invalid_evidence", f"Evidence types are {', '.join(EVIDENCE_TYPES)}.")
    async with identity.unit() as unit:
        user = (
            await unit.conn.execute(text("SELECT anonymised_at FROM users WHERE id = :u FOR UPDATE"), {"u": user_id})
        ).first()
        if user is None or user.anonymised_at is not None:
            raise not_found("user", user_id)
        # A rejected verification withdraws a user's standing: only from the user's level up.
        await check_administers(unit.conn, actor, user_id)
        for item in evidence:
            if outcome == "verified" and item["type"] == "government_id" and item.get("document_number"):
                key = document_key(
                    item.get("document_type", "passport"), item.get("issuing_country", ""), item["document_number"]
                )
                owner = await unit.conn.scalar(
                    text(
                        "INSERT INTO verified_documents (document_key, user_id) VALUES (:k, :u) "
                        "ON CONFLICT (document_key) DO UPDATE SET document_key = EXCLUDED.document_key "
                        "RETURNING user_id::text"
                    ),
                    {"k": key, "u": user_id},
                )
                if owner != user_id:
                    raise Refused(409, "duplicate_person", "This identity document already verifies another user.")
        verification_id = new_id()
        recorded = [{"type": t, "checked": True} for t in types]
        await unit.conn.execute(
            text(
                "INSERT INTO identity_verifications (id, user_id, outcome, evidence, verified_by, verified_at) "
                "VALUES (:id, :u, :o, CAST(:e AS jsonb), :by, :now)"
            ),
            {
                "id": verification_id,
                "u": user_id,
                "o": outcome,
                "e": json.dumps(recorded),
                "by": actor.initiator,
                "now": unit.now,
            },
        )
        await unit.conn.execute(text("UPDATE users SET verification = :o WHERE id = :u"), {"o": outcome, "u": user_id})
        await unit.record(
            "user.verification_recorded",
            actor,
            subject=user_id,
            verification_id=verification_id,
            outcome=outcome,
            evidence_types=types,
        )
    return {"verification_id": verification_id, "outcome": outcome, "verified_at": unit.now.isoformat()}


def _sees_all(actor: Actor) -> bool:
    return actor.has(REGISTRY_ADMINISTRATOR) or actor.has(SYSTEM_ADMINISTRATOR)


_USER_COLUMNS = (
    "SELECT u.id::text, u.email, p.name, u.access, u.verification, u.locked_at IS NOT NULL AS locked, "
    "u.created_at, u.anonymised_at FROM users u JOIN profiles p ON p.user_id = u.id"
)


async def listing(
    identity: Identity, actor: Actor, *, limit: int, after: str | None, email: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Administrators see every user (A6R-50); a section administrator sees the users holding a
    grant in their section, and can look anyone up by exact email address to grant them a role."""
    where, params = ["u.id > CAST(:after AS uuid)"], {"after": after or "00000000-0000-0000-0000-000000000000"}
    if email:
        where.append("u.email_key = :ek")
        params["ek"] = normalise_email(email)
    elif not _sees_all(actor):
        sections = [g.section for g in actor.grants if g.role == "section_administrator" and g.section]
        where.append("u.id IN (SELECT user_id FROM grants WHERE section = ANY(:sections) AND status <> 'revoked')")
        params["sections"] = sections  # type: ignore[assignment]
    async with identity.read() as conn:
        rows = await conn.execute(
            text(f"{_USER_COLUMNS} WHERE {' AND '.join(where)} ORDER BY u.id LIMIT :n"), {**params, "n": limit + 1}
        )
        items = [_user(r) for r in rows]
    nxt = items[limit - 1]["id"] if len(items) > limit else None
    return items[:limit], nxt


def _user(row: Any) -> dict[str, Any]:
    d = dict(row._mapping)
    d["created_at"] = d["created_at"].isoformat()
    d["anonymised_at"] = d["anonymised_at"].isoformat() if d["anonymised_at"] else None
    return d


async def get(identity: Identity, actor: Actor, user_id: str) -> dict[str, Any]:
    async with identity.read() as conn:
        row = (await conn.execute(text(f"{_USER_COLUMNS} WHERE u.id = :u"), {"u": user_id})).first()
        if row is None:
            raise not_found("user", user_id)
        if not _sees_all(actor) and actor.subject != user_id:
            sections = [g.section for g in actor.grants if g.role == "section_administrator"]
            held = await conn.scalar(
                text("SELECT count(*) FROM grants WHERE user_id = :u AND section = ANY(:s) AND status <> 'revoked'"),
                {"u": user_id, "s": sections},
            )
            if not held:
                raise not_found("user", user_id)
        verifications = await conn.execute(
            text(
                "SELECT id::text, outcome, evidence, verified_by, verified_at FROM identity_verifications "
                "WHERE user_id = :u ORDER BY verified_at"
            ),
            {"u": user_id},
        )
        user = _user(row)
        user["verifications"] = [{**dict(v._mapping), "verified_at": v.verified_at.isoformat()} for v in verifications]
    return user


async def set_access(identity: Identity, actor: Actor, user_id: str, status: str, reason: str) -> dict[str, Any]:
    """Suspend or restore a user's access to the whole registry (A6R-50); grants are kept."""
    if user_id in (actor.subject, actor.initiator):
        raise Refused(403, "cannot_change_own_access", "You cannot change your own access.")
    async with identity.unit() as unit:
        await check_administers(unit.conn, actor, user_id)
        changed = await unit.conn.execute(
            text("UPDATE users SET access = :s WHERE id = :u AND anonymised_at IS NULL"), {"s": status, "u": user_id}
        )
        if not changed.rowcount:
            raise not_found("user", user_id)
        unit.publish(
            "identity.UserAccessChanged",
            {"user_id": user_id, "status": status, "changed_by": actor.initiator, "changed_at": unit.now.isoformat()},
            key=user_id,
        )
        await unit.record("user.access_changed", actor, subject=user_id, status=status, reason=reason)
        if status == "suspended":
            await revoke_user_sessions(unit, actor, user_id, "access suspended")
    return {"user_id": user_id, "access": status}


async def unlock(identity: Identity, actor: Actor, user_id: str) -> dict[str, Any]:
    async with identity.unit() as unit:
        await check_administers(unit.conn, actor, user_id)
        changed = await unit.conn.execute(
            text("UPDATE users SET locked_at = NULL, failed_logins = 0 WHERE id = :u"), {"u": user_id}
        )
        if not changed.rowcount:
            raise not_found("user", user_id)
        await unit.record("user.unlocked", actor, subject=user_id)
    return {"user_id": user_id, "locked": False}
