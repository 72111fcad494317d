"""Granting, suspending, reactivating and revoking user authorizations (A6R-12 to A6R-15, A6R-50,
A6R-51, A6R-58). Every change is published as `identity.GrantChanged` on `identity.access`, keyed
by the user, in the transaction that makes it (outbox), and logged."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from identity.domain.errors import Refused, not_found
from identity.domain.grants import (
    Scope,
    authority,
    check_administers_user,
    check_scope,
    check_separation_of_duties,
    may_grant,
    transition,
)
from identity.service_layer.tokens import end_impersonations
from identity.service_layer.unit import Actor, Identity, Unit, new_id
from registry_platform.auth import EXTERNAL_SYSTEM, REGISTRY_ADMINISTRATOR, SYSTEM_ADMINISTRATOR

_FIELDS = (
    "id::text, user_id::text, role, section, account, cooperative_approach, status, suspended_level, "
    "granted_by, granted_at, changed_by, changed_at, reason"
)
_COLUMNS = f"SELECT {_FIELDS} FROM grants"
LOGGED_AS = {"suspend": "grant.suspended", "reactivate": "grant.reactivated", "revoke": "grant.revoked"}


def _grant(row: Any) -> dict[str, Any]:
    d = dict(row._mapping)
    for k in ("granted_at", "changed_at"):
        d[k] = d[k].isoformat() if d[k] else None
    return d


def _publish(unit: Unit, actor: Actor, grant: dict[str, Any], reason: str | None) -> None:
    unit.publish(
        "identity.GrantChanged",
        {
            "grant_id": grant["id"],
            "user_id": grant["user_id"],
            "role": grant["role"],
            "section": grant["section"],
            "account": grant["account"],
            "cooperative_approach": grant["cooperative_approach"],
            "status": grant["status"],
            "changed_by": actor.initiator,
            "changed_at": unit.now.isoformat(),
            "reason": reason,
        },
        key=grant["user_id"],
    )


async def insert_grant(
    unit: Unit, actor: Actor, user_id: str, role: str, scope: Scope, reason: str | None
) -> dict[str, Any]:
    """Record and announce a new grant; callers have checked who may make it."""
    grant = {
        "id": new_id(),
        "user_id": user_id,
        "role": role,
        "section": scope.section,
        "account": scope.account,
        "cooperative_approach": scope.cooperative_approach,
        "status": "active",
    }
    try:
        async with unit.conn.begin_nested():
            await unit.conn.execute(
                text(
                    "INSERT INTO grants (id, user_id, role, section, account, cooperative_approach, status, "
                    "granted_by, granted_at, reason) VALUES (:id, :user_id, :role, :section, :account, "
                    ":cooperative_approach, 'active', :by, :now, :reason)"
                ),
                {**grant, "by": actor.initiator, "now": unit.now, "reason": reason},
            )
    except IntegrityError as exc:
        raise Refused(409, "grant_exists", "The user already holds this user authorization.") from exc
    _publish(unit, actor, grant, reason)
    await unit.record("grant.granted", actor, subject=user_id, **{k: v for k, v in grant.items() if k != "user_id"})
    return grant


async def grant(
    identity: Identity, actor: Actor, user_id: str, role: str, scope: Scope, reason: str | None
) -> dict[str, Any]:
    check_scope(role, scope)
    if role == EXTERNAL_SYSTEM:
        raise Refused(422, "use_external_systems", "External systems are scoped when they are registered.")
    if not may_grant(actor.grants, role, scope):
        raise Refused(403, "not_authorized", f"Your user authorizations do not let you grant {role} here.")
    if user_id in (actor.subject, actor.initiator):
        raise Refused(403, "cannot_grant_self", "Nobody grants user authorizations to themselves.")
    async with identity.unit() as unit:
        user = (
            await unit.conn.execute(
                text("SELECT verification, anonymised_at FROM users WHERE id = :u FOR SHARE"), {"u": user_id}
            )
        ).first()
        if user is None or user.anonymised_at is not None:
            raise not_found("user", user_id)
        if user.verification != "verified":
            raise Refused(
                409, "user_not_verified", "Only users whose identity was verified receive user authorizations."
            )
        check_separation_of_duties(role, [g.role for g in await live(unit.conn, user_id)])
        return await insert_grant(unit, actor, user_id, role, scope, reason)


async def change(identity: Identity, actor: Actor, grant_id: str, action: str, reason: str | None) -> dict[str, Any]:
    async with identity.unit() as unit:
        row = (await unit.conn.execute(text(f"{_COLUMNS} WHERE id = :g FOR UPDATE"), {"g": grant_id})).first()
        if row is None:
            raise not_found("grant", grant_id)
        scope = Scope(row.section, row.account, row.cooperative_approach)
        level = authority(actor.grants, row.role, scope)
        if level == 0:
            raise not_found("grant", grant_id)
        if action == "reactivate" and row.user_id in (actor.subject, actor.initiator):
            raise Refused(403, "cannot_grant_self", "Nobody reactivates their own user authorization.")
        status = transition(row.status, action, level, row.suspended_level)
        suspended_level = level if status == "suspended" else None
        updated = (
            await unit.conn.execute(
                text(
                    "UPDATE grants SET status = :s, suspended_level = :l, changed_by = :by, changed_at = :now, "
                    f"reason = :r WHERE id = :g RETURNING {_FIELDS}"
                ),
                {"s": status, "l": suspended_level, "by": actor.initiator, "now": unit.now, "r": reason, "g": grant_id},
            )
        ).one()
        result = _grant(updated)
        _publish(unit, actor, result, reason)
        await unit.record(
            LOGGED_AS[action],
            actor,
            subject=row.user_id,
            id=grant_id,
            role=row.role,
            section=row.section,
            account=row.account,
            cooperative_approach=row.cooperative_approach,
            status=status,
            level=level,
        )
        if row.role == REGISTRY_ADMINISTRATOR and status != "active":
            # Impersonation is a registry administrator's power (A6R-43): it ends with the grant.
            await end_impersonations(unit, actor, row.user_id, f"registry administrator grant {status}")
    return result


async def listing(
    identity: Identity,
    actor: Actor,
    *,
    user_id: str | None,
    section: str | None,
    status: str | None,
    limit: int,
    after: str | None,
    role: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Administrators see every grant; a section administrator sees those of their sections."""
    where = ["id > CAST(:after AS uuid)"]
    params: dict[str, Any] = {"after": after or "00000000-0000-0000-0000-000000000000", "n": limit + 1}
    if not (actor.has(REGISTRY_ADMINISTRATOR) or actor.has(SYSTEM_ADMINISTRATOR)):
        where.append("section = ANY(:mine)")
        params["mine"] = [g.section for g in actor.grants if g.role == "section_administrator" and g.section]
    for column, value in (("user_id", user_id), ("section", section), ("status", status), ("role", role)):
        if value is not None:
            where.append(f"{column} = :{column}")
            params[column] = value
    async with identity.read() as conn:
        rows = await conn.execute(text(f"{_COLUMNS} WHERE {' AND '.join(where)} ORDER BY id LIMIT :n"), params)
        items = [_grant(r) for r in rows]
    return items[:limit], (items[limit - 1]["id"] if len(items) > limit else None)


