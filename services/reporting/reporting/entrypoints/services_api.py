"""Which service instances are alive, as seen from their events (operators' status board)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import text

from registry_platform.authz import public

router = APIRouter(tags=["operations"])


class ServiceInstance(BaseModel):
    service: str
    instance_id: str
    version: str | None
    started_at: datetime | None
    last_seen_at: datetime
    events_seen: int


# Operators' board, like /health and /ready: names, versions and liveness only.
@router.get("/services", response_model=list[ServiceInstance], dependencies=[public()])
async def list_services(request: Request) -> list[ServiceInstance]:
    engine = request.app.state.runtime.engine
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT service, instance_id, version, started_at, last_seen_at, events_seen "
                    "FROM service_peers ORDER BY service, last_seen_at DESC"
                )
            )
        ).mappings()
        return [ServiceInstance(**row) for row in rows]
