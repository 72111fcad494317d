"""Self-service: a signed-in user's own record, profile change requests (A6R-11), profile history
(A6R-49) and credentials (A6R-5, A6R-7)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from identity.entrypoints.deps import Service, SignedIn, actor, not_impersonating, signed_in
from identity.service_layer import credentials, grants, profiles, users

router = APIRouter(prefix="/me", tags=["me"])


class ProfileChange(BaseModel):
    name: Annotated[str | None, Field(max_length=200)] = None
    affiliations: list[Annotated[str, Field(max_length=200)]] | None = Field(None, max_length=20)
    contacts: list[dict[str, Annotated[str, Field(max_length=300)]]] | None = Field(None, max_length=10)


class NewPassword(BaseModel):
    current_password: Annotated[str, Field(max_length=512)]
    new_password: Annotated[str, Field(max_length=512)]


class SecurityKey(BaseModel):
    credential: dict[str, Any]
    label: Annotated[str, Field(min_length=1, max_length=100)] = "security key"


@router.get("", dependencies=[signed_in()])
async def me(identity: Service, caller: SignedIn) -> dict[str, Any]:
    who = actor(caller)
    record = await users.get(identity, who, caller.subject)
    async with identity.read() as conn:
        record["profile"] = await profiles.current(conn, caller.subject)
    record["grants"] = await grants.of_user(identity, caller.subject)
    record["acting_as"] = {"actor": caller.actor} if caller.actor else None
    return record


@router.post("/profile/changes", dependencies=[signed_in()])
async def change_profile(identity: Service, caller: SignedIn, body: ProfileChange) -> dict[str, Any]:
    """Contacts change at once; name and affiliations wait for an administrator's approval."""
    if body.contacts is not None:
        not_impersonating(caller, "Contacts")
    fields = body.model_dump(exclude_none=True)
    return await profiles.request_change(identity, actor(caller), fields)


@router.get("/profile/history", dependencies=[signed_in()])
async def my_history(identity: Service, caller: SignedIn) -> list[dict[str, Any]]:
    return await profiles.history(identity, caller.subject)


@router.get("/credentials", dependencies=[signed_in()])
async def my_credentials(identity: Service, caller: SignedIn) -> list[dict[str, Any]]:
    return await credentials.listing(identity, caller.subject)


@router.delete("/credentials/{credential_id}", dependencies=[signed_in()])
async def revoke_my_credential(identity: Service, caller: SignedIn, credential_id: uuid.UUID) -> dict[str, Any]:
    """Revoke one of your credentials (e.g. a lost key): every session of yours ends at once."""
    not_impersonating(caller)
    return await credentials.revoke(identity, actor(caller), caller.subject, str(credential_id))


@router.post("/credentials/password", dependencies=[signed_in(step_up=True)])
async def change_password(identity: Service, caller: SignedIn, body: NewPassword) -> dict[str, Any]:
    """Replace your password (policy as at enrolment); your other sessions end."""
    not_impersonating(caller)
    return await credentials.change_password(identity, actor(caller), body.current_password, body.new_password)


@router.post("/credentials/recovery-codes", dependencies=[signed_in(step_up=True)])
async def new_recovery_codes(identity: Service, caller: SignedIn) -> dict[str, Any]:
    not_impersonating(caller)
    return await credentials.new_recovery_codes(identity, actor(caller))


# Adding a key needs a fresh second factor, as changing the password does: a stolen session must not
# plant its own key (and with it the hardware-key roles of A6R-7).
@router.post("/credentials/webauthn/options", dependencies=[signed_in(step_up=True)])
async def security_key_options(identity: Service, caller: SignedIn) -> dict[str, Any]:
    not_impersonating(caller)
    return await credentials.webauthn_options(identity, actor(caller))


@router.post("/credentials/webauthn", dependencies=[signed_in(step_up=True)])
async def register_security_key(identity: Service, caller: SignedIn, body: SecurityKey) -> dict[str, Any]:
    not_impersonating(caller)
    return await credentials.register_webauthn(identity, actor(caller), body.credential, body.label)
