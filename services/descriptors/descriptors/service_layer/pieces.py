"""Serial ranges cut into pieces on which every known fact (descriptor, movement) is uniform."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from descriptors.adapters.history import History
from descriptors.adapters.repository import Descriptors
from descriptors.domain import in_force
from descriptors.domain.first_transfer import Movement
from descriptors.domain.model import Covering, Descriptor, Kind, Supersession, UnitRange


@dataclass(frozen=True)
class Piece:
    units: UnitRange
    descriptors: list[Descriptor]
    supersessions: list[Supersession]
    movements: list[Movement]

    def authorization_at(self, at: datetime) -> Descriptor | None:
        """The authorization in force over the piece at `at`."""
        coverings = [Covering(d, self.units.first, self.units.last) for d in self.descriptors]
        live = in_force.candidates(coverings, self.supersessions, at)
        return in_force.latest(c.descriptor for c in live if c.descriptor.kind is Kind.AUTHORIZATION)

    @property
    def markers(self) -> list[Descriptor]:
        return [d for d in self.descriptors if d.kind is Kind.FIRST_TRANSFER]


async def pieces(conn: AsyncConnection, units: UnitRange, approach: str | None) -> list[Piece]:
    scope, first, last = units.scope, units.first, units.last
    coverings, supersessions, _ = await Descriptors(conn).coverings(scope, first, last, approach)
    placed = await History(conn).movements(scope, first, last)
    spans = [(c.first, c.last) for c in coverings] + [(p.units.first, p.units.last) for p in placed]
    found = []
    for a, b in in_force.boundaries(first, last, spans):
        found.append(
            Piece(
                UnitRange(scope, a, b),
                [c.descriptor for c in coverings if c.first <= a and c.last >= b],
                supersessions,
                [p.movement for p in placed if p.units.first <= a and p.units.last >= b],
            )
        )
    return found
