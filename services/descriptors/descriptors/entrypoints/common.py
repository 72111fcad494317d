"""What the descriptors endpoints share: roles, the running service, refusals, unit parameters."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Query, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from descriptors.domain.errors import DescriptorError
from descriptors.domain.model import Scope, UnitRange
from descriptors.service_layer.service import DescriptorsService
from registry_platform.auth import (
    ACCOUNT_ROLES,
    APPROACH_OBSERVER,
    EXTERNAL_SYSTEM,
    REGISTRY_ADMINISTRATOR,
    REGISTRY_SERVICE,
    SECTION_ADMINISTRATOR,
    SECTION_USER,
)
from registry_platform.errors import RegistryError

# Descriptors travel to every registry of their approach; within the registry any business reader
# sees them. System administrators have no business function (A6R-50).
READERS = (
    REGISTRY_ADMINISTRATOR,
    SECTION_ADMINISTRATOR,
    SECTION_USER,
    APPROACH_OBSERVER,
    REGISTRY_SERVICE,
    EXTERNAL_SYSTEM,
    *sorted(ACCOUNT_ROLES),
)
# Authorizations are the Party's act: its section administrators, or systems it authorized (A6R-8).
ISSUERS = (SECTION_ADMINISTRATOR, EXTERNAL_SYSTEM)
# Re-issuing markers (A6R-55): registry administrators and the Party's section administrators.
MARKER_ISSUERS = (REGISTRY_ADMINISTRATOR, SECTION_ADMINISTRATOR)
# Peer registries, through the interop gateway (a registry service) or as registered systems.
PEERS = (REGISTRY_SERVICE, EXTERNAL_SYSTEM)
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size")]
T = TypeVar("T")


class Page(BaseModel):
    items: list[dict[str, Any]]
    next: str | None = None


def service_of(request: Request) -> DescriptorsService:
    service = request.app.state.runtime.state.get("descriptors")
    if service is None:
        raise RegistryError(503, "descriptors_starting", "The descriptors service is starting; retry in a moment.")
    assert isinstance(service, DescriptorsService)
    return service


async def refusing(work: Awaitable[T]) -> T:
    """Run service-layer work, answering its refusals as RegistryErrors."""
    try:
        return await work
    except DescriptorError as exc:
        raise RegistryError(exc.status, exc.code, exc.message, **exc.details) from exc


@asynccontextmanager
async def transaction(request: Request) -> AsyncIterator[tuple[DescriptorsService, AsyncConnection]]:
    service = service_of(request)
    async with service.engine.begin() as conn:
        yield service, conn


def utc_instant(value: datetime | None, service: DescriptorsService) -> datetime:
    if value is None:
        return service.now()
    if value.tzinfo is None:
        raise RegistryError(422, "naive_timestamp", "Give instants with a time zone, e.g. 2026-01-01T00:00:00Z.")
    return value


def unit_range(
    originating_registry: Annotated[str | None, Query(description="Unit scope: originating registry id")] = None,
    issuing_party: Annotated[str | None, Query(description="Unit scope: issuing Party (ISO3)")] = None,
    activity_id: Annotated[str | None, Query(description="Unit scope: activity id")] = None,
    vintage: Annotated[int | None, Query(description="Unit scope: vintage year")] = None,
    metric: Annotated[str | None, Query(description="Unit scope: metric code")] = None,
    first: Annotated[int | None, Query(ge=1, description="First serial")] = None,
    last: Annotated[int | None, Query(ge=1, description="Last serial (default: first, one unit)")] = None,
) -> UnitRange | None:
    """The unit (or serial range) named by query parameters; None when none are given."""
    values = (originating_registry, issuing_party, activity_id, vintage, metric, first)
    if all(v is None for v in (*values, last)):
        return None
    if any(v is None for v in values):
        raise RegistryError(
            422, "incomplete_units",
            "Name units by originating_registry, issuing_party, activity_id, vintage, metric and first (last).",
        )  # fmt: skip
    assert first is not None and vintage is not None
    end = last if last is not None else first
    if end < first:
        raise RegistryError(422, "malformed_range", f"serials {first}-{end}: first is after last")
    return UnitRange(
        Scope(str(originating_registry), str(issuing_party), str(activity_id), vintage, str(metric)), first, end
    )


def required_units(units: UnitRange | None) -> UnitRange:
    if units is None:
        raise RegistryError(422, "incomplete_units", "Name the units: originating_registry, issuing_party, "
                            "activity_id, vintage, metric, first and optionally last.")  # fmt: skip
    return units
