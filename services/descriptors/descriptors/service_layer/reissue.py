"""Re-issuing a first-transfer marker by hand (A6R-55).

The new marker supersedes the one in force over the units (the latest marker by date applies), and
is refused where the units were transferred internationally or externally since that marker, unless
each such transfer was reversed by a corrective transfer. Registry administrators and the
administrators of the first-transferring Party's section re-issue markers.

A marker has at most one successor over each serial: a re-issue is decided in turn with the
marker sequencer (the lock it takes), is refused over serials where the marker has a successor
already (`already_superseded`, whenever that was created), and waits for the markers of the units'
transactions still settling to be decided (`markers_pending`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from descriptors.adapters.history import History
from descriptors.adapters.repository import Descriptors
from descriptors.domain.errors import Conflict, DescriptorError, Forbidden, NotFound
from descriptors.domain.first_transfer import current_marker, may_reissue
from descriptors.domain.model import Basis, Kind, merge
from descriptors.service_layer.authorizations import existing, refuse_pending, request_hash, units_of
from descriptors.service_layer.pieces import Piece, pieces
from descriptors.service_layer.service import DescriptorsService, Draft
from registry_contracts.events.descriptors import DescriptorUnits
from registry_contracts.timestamps import UtcDatetime
from registry_platform.auth import SECTION_ADMINISTRATOR, Principal


class ReissueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    supersedes: uuid.UUID = Field(description="The marker in force over the units, which the new one replaces")
    units: list[DescriptorUnits] = Field(min_length=1, max_length=1000)
    party: str = Field(description="ISO 3166-1 alpha-3 of the first-transferring Party")
    transferred_at: UtcDatetime | None = Field(default=None, description="Default: the replaced marker's")
    reason: str = Field(min_length=1, max_length=2000)


async def reissue_marker(
    service: DescriptorsService, conn: AsyncConnection, caller: Principal, marker_id: uuid.UUID, req: ReissueIn
) -> tuple[Any, bool]:
    digest = request_hash(req)
    repeat = await existing(conn, marker_id, digest)
    if repeat is not None:
        return repeat, False
    if not (caller.is_registry_administrator or any(
        g.role == SECTION_ADMINISTRATOR and g.section == req.party for g in caller.grants
    )):  # fmt: skip
        raise Forbidden("not_authorized", f"only registry administrators or administrators of section {req.party} "
                        "re-issue its first-transfer markers")  # fmt: skip
    repo = Descriptors(conn)
    # Decided in turn with the sequencer (and other re-issues): whichever comes second reads what
    # the first stored. A peer's marker superseding the same one takes the "successor" lock.
    await repo.decide_markers(wait=True)
    await repo.lock("successor", req.supersedes)
    old = await repo.get(req.supersedes)
    if old is None or old.kind != Kind.FIRST_TRANSFER.value:
        raise NotFound("unknown_descriptor", f"there is no first-transfer marker {req.supersedes}")
    # The marker replaced is its first-transferring Party's: that section's administrators decide.
    if not (caller.is_registry_administrator or any(
        g.role == SECTION_ADMINISTRATOR and g.section == old.issuing_party for g in caller.grants
    )):  # fmt: skip
        raise Forbidden("not_authorized", f"marker {req.supersedes} is {old.issuing_party}'s; only registry "
                        f"administrators or administrators of section {old.issuing_party} re-issue it")  # fmt: skip
    now = service.now()
    at = (now, str(marker_id))
    ranges = units_of(req.units)
    history = History(conn)
    for r in ranges:
        if await history.missing(r):
            raise Conflict("unknown_units", f"serials {r.first}-{r.last} do not all exist here")
        # A transaction still settling may supersede the marker itself (or forbid the re-issue):
        # judged before it is decided, the re-issue and its marker would both supersede the marker.
        await refuse_pending(service, conn, r)
        for piece in await pieces(conn, r, None):
            _check_piece(piece, str(req.supersedes), at)
    merged = merge(ranges)
    transferred: datetime = req.transferred_at or old.transferred_at
    draft = Draft(
        id=marker_id,
        kind=Kind.FIRST_TRANSFER,
        issuing_party=req.party,
        cooperative_approach=old.cooperative_approach,
        created_at=now,
        issued_by=caller.initiator,
        ranges=merged,
        supersedes=str(req.supersedes),
        first_transfer={
            "units": [u.view() for u in merged],
            "transferred_at": transferred,
            "party": req.party,
            "basis": Basis.REISSUE.value,
            "reason": req.reason,
        },
        request_hash=digest,
    )
    await service.publish(conn, [draft])
    return await Descriptors(conn).get(marker_id), True


def _check_piece(piece: Piece, supersedes: str, at: tuple[Any, ...]) -> None:
    where = f"serials {piece.units.first}-{piece.units.last}"
    # Whenever the successor was created: a clock that is coarse, behind or another instance's
    # must not let a second successor through.
    successor = next((m.id for m in piece.markers if m.supersedes == supersedes), None)
    if successor is not None:
        raise Conflict("already_superseded", f"marker {supersedes} is superseded over {where} by {successor} "
                       "already; re-issue the marker in force there")  # fmt: skip
    current = current_marker(piece.markers, at)
    if current is None:
        raise Conflict("no_marker_to_reissue", f"{where} carry no first-transfer marker to re-issue")
    if current.id != supersedes:
        raise Conflict("not_current_marker", f"the marker in force over {where} is {current.id}, not {supersedes}")
    allowed, reason = may_reissue(current, piece.movements, at)
    if not allowed:
        raise DescriptorError("reissue_not_allowed", f"{where}: {reason} (A6R-55)", status=409)
