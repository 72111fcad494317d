"""External systems (A6R-8) and identity's log (A6R-48, A6R-49), including the credential
issuance log system administrators read (A6R-50)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from identity.domain.grants import Scope
from identity.entrypoints.deps import Limit, LogSequence, Page, Service, actor
from identity.service_layer import external, journal
from registry_platform.auth import REGISTRY_ADMINISTRATOR, SYSTEM_ADMINISTRATOR
from registry_platform.authz import Caller, require

router = APIRouter()


class RiskAssessment(BaseModel):
    assessor: Annotated[str, Field(min_length=1, max_length=200)]
    date: date
    level: Literal["low", "medium", "high"]
    mitigations: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(default_factory=list, max_length=50)


class ExternalScope(BaseModel):
    section: Annotated[str | None, Field(max_length=3)] = None
    account: Annotated[str | None, Field(max_length=64)] = None
    cooperative_approach: Annotated[str | None, Field(max_length=6)] = None


class NewExternalSystem(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    public_jwk: dict[str, Any]
    risk_assessment: RiskAssessment
    scopes: list[ExternalScope] = Field(min_length=1, max_length=20)


@router.post(
    "/external-systems",
    status_code=201,
    tags=["external systems"],
    dependencies=[require(REGISTRY_ADMINISTRATOR, step_up=True)],
)
async def register_external_system(identity: Service, caller: Caller, body: NewExternalSystem) -> dict[str, Any]:
    """Register a system with its risk assessment and public key; answers its client id."""
    scopes = [Scope(s.section, s.account, s.cooperative_approach) for s in body.scopes]
    risk = body.risk_assessment.model_dump(mode="json")
    return await external.register(identity, actor(caller), body.name, body.public_jwk, risk, scopes)


@router.get("/external-systems", tags=["external systems"], dependencies=[require(REGISTRY_ADMINISTRATOR)])
async def list_external_systems(identity: Service) -> list[dict[str, Any]]:
    return await external.listing(identity)


@router.post(
    "/external-systems/{client_id}/disable",
    tags=["external systems"],
    dependencies=[require(REGISTRY_ADMINISTRATOR, step_up=True)],
)
async def disable_external_system(identity: Service, caller: Caller, client_id: uuid.UUID) -> dict[str, Any]:
    return await external.disable(identity, actor(caller), str(client_id))


@router.post(
    "/external-systems/{client_id}/unthrottle",
    tags=["external systems"],
    dependencies=[require(REGISTRY_ADMINISTRATOR, step_up=True)],
)
async def unthrottle_external_system(identity: Service, caller: Caller, client_id: uuid.UUID) -> dict[str, Any]:
    """End the wait after failed token requests (`throttled_until`): the system's next request is looked at."""
    return await external.unthrottle(identity, actor(caller), str(client_id))


@router.get(
    "/external-systems/{client_id}/calls",
    response_model=Page,
    tags=["external systems"],
    dependencies=[require(REGISTRY_ADMINISTRATOR)],
)
async def external_calls(identity: Service, client_id: uuid.UUID, limit: Limit = 100, cursor: LogSequence = 0) -> Page:
    items, nxt = await external.calls(identity, str(client_id), limit, cursor)
    return Page(items=items, next=nxt)


@router.get(
    "/log", response_model=Page, tags=["log"], dependencies=[require(SYSTEM_ADMINISTRATOR, REGISTRY_ADMINISTRATOR)]
)
async def log(
    identity: Service,
    limit: Limit = 100,
    cursor: LogSequence = 0,
    kind: Annotated[str | None, Query(max_length=64, description="Kind prefix, e.g. grant.")] = None,
    subject: Annotated[str | None, Query(max_length=64)] = None,
    order: Annotated[
        Literal["oldest_first", "newest_first"],
        Query(description="newest_first: the cursor is the entry to page back from (0: the newest)."),
    ] = "oldest_first",
) -> Page:
    """Identity's hash-chained log: every operation, with actor and impersonated user."""
    items, nxt = await journal.page(
        identity,
        after=cursor,
        limit=limit,
        kind_prefix=kind,
        subject=subject,
        newest_first=order == "newest_first",
    )
    return Page(items=items, next=nxt)


@router.get(
    "/log/credentials",
    response_model=Page,
    tags=["log"],
    dependencies=[require(SYSTEM_ADMINISTRATOR, REGISTRY_ADMINISTRATOR)],
)
async def credential_log(identity: Service, limit: Limit = 100, cursor: LogSequence = 0) -> Page:
    """The credential issuance log (A6R-50): activations issued and redeemed, enrolments, keys, revocations."""
    items, nxt = await journal.page(identity, after=cursor, limit=limit, kind_prefix="credential.")
    return Page(items=items, next=nxt)
