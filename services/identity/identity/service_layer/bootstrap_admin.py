"""The first system administrator (A6R-50): someone has to hold the first grant.

`registry-identity bootstrap-admin` (or `first_system_administrator` from Python, e.g. the demo)
creates a user, records a verification by the operator who runs it, grants system_administrator,
and returns a one-time activation link and code instead of sending them: the operator hands them
over through two channels. It refuses when an active system administrator exists, unless told
that an additional one is intended. Everything it does is logged like any other operation.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text

from identity.domain.errors import Refused
from identity.domain.grants import Scope
from identity.domain.people import check_email
from identity.service_layer import enrolment
from identity.service_layer.grants import insert_grant
from identity.service_layer.unit import Actor, Identity, new_id
from identity.service_layer.users import insert_user
from registry_platform.auth import SYSTEM_ADMINISTRATOR

OPERATOR = Actor("bootstrap")


async def first_system_administrator(
    identity: Identity, *, email: str, name: str, phone: str | None = None, additional: bool = False
) -> dict[str, Any]:
    contacts = [{"kind": "email", "value": check_email(email)}]
    if phone:
        contacts.append({"kind": "phone", "value": phone})
    async with identity.unit() as unit:
        await unit.conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('identity-bootstrap', 0))"))
        existing = await unit.conn.scalar(
            text("SELECT count(*) FROM grants WHERE role = :r AND status = 'active'"), {"r": SYSTEM_ADMINISTRATOR}
        )
        if existing and not additional:
            raise Refused(409, "already_bootstrapped", "A system administrator exists; pass --additional to add one.")
        user_id = await insert_user(
            unit,
            OPERATOR,
            email=email,
            name=name,
            contacts=contacts,
            affiliations=[],
            date_of_birth=None,
            nationality=None,
        )
        verification_id = new_id()
        await unit.conn.execute(
            text(
                "INSERT INTO identity_verifications (id, user_id, outcome, evidence, verified_by, verified_at) "
                "VALUES (:id, :u, 'verified', CAST(:e AS jsonb), 'bootstrap', :now)"
            ),
            {
                "id": verification_id,
                "u": user_id,
                "e": json.dumps([{"type": "other", "checked": True, "procedure": "bootstrap_cli"}]),
                "now": unit.now,
            },
        )
        await unit.conn.execute(text("UPDATE users SET verification = 'verified' WHERE id = :u"), {"u": user_id})
        await unit.record(
            "user.verification_recorded",
            OPERATOR,
            subject=user_id,
            verification_id=verification_id,
            outcome="verified",
            evidence_types=["other"],
        )
        grant = await insert_grant(unit, OPERATOR, user_id, SYSTEM_ADMINISTRATOR, Scope(), "bootstrap")
        activation = await enrolment.issue(identity, unit, OPERATOR, user_id, deliver=False)
    return {"user_id": user_id, "grant_id": grant["id"], **activation}
