"""Profiles (A6R-9 to A6R-11, A6R-49): change requests, approvals, history and anonymisation.

Contacts change at once when the user asks; name and affiliations identify the person and wait
for a section administrator (of a section the user holds a grant in) or a registry administrator.
Every version of a profile is a row of `profile_history`, kept forever; anonymisation is its own
logged action that replaces the personal data in the live profile, the history and pending
requests with a tombstone, and leaves the log (which never held personal data) untouched.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text

from identity.domain.errors import Refused, not_found
from identity.domain.people import TOMBSTONE, check_contacts, split_change
from identity.service_layer import grants as grant_service
from identity.service_layer.tokens import revoke_user_sessions
from identity.service_layer.unit import Actor, Identity, Unit, new_id
from registry_platform.auth import REGISTRY_ADMINISTRATOR, SECTION_ADMINISTRATOR

ANONYMISED = {"anonymised": True}


async def current(conn: Any, user_id: str) -> dict[str, Any]:
    row = (
        await conn.execute(
            text("SELECT version, name, affiliations, contacts, updated_at FROM profiles WHERE user_id = :u"),
            {"u": user_id},
        )
    ).first()
    if row is None:
        raise not_found("user", user_id)
    return {**dict(row._mapping), "updated_at": row.updated_at.isoformat()}


def _check(fields: dict[str, Any]) -> dict[str, Any]:
    clean = dict(fields)
    if "contacts" in clean:
        clean["contacts"] = check_contacts(clean["contacts"])
    if "name" in clean:
        name = str(clean["name"]).strip()
        if not 1 <= len(name) <= 200:
            raise Refused(422, "invalid_name", "A name has 1 to 200 characters.")
        clean["name"] = name
    if "affiliations" in clean:
        clean["affiliations"] = [str(a).strip() for a in clean["affiliations"] if str(a).strip()]
    return clean


async def _apply(
    unit: Unit, actor: Actor, user_id: str, fields: dict[str, Any], change: str, request: str | None
) -> int:
    # Changes of one profile one after another: each reads the version the last one wrote.
    await unit.conn.execute(text("SELECT 1 FROM profiles WHERE user_id = :u FOR UPDATE"), {"u": user_id})
    profile = await current(unit.conn, user_id)
    data = {"name": profile["name"], "affiliations": profile["affiliations"], "contacts": profile["contacts"], **fields}
    version = profile["version"] + 1
    await unit.conn.execute(
        text(
            "UPDATE profiles SET version = :v, name = :n, affiliations = CAST(:a AS jsonb), "
            "contacts = CAST(:c AS jsonb), updated_at = :now WHERE user_id = :u"
        ),
        {
            "v": version,
            "n": data["name"],
            "a": json.dumps(data["affiliations"]),
            "c": json.dumps(data["contacts"]),
            "now": unit.now,
            "u": user_id,
        },
    )
    await unit.conn.execute(
        text(
            "INSERT INTO profile_history (user_id, version, data, change, request_id, changed_by, changed_at) "
            "VALUES (:u, :v, CAST(:d AS jsonb), :ch, :r, :by, :now)"
        ),
        {
            "u": user_id,
            "v": version,
            "d": json.dumps(data),
            "ch": change,
            "r": request,
            "by": actor.initiator,
            "now": unit.now,
        },
    )
    await unit.record(
        "profile.changed", actor, subject=user_id, version=version, fields=sorted(fields), request_id=request
    )
    return version


async def request_change(identity: Identity, actor: Actor, fields: dict[str, Any]) -> dict[str, Any]:
    immediate, approved = split_change(fields)
    immediate, approved = _check(immediate), _check(approved)
    result: dict[str, Any] = {"applied": sorted(immediate), "pending": sorted(approved)}
    async with identity.unit() as unit:
        if immediate:
            result["version"] = await _apply(unit, actor, actor.subject, immediate, "changed", None)
        if approved:
            request_id = new_id()
            await unit.conn.execute(
                text(
                    "INSERT INTO profile_change_requests (id, user_id, fields, status, requested_by, requested_at) "
                    "VALUES (:id, :u, CAST(:f AS jsonb), 'pending', :by, :now)"
                ),
                {
                    "id": request_id,
                    "u": actor.subject,
                    "f": json.dumps(approved),
                    "by": actor.initiator,
                    "now": unit.now,
                },
            )
            await unit.record(
                "profile.change_requested", actor, subject=actor.subject, request_id=request_id, fields=sorted(approved)
            )
            result["request_id"] = request_id
    return result


# Who acknowledges a user's change: a registry administrator (:all), or an administrator of a section
# (:sections) the user holds a grant in. One condition for the listing and the decision.
_DECIDES_FOR = (
    "(:all OR EXISTS (SELECT 1 FROM grants g WHERE g.user_id = {user} AND g.section = ANY(:sections) "
    "AND g.status <> 'revoked'))"
)


def _decider(actor: Actor) -> dict[str, Any]:
    sections = [g.section for g in actor.grants if g.role == SECTION_ADMINISTRATOR and g.section]
    return {"all": actor.has(REGISTRY_ADMINISTRATOR), "sections": sections}


async def _decides_for(conn: Any, actor: Actor, user_id: str) -> bool:
    condition = _DECIDES_FOR.format(user="CAST(:u AS uuid)")
    return bool(await conn.scalar(text(f"SELECT {condition}"), {"u": user_id, **_decider(actor)}))


async def pending(
    identity: Identity, actor: Actor, limit: int, after: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """The pending requests the actor may decide, with the user's current name. Filtered in the
    query, so that a page is full however many requests others decide."""
    async with identity.read() as conn:
        rows = await conn.execute(
            text(
                "SELECT r.id::text, r.user_id::text, p.name, r.fields, r.requested_by, r.requested_at "
                "FROM profile_change_requests r JOIN profiles p ON p.user_id = r.user_id "
                "WHERE r.status = 'pending' AND r.id > CAST(:after AS uuid) AND "
                f"{_DECIDES_FOR.format(user='r.user_id')} ORDER BY r.id LIMIT :n"
            ),
            {"after": after or "00000000-0000-0000-0000-000000000000", "n": limit + 1, **_decider(actor)},
        )
        items = [{**dict(r._mapping), "requested_at": r.requested_at.isoformat()} for r in rows]
    return items[:limit], (items[limit - 1]["id"] if len(items) > limit else None)


async def decide(identity: Identity, actor: Actor, request_id: str, approve: bool) -> dict[str, Any]:
    async with identity.unit() as unit:
        row = (
            await unit.conn.execute(
                text("SELECT user_id::text, fields, status FROM profile_change_requests WHERE id = :id FOR UPDATE"),
                {"id": request_id},
            )
        ).first()
        if row is None or not await _decides_for(unit.conn, actor, row.user_id):
            raise not_found("change_request", request_id)
        if row.user_id in (actor.subject, actor.initiator):
            raise Refused(403, "cannot_approve_self", "Nobody approves changes to their own profile.")
        if row.status != "pending":
            raise Refused(409, "change_request_decided", "This change request was already decided.")
        status = "approved" if approve else "rejected"
        await unit.conn.execute(
            text("UPDATE profile_change_requests SET status = :s, decided_by = :by, decided_at = :now WHERE id = :id"),
            {"s": status, "by": actor.initiator, "now": unit.now, "id": request_id},
        )
        await unit.record("profile.change_decided", actor, subject=row.user_id, request_id=request_id, status=status)
        version = await _apply(unit, actor, row.user_id, dict(row.fields), "approved", request_id) if approve else None
    return {"request_id": request_id, "status": status, "version": version}


async def history(identity: Identity, user_id: str) -> list[dict[str, Any]]:
    async with identity.read() as conn:
        rows = await conn.execute(
            text(
                "SELECT version, data, change, request_id::text, changed_by, changed_at FROM profile_history "
                "WHERE user_id = :u ORDER BY version"
            ),
            {"u": user_id},
        )
        return [{**dict(r._mapping), "changed_at": r.changed_at.isoformat()} for r in rows]


async def anonymise(identity: Identity, actor: Actor, user_id: str, reason: str) -> dict[str, Any]:
    """Erase the person from identity's records (A6R-49): their access ends with it."""
    if user_id in (actor.subject, actor.initiator):
        raise Refused(403, "cannot_anonymise_self", "Ask another registry administrator.")
    async with identity.unit() as unit:
        user = (
            await unit.conn.execute(text("SELECT anonymised_at FROM users WHERE id = :u FOR UPDATE"), {"u": user_id})
        ).first()
        if user is None:
            raise not_found("user", user_id)
        if user.anonymised_at is not None:
            raise Refused(409, "already_anonymised", "This user was already anonymised.")
        held = await grant_service.live(unit.conn, user_id)
        # Anonymising revokes every grant: only someone who could revoke each of them may do it.
        for grant in held:
            grant_service.check_may_revoke(actor, grant)
        for grant in held:
            await grant_service.revoke_in(unit, actor, grant.id, "user anonymised")
        await unit.conn.execute(
            text(
                "UPDATE credentials SET status = 'revoked', revoked_at = :now, revoked_by = :by "
                "WHERE user_id = :u AND status = 'active'"
            ),
            {"now": unit.now, "by": actor.initiator, "u": user_id},
        )
        await revoke_user_sessions(unit, actor, user_id, "user anonymised")
        tombstoned = await unit.conn.execute(
            text("UPDATE profile_history SET data = CAST(:d AS jsonb) WHERE user_id = :u"),
            {"d": json.dumps(ANONYMISED), "u": user_id},
        )
        version = await _apply(
            unit, actor, user_id, {"name": TOMBSTONE, "affiliations": [], "contacts": []}, "anonymised", None
        )
        await unit.conn.execute(
            text("UPDATE profile_history SET data = CAST(:d AS jsonb) WHERE user_id = :u AND version = :v"),
            {"d": json.dumps(ANONYMISED), "u": user_id, "v": version},
        )
        # Nothing waits on an erased person: pending changes are closed (no one may apply one to
        # the tombstone), and activations not yet completed are cancelled.
        await unit.conn.execute(
            text(
                "UPDATE profile_change_requests SET fields = CAST(:d AS jsonb), "
                "status = CASE WHEN status = 'pending' THEN 'rejected' ELSE status END, "
                "decided_by = CASE WHEN status = 'pending' THEN :by ELSE decided_by END, "
                "decided_at = CASE WHEN status = 'pending' THEN :now ELSE decided_at END WHERE user_id = :u"
            ),
            {"d": json.dumps(ANONYMISED), "u": user_id, "by": actor.initiator, "now": unit.now},
        )
        await unit.conn.execute(
            text(
                "UPDATE activations SET cancelled_at = :now "
                "WHERE user_id = :u AND completed_at IS NULL AND cancelled_at IS NULL"
            ),
            {"now": unit.now, "u": user_id},
        )
        await unit.conn.execute(
            text(
                "UPDATE users SET email = NULL, email_key = NULL, person_key = NULL, date_of_birth = NULL, "
                "nationality = NULL, access = 'suspended', anonymised_at = :now WHERE id = :u"
            ),
            {"now": unit.now, "u": user_id},
        )
        for table in ("verified_documents", "outbound_messages"):
            await unit.conn.execute(text(f"DELETE FROM {table} WHERE user_id = :u"), {"u": user_id})
        await unit.record(
            "profile.anonymised",
            actor,
            subject=user_id,
            reason=reason,
            history_rows=(tombstoned.rowcount or 0) + 1,
            grants_revoked=len(held),
        )
    return {"user_id": user_id, "anonymised_at": unit.now.isoformat(), "grants_revoked": len(held)}
