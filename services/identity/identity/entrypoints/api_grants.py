"""User authorizations (A6R-12 to A6R-15, A6R-50, A6R-51, A6R-58): the routes admit any
administrator; who may grant or change what (the hierarchy, the section scope) is decided by
identity.domain.grants with the caller's own grants."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from identity.domain.grants import Scope
from identity.entrypoints.deps import Limit, Page, Service, actor
from identity.service_layer import grants
from registry_platform.auth import REGISTRY_ADMINISTRATOR, SECTION_ADMINISTRATOR, SYSTEM_ADMINISTRATOR
from registry_platform.authz import Caller, require

router = APIRouter(prefix="/grants", tags=["grants"])
ADMINISTRATORS = (SYSTEM_ADMINISTRATOR, REGISTRY_ADMINISTRATOR, SECTION_ADMINISTRATOR)
Reason = Annotated[str | None, Field(max_length=500)]


class NewGrant(BaseModel):
    user_id: uuid.UUID
    role: Annotated[str, Field(max_length=64)]
    section: Annotated[str | None, Field(max_length=3)] = None
    account: Annotated[str | None, Field(max_length=64)] = None
    cooperative_approach: Annotated[str | None, Field(max_length=6)] = None
    reason: Reason = None


class Change(BaseModel):
    reason: Reason = None


@router.get("", response_model=Page, dependencies=[require(*ADMINISTRATORS)])
async def list_grants(
    identity: Service,
    caller: Caller,
    limit: Limit = 100,
    cursor: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    section: str | None = None,
    status: Literal["active", "suspended", "revoked"] | None = None,
    role: Annotated[str | None, Query(max_length=64, description="Only grants of this role")] = None,
) -> Page:
    items, nxt = await grants.listing(
        identity,
        actor(caller),
        user_id=str(user_id) if user_id else None,
        section=section,
        status=status,
        role=role,
        limit=limit,
        after=str(cursor) if cursor else None,
    )
    return Page(items=items, next=nxt)


@router.post("", status_code=201, dependencies=[require(*ADMINISTRATORS, step_up=True)])
async def grant(identity: Service, caller: Caller, body: NewGrant) -> dict[str, Any]:
    """System administrators grant registry administrators; registry administrators grant section
    administrators and approach observers; section administrators grant their section's users."""
    scope = Scope(body.section, body.account, body.cooperative_approach)
    return await grants.grant(identity, actor(caller), str(body.user_id), body.role, scope, body.reason)


async def _change(identity: Any, caller: Any, grant_id: uuid.UUID, action: str, body: Change) -> dict[str, Any]:
    return await grants.change(identity, actor(caller), str(grant_id), action, body.reason)


@router.post("/{grant_id}/suspend", dependencies=[require(*ADMINISTRATORS, step_up=True)])
async def suspend(identity: Service, caller: Caller, grant_id: uuid.UUID, body: Change) -> dict[str, Any]:
    """Temporary; settings kept. Re-suspension and reactivation need the same or a higher level."""
    return await _change(identity, caller, grant_id, "suspend", body)


@router.post("/{grant_id}/reactivate", dependencies=[require(*ADMINISTRATORS, step_up=True)])
async def reactivate(identity: Service, caller: Caller, grant_id: uuid.UUID, body: Change) -> dict[str, Any]:
    return await _change(identity, caller, grant_id, "reactivate", body)


@router.post("/{grant_id}/revoke", dependencies=[require(*ADMINISTRATORS, step_up=True)])
async def revoke(identity: Service, caller: Caller, grant_id: uuid.UUID, body: Change) -> dict[str, Any]:
    """Final: reinstatement is a new grant, with a new id."""
    return await _change(identity, caller, grant_id, "revoke", body)
