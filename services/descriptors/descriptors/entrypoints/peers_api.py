"""What peer registries call: this registry's descriptor key, its feed of descriptors since a cursor
(pull), and the intake of theirs (push, through the interop gateway). Routes under /descriptors/
with fixed names are declared here, before /descriptors/{descriptor_id}."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from descriptors.adapters import jws
from descriptors.adapters.repository import Descriptors
from descriptors.entrypoints.common import PEERS, Limit, Page, refusing, service_of, transaction
from descriptors.service_layer import queries
from descriptors.service_layer.propagation import receive
from registry_platform.authz import public, require

router = APIRouter()


@router.get("/descriptors/keys", dependencies=[public()], tags=["peers"])
async def keys(request: Request) -> dict[str, Any]:
    """The public key (JWK Set) this registry signs its descriptors with; peers register it."""
    service = service_of(request)
    return {"registry": service.settings.registry_id, "keys": [jws.public_jwk(service.signer)]}


@router.get("/descriptors/feed", dependencies=[require(*PEERS)], tags=["peers"], response_model=Page)
async def feed(
    request: Request,
    limit: Limit = 100,
    after: Annotated[int, Query(ge=0, description="The last sequence already read")] = 0,
) -> Page:
    """The descriptors this registry originated, in the order they were stored, each signed (JWS).
    A reader keeps the last `sequence` it stored and asks for the ones after it."""
    async with service_of(request).engine.connect() as conn:
        rows = await Descriptors(conn).page(filters={}, units=None, after=after, limit=limit + 1, own_only=True)
    page = rows[:limit]
    items = [{k: queries.view(r)[k] for k in ("descriptor_id", "sequence", "kind", "jws")} for r in page]
    return Page(items=items, next=str(page[-1].sequence) if len(rows) > limit else None)


class IncomingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jws: str = Field(min_length=1, max_length=1_000_000, description="The descriptor as its origin signed it")


@router.post(
    "/descriptors/incoming",
    dependencies=[require(*PEERS)],
    tags=["peers"],
    responses={201: {"description": "Verified and stored"}, 200: {"description": "Already stored"},
               422: {"description": "Refused (bad signature, unknown key, Party or approach); nothing stored"}},
)  # fmt: skip
async def incoming(request: Request, body: IncomingIn) -> JSONResponse:
    async with transaction(request) as (service, conn):
        row, created = await refusing(receive(service, conn, body.jws))
    return JSONResponse(queries.view(row), status_code=201 if created else 200)
