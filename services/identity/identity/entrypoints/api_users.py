"""Administering users (A6R-3, A6R-13, A6R-15, A6R-50): records, identity verification, credential
issuance, access suspension, unlocking, credential revocation, profile approvals and anonymisation."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field, model_validator

from identity.domain.errors import Refused
from identity.entrypoints.deps import Limit, Page, Service, actor
from identity.service_layer import credentials, enrolment, profiles, users
from registry_platform.auth import REGISTRY_ADMINISTRATOR, SECTION_ADMINISTRATOR, SYSTEM_ADMINISTRATOR
from registry_platform.authz import Caller, require

router = APIRouter(tags=["users"])
Short = Annotated[str, Field(min_length=1, max_length=200)]
ADMINS = (SYSTEM_ADMINISTRATOR, REGISTRY_ADMINISTRATOR)


class Contact(BaseModel):
    kind: Literal["email", "phone", "postal"]
    value: Annotated[str, Field(min_length=3, max_length=300)]


class NewUser(BaseModel):
    email: Annotated[str, Field(min_length=3, max_length=320)]
    name: Short
    date_of_birth: date
    nationality: Annotated[str, Field(pattern=r"^[A-Za-z]{3}$", description="ISO 3166-1 alpha-3")]
    affiliations: list[Short] = Field(default_factory=list, max_length=20)
    contacts: list[Contact] = Field(min_length=2, max_length=10)


class Evidence(BaseModel):
    type: Literal["government_id", "residence", "un_system", "other"]
    document_type: Annotated[str | None, Field(min_length=1, max_length=50)] = None
    issuing_country: Annotated[str | None, Field(pattern=r"^[A-Za-z]{3}$", description="ISO 3166-1 alpha-3")] = None
    document_number: Annotated[str | None, Field(min_length=1, max_length=64)] = None

    @model_validator(mode="after")
    def _document_named(self) -> Evidence:
        # A document number identifies a person only with its type and issuing country (A6R-15).
        if self.document_number and not (self.document_type and self.issuing_country):
            raise ValueError("a document number needs its document_type and issuing_country")
        return self


class Verification(BaseModel):
    outcome: Literal["verified", "rejected"]
    evidence: list[Evidence] = Field(min_length=1, max_length=10)


class Access(BaseModel):
    status: Literal["active", "suspended"]
    reason: Annotated[str, Field(min_length=3, max_length=500)]


class Reason(BaseModel):
    reason: Annotated[str, Field(min_length=3, max_length=500)]


class Decision(BaseModel):
    approve: bool


@router.post("/users", status_code=201, dependencies=[require(*ADMINS, SECTION_ADMINISTRATOR, step_up=True)])
async def create_user(identity: Service, caller: Caller, body: NewUser) -> dict[str, Any]:
    """A user record without any user authorization (A6R-13); one per person (A6R-15)."""
    data = body.model_dump()
    data["contacts"] = [c.model_dump() for c in body.contacts]
    return await users.create(identity, actor(caller), data)


@router.get("/users", response_model=Page, dependencies=[require(*ADMINS, SECTION_ADMINISTRATOR)])
async def list_users(
    identity: Service, caller: Caller, limit: Limit = 100, cursor: uuid.UUID | None = None, email: str | None = None
) -> Page:
    items, nxt = await users.listing(
        identity, actor(caller), limit=limit, after=str(cursor) if cursor else None, email=email
    )
    return Page(items=items, next=nxt)


@router.get("/users/{user_id}", dependencies=[require(*ADMINS, SECTION_ADMINISTRATOR)])
async def get_user(identity: Service, caller: Caller, user_id: uuid.UUID) -> dict[str, Any]:
    return await users.get(identity, actor(caller), str(user_id))


@router.post("/users/{user_id}/verifications", status_code=201, dependencies=[require(*ADMINS, step_up=True)])
async def verify_user(identity: Service, caller: Caller, user_id: uuid.UUID, body: Verification) -> dict[str, Any]:
    """Record an identity verification (A6R-3): evidence checked, by whom, when, outcome."""
    evidence = [e.model_dump() for e in body.evidence]
    return await users.verify(identity, actor(caller), str(user_id), body.outcome, evidence)


@router.post("/users/{user_id}/activations", status_code=201, dependencies=[require(*ADMINS, step_up=True)])
async def issue_activation(identity: Service, caller: Caller, user_id: uuid.UUID) -> dict[str, Any]:
    """Send an activation link (email) and code (second channel) to a verified user (A6R-4)."""
    return await enrolment.issue_activation(identity, actor(caller), str(user_id))


@router.put("/users/{user_id}/access", dependencies=[require(*ADMINS, step_up=True)])
async def set_access(identity: Service, caller: Caller, user_id: uuid.UUID, body: Access) -> dict[str, Any]:
    """Suspend or restore a user's access to the whole registry (A6R-50)."""
    return await users.set_access(identity, actor(caller), str(user_id), body.status, body.reason)