async def of_user(identity: Identity, user_id: str) -> list[dict[str, Any]]:
    async with identity.read() as conn:
        rows = await conn.execute(text(f"{_COLUMNS} WHERE user_id = :u ORDER BY granted_at"), {"u": user_id})
        return [_grant(r) for r in rows]


async def live_grant_ids(conn: Any, user_id: str) -> list[str]:
    return [g.id for g in await live(conn, user_id)]


async def live(conn: Any, user_id: str) -> list[Any]:
    """The user's grants not revoked: suspended ones too, which the user still holds."""
    rows = await conn.execute(
        text(f"{_COLUMNS} WHERE user_id = :u AND status <> 'revoked' ORDER BY id"), {"u": user_id}
    )
    return list(rows)


async def check_administers(conn: Any, actor: Actor, user_id: str) -> None:
    """Refuse unless `actor` administers the user, judged by the user's live grants (A6R-50)."""
    check_administers_user(actor.grants, [g.role for g in await live(conn, user_id)])


def check_may_revoke(actor: Actor, grant: Any) -> None:
    """Refuse unless `actor` could revoke this live grant itself (A6R-51)."""
    level = authority(actor.grants, grant.role, Scope(grant.section, grant.account, grant.cooperative_approach))
    if level == 0:
        raise Refused(
            403,
            "not_authorized",
            f"You do not administer this user's {grant.role} authorization; ask its administrator to revoke it first.",
        )
    transition(grant.status, "revoke", level, grant.suspended_level)


async def revoke_in(unit: Unit, actor: Actor, grant_id: str, reason: str) -> None:
    """Revoke as a consequence of another logged action (anonymisation, disabling an external system)."""
    row = (
        await unit.conn.execute(
            text(
                "UPDATE grants SET status = 'revoked', suspended_level = NULL, changed_by = :by, changed_at = :now, "
                f"reason = :r WHERE id = :g RETURNING {_FIELDS}"
            ),
            {"by": actor.initiator, "now": unit.now, "r": reason, "g": grant_id},
        )
    ).one()
    grant = _grant(row)
    _publish(unit, actor, grant, reason)
    await unit.record(
        "grant.revoked",
        actor,
        subject=grant["user_id"],
        id=grant_id,
        role=grant["role"],
        section=grant["section"],
        account=grant["account"],
        cooperative_approach=grant["cooperative_approach"],
        status="revoked",
        level=None,
    )
