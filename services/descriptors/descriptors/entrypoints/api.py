"""The descriptors API: issue authorizations, re-issue markers, list descriptors, a unit's history
and status, and the in-force query the ledger and the rules service fill proposals with."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from descriptors.adapters.peer_feeds import PeerFeeds
from descriptors.adapters.repository import Descriptors
from descriptors.domain.model import Scope, UnitRange
from descriptors.entrypoints.common import (
    ISSUERS,
    MARKER_ISSUERS,
    READERS,
    Limit,
    Page,
    refusing,
    required_units,
    service_of,
    transaction,
    unit_range,
    utc_instant,
)
from descriptors.service_layer import queries
from descriptors.service_layer.authorizations import AuthorizationIn, issue_authorization
from descriptors.service_layer.reissue import ReissueIn, reissue_marker
from registry_contracts.events.rules import SerialScope, UnitDescriptors
from registry_contracts.timestamps import UtcDatetime
from registry_platform.auth import REGISTRY_ADMINISTRATOR
from registry_platform.authz import Caller, require
from registry_platform.errors import RegistryError

router = APIRouter()
# The listing's orders: as stored (the default, the cursor's order) or newest first.
SORTS = ("sequence", "-sequence")
Units = Annotated[UnitRange | None, Depends(unit_range)]
At = Annotated[datetime | None, Query(description="The instant (UTC); default now")]


def _created(row: Any, created: bool) -> JSONResponse:
    return JSONResponse(queries.view(row), status_code=201 if created else 200)


@router.put(
    "/authorizations/{authorization_id}",
    dependencies=[require(*ISSUERS, step_up=True)],
    tags=["authorizations"],
    summary="Issue an authorization under the client's own id (idempotent; A6R-45)",
    responses={201: {"description": "Issued"}, 200: {"description": "Repeat of an issued request"}},
)
async def put_authorization(
    request: Request, caller: Caller, authorization_id: Annotated[uuid.UUID, Path()], body: AuthorizationIn
) -> JSONResponse:
    async with transaction(request) as (service, conn):
        row, created = await refusing(issue_authorization(service, conn, caller, authorization_id, body))
    return _created(row, created)


@router.put(
    "/first-transfer-markers/{marker_id}",
    dependencies=[require(*MARKER_ISSUERS, step_up=True)],
    tags=["first-transfer markers"],
    summary="Re-issue a first-transfer marker, where A6R-55 allows it (idempotent)",
)
async def put_marker(
    request: Request, caller: Caller, marker_id: Annotated[uuid.UUID, Path()], body: ReissueIn
) -> JSONResponse:
    async with transaction(request) as (service, conn):
        row, created = await refusing(reissue_marker(service, conn, caller, marker_id, body))
    return _created(row, created)


@router.get("/descriptors", dependencies=[require(*READERS)], tags=["descriptors"], response_model=Page)
async def list_descriptors(
    request: Request,
    units: Units,
    kind: Annotated[str | None, Query(pattern="^(authorization|first_transfer)$")] = None,
    party: Annotated[str | None, Query(description="The Party the descriptors are issued for")] = None,
    cooperative_approach: str | None = None,
    origin: Annotated[str | None, Query(description="Originating registry id")] = None,
    limit: Limit = 100,
    after: Annotated[int | None, Query(ge=0, description="Cursor: the `next` of the previous page")] = None,
    sort: Annotated[
        str | None,
        Query(
            max_length=40,
            description="'sequence' (stored order, the default) or '-sequence' (newest first); "
            "unknown: 422 unknown_sort",
        ),
    ] = None,
) -> Page:
    """Descriptors in the order this registry stored them (or newest first), filtered; `units` finds
    those naming some of the serials (condition-based authorizations are in a unit's history)."""
    filters = {"kind": kind, "issuing_party": party, "cooperative_approach": cooperative_approach,
               "origin_registry": origin}  # fmt: skip
    if sort not in (None, *SORTS):
        raise RegistryError(
            422,
            "unknown_sort",
            f"Cannot sort by {sort!r}; sort by one of {', '.join(SORTS)}.",
            sort=sort,
            allowed=SORTS,
        )
    async with service_of(request).engine.connect() as conn:
        repo = Descriptors(conn)
        rows = await repo.page(
            filters=filters, units=units, after=after, limit=limit + 1, newest_first=sort == "-sequence"
        )
        page = rows[:limit]
        ranges = await repo.ranges_of([r.id for r in page])
    items = [queries.view(r, ranges.get(str(r.id), [])) for r in page]
    return Page(items=items, next=str(page[-1].sequence) if len(rows) > limit else None)


@router.get("/units/history", dependencies=[require(*READERS)], tags=["units"])
async def history(request: Request, units: Units, at: At = None) -> dict[str, Any]:
    """Every descriptor that ever covered these serials, oldest first, with its status at `at`
    (pending, applicable, superseded) and the serials it covers."""
    service = service_of(request)
    instant, wanted = utc_instant(at, service), required_units(units)
    async with service.engine.connect() as conn:
        items = await queries.unit_history(conn, wanted, instant)
    return {"at": instant.isoformat(), "items": items}


@router.get("/units/status", dependencies=[require(*READERS)], tags=["units"])
async def status(
    request: Request, units: Units, at: At = None, cooperative_approach: str | None = None
) -> dict[str, Any]:
    """The authorization and first-transfer marker applicable to these serials at `at`."""
    service = service_of(request)
    instant, wanted = utc_instant(at, service), required_units(units)
    async with service.engine.connect() as conn:
        found = await queries.units_in_force(conn, wanted, cooperative_approach, instant)
    return {"at": instant.isoformat(), "descriptors": [d.model_dump(mode="json") for d in found]}


class RangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: SerialScope
    first: Annotated[int, Field(ge=1, le=2**53 - 1)]
    last: Annotated[int, Field(ge=1, le=2**53 - 1)]
    cooperative_approach: str | None = Field(default=None, description="The approach the units were issued under")


class InForceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: UtcDatetime | None = Field(default=None, description="The processing instant; default now")
    units: list[RangeIn] = Field(min_length=1, max_length=1000)


class InForceOut(BaseModel):
    at: datetime
    descriptors: list[UnitDescriptors]


@router.post("/descriptors/in-force", dependencies=[require(*READERS)], tags=["units"], response_model=InForceOut)
async def in_force(request: Request, body: InForceIn) -> InForceOut:
    """The descriptors in force at `at` for each range, split at descriptor boundaries: every serial
    asked for is in exactly one returned segment (the proposal's `descriptors`, A6R-45)."""
    service = service_of(request)
    instant = body.at or service.now()
    found: list[UnitDescriptors] = []
    async with service.engine.connect() as conn:
        for r in body.units:
            if r.first > r.last:
                raise RegistryError(422, "malformed_range", f"serials {r.first}-{r.last}: first is after last")
            units = UnitRange(Scope.of(r.scope), r.first, r.last)
            found += await queries.units_in_force(conn, units, r.cooperative_approach, instant)
    return InForceOut(at=instant, descriptors=found)


@router.get(
    "/peers/held-descriptors", dependencies=[require(REGISTRY_ADMINISTRATOR)], tags=["peers"], response_model=Page
)
async def held_descriptors(
    request: Request,
    registry: Annotated[str | None, Query(max_length=64, description="Only this peer registry's")] = None,
    after: Annotated[str | None, Query(max_length=100, description="The `next` of the previous page")] = None,
    limit: Limit = 100,
) -> Page:
    """Peer descriptors the pull loop holds, refused for a reason that may pass (an unregistered key,
    an unknown approach or Party), with the latest refusal. Those of a configured peer are tried
    again every round; those of a registry no longer configured as a peer (`peer_configured`
    false) are kept, but not tried unless it is configured again."""
    service = service_of(request)
    configured = {p.registry for p in service.settings.peers}
    async with service.engine.connect() as conn:
        rows = await PeerFeeds(conn).held(registry=registry, after=held_cursor(after), limit=limit + 1)
    page = rows[:limit]
    following = f"{page[-1].registry}/{page[-1].sequence}" if len(rows) > limit else None
    return Page(items=[h.view(h.registry in configured) for h in page], next=following)


def held_cursor(after: str | None) -> tuple[str, int] | None:
    if after is None:
        return None
    registry, _, sequence = after.rpartition("/")
    if not registry or not (sequence.isascii() and sequence.isdigit()) or int(sequence) >= 2**63:
        raise RegistryError(422, "malformed_cursor", "Give `after` as the `next` of the previous page.")
    return registry, int(sequence)


@router.get("/descriptors/{descriptor_id}", dependencies=[require(*READERS)], tags=["descriptors"])
async def get_descriptor(request: Request, descriptor_id: uuid.UUID) -> dict[str, Any]:
    async with service_of(request).engine.connect() as conn:
        repo = Descriptors(conn)
        row = await repo.get(descriptor_id)
        if row is None:
            raise RegistryError(404, "unknown_descriptor", f"There is no descriptor {descriptor_id}.")
        ranges = await repo.ranges_of([row.id])
    return queries.view(row, ranges.get(str(row.id), []))