@router.post("/users/{user_id}/unlock", dependencies=[require(*ADMINS, step_up=True)])
async def unlock(identity: Service, caller: Caller, user_id: uuid.UUID) -> dict[str, Any]:
    return await users.unlock(identity, actor(caller), str(user_id))


@router.get("/users/{user_id}/credentials", dependencies=[require(*ADMINS)])
async def user_credentials(identity: Service, user_id: uuid.UUID) -> list[dict[str, Any]]:
    return await credentials.listing(identity, str(user_id))


@router.delete("/users/{user_id}/credentials/{credential_id}", dependencies=[require(*ADMINS, step_up=True)])
async def revoke_credential(
    identity: Service, caller: Caller, user_id: uuid.UUID, credential_id: uuid.UUID
) -> dict[str, Any]:
    """Revoke a user's credential on suspicion of compromise (A6R-5): effective at once."""
    return await credentials.revoke(identity, actor(caller), str(user_id), str(credential_id))


@router.get("/users/{user_id}/profile/history", dependencies=[require(REGISTRY_ADMINISTRATOR, SECTION_ADMINISTRATOR)])
async def profile_history(identity: Service, caller: Caller, user_id: uuid.UUID) -> list[dict[str, Any]]:
    await users.get(identity, actor(caller), str(user_id))  # 404 unless the caller may see the user
    return await profiles.history(identity, str(user_id))


@router.post("/users/{user_id}/anonymise", dependencies=[require(REGISTRY_ADMINISTRATOR, step_up=True)])
async def anonymise(identity: Service, caller: Caller, user_id: uuid.UUID, body: Reason) -> dict[str, Any]:
    """Replace the person's data with a tombstone, history included (A6R-49); the log is untouched."""
    return await profiles.anonymise(identity, actor(caller), str(user_id), body.reason)


@router.get(
    "/profile-changes", response_model=Page, dependencies=[require(REGISTRY_ADMINISTRATOR, SECTION_ADMINISTRATOR)]
)
async def pending_changes(
    identity: Service, caller: Caller, limit: Limit = 100, cursor: uuid.UUID | None = None
) -> Page:
    items, nxt = await profiles.pending(identity, actor(caller), limit, str(cursor) if cursor else None)
    return Page(items=items, next=nxt)


@router.post(
    "/profile-changes/{request_id}/decision",
    dependencies=[require(REGISTRY_ADMINISTRATOR, SECTION_ADMINISTRATOR, step_up=True)],
)
async def decide_change(identity: Service, caller: Caller, request_id: uuid.UUID, body: Decision) -> dict[str, Any]:
    """Acknowledge (or refuse) a change of name or affiliations (A6R-11)."""
    if caller.actor is not None:
        raise Refused(403, "not_while_impersonating", "Profile decisions are not made while impersonating.")
    return await profiles.decide(identity, actor(caller), str(request_id), body.approve)
