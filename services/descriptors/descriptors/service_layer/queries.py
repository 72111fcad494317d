"""Read side: the descriptors in force for serial ranges at an instant (what the ledger and the rules
service put into a proposal's `descriptors`), a unit's descriptor history, and listings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from descriptors.adapters.history import History
from descriptors.adapters.repository import Descriptors
from descriptors.domain import in_force
from descriptors.domain.model import Kind, UnitRange
from registry_contracts.events.rules import AuthorizationView, FirstTransferView, SerialScope, UnitDescriptors
from registry_contracts.timestamps import iso_utc


def view(row: Any, ranges: list[UnitRange] | None = None) -> dict[str, Any]:
    """A stored descriptor as the API shows it: indexed fields, the signed document and its JWS."""
    return {
        "descriptor_id": str(row.id),
        "sequence": int(row.sequence),
        "kind": row.kind,
        "origin_registry": row.origin_registry,
        "issuing_party": row.issuing_party,
        "cooperative_approach": row.cooperative_approach,
        "created_at": iso_utc(row.created_at),
        "applicable_from": iso_utc(row.applicable_from),
        "supersedes": str(row.supersedes) if row.supersedes else None,
        "superseded_by": list(row.superseded_by),
        "superseded_from": iso_utc(row.superseded_from) if row.superseded_from else None,
        "received_from": row.received_from,
        # A peer's: when stored here, from which it applies here at the earliest (`applicable_from`;
        # the document keeps the instant its origin gave it).
        "received_at": iso_utc(row.received_at) if row.received_at else None,
        "document": row.document,
        "jws": row.jws,
        **({"units": [r.view() for r in ranges]} if ranges is not None else {}),
    }


async def units_in_force(
    conn: AsyncConnection, units: UnitRange, approach: str | None, at: datetime
) -> list[UnitDescriptors]:
    """The descriptors in force at `at` over `units`, split at descriptor boundaries so that every
    serial of `units` is in exactly one returned segment (a segment without descriptors says so)."""
    if approach is None:
        approach = await History(conn).approach_of(units)
    coverings, supersessions, _ = await Descriptors(conn).coverings(units.scope, units.first, units.last, approach)
    out = []
    for seg in in_force.segments(units.first, units.last, coverings, supersessions, at):
        auth, marker = seg.authorization, seg.marker
        out.append(
            UnitDescriptors(
                scope=SerialScope(**units.scope.as_dict()),
                first=seg.first,
                last=seg.last,
                authorization=AuthorizationView(
                    descriptor_id=auth.id,
                    dedication=auth.dedication.value if auth.dedication else "",
                    authorized_by=auth.issuing_party,
                    applicable_from=auth.applicable_from,
                )
                if auth
                else None,
                first_transfer=FirstTransferView(
                    descriptor_id=marker.id,
                    transferred_at=marker.transferred_at or marker.created_at,
                    party=marker.issuing_party,
                )
                if marker
                else None,
            )
        )
    return out


async def unit_history(conn: AsyncConnection, units: UnitRange, at: datetime) -> list[dict[str, Any]]:
    """Every descriptor that ever covered some of `units`: applicable or not yet, in force or
    superseded, oldest first, each with the serials it covers and its status at `at`."""
    approach = await History(conn).approach_of(units)
    repo = Descriptors(conn)
    coverings, supersessions, rows = await repo.coverings(units.scope, units.first, units.last, approach)
    gone_now = in_force.superseded_over(units.first, units.last, coverings, supersessions, at)
    covered: dict[str, list[UnitRange]] = {}
    for c in coverings:
        span = UnitRange(units.scope, max(c.first, units.first), min(c.last, units.last))
        covered.setdefault(c.descriptor.id, []).append(span)
    by_id = {str(r.id): r for r in rows}
    items = []
    for descriptor_id, row in sorted(by_id.items(), key=lambda kv: (kv[1].created_at, kv[1].sequence)):
        status = "superseded" if descriptor_id in gone_now else (
            "applicable" if row.applicable_from <= at else "pending"
        )  # fmt: skip
        items.append(
            {
                **view(row, covered.get(descriptor_id, [])),
                "status": status,
            }
        )
    return items


def kind_filter(kind: str | None) -> str | None:
    return Kind(kind).value if kind else None
