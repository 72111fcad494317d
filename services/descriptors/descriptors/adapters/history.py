"""What the service learned from the ledger: accounts, issued units and every movement of units."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from descriptors.adapters.repository import SCOPE_COLUMNS, scope_match
from descriptors.domain.first_transfer import Move, Movement
from descriptors.domain.model import SCOPE_FIELDS, Scope, UnitRange

_VALUES = ", ".join(":" + f for f in SCOPE_FIELDS)


@dataclass(frozen=True)
class Account:
    number: str
    section: str | None
    type: str
    cooperative_approach: str | None


@dataclass(frozen=True)
class Placed:
    """A movement of serials first..last."""

    movement: Movement
    units: UnitRange


class History:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def account(self, number: str) -> Account | None:
        row = (
            await self.conn.execute(
                text("SELECT number, section, type, cooperative_approach FROM accounts WHERE number = :n"),
                {"n": number},
            )
        ).first()
        return Account(row.number, row.section, row.type, row.cooperative_approach) if row else None

    async def learn_account(self, account: Account) -> None:
        await self.conn.execute(
            text(
                "INSERT INTO accounts (number, section, type, cooperative_approach) VALUES (:n, :s, :t, :c) "
                "ON CONFLICT (number) DO UPDATE SET section = EXCLUDED.section, type = EXCLUDED.type, "
                "cooperative_approach = EXCLUDED.cooperative_approach, learned_at = clock_timestamp()"
            ),
            {"n": account.number, "s": account.section, "t": account.type, "c": account.cooperative_approach},
        )

    async def add_issued(
        self, tx: str, op_index: int, units: UnitRange, account: str, approach: str | None, at: datetime
    ) -> None:
        await self.conn.execute(
            text(
                f"INSERT INTO issued_units (transaction_id, op_index, {SCOPE_COLUMNS}, first_serial, last_serial, "
                f"account, cooperative_approach, recorded_at) VALUES (:tx, :op, {_VALUES}, :first, :last, :account, "
                ":approach, :at) ON CONFLICT DO NOTHING"
            ),
            {"tx": tx, "op": op_index, **units.scope.as_dict(), "first": units.first, "last": units.last,
             "account": account, "approach": approach, "at": at},
        )  # fmt: skip

    async def add_movement(self, tx_kind: str, placed: Placed) -> None:
        m, u = placed.movement, placed.units
        await self.conn.execute(
            text(
                "INSERT INTO movements (transaction_id, transaction_kind, op_index, kind, supplementary, "
                "source_account, destination_account, source_party, destination_party, destination_type, "
                f"{SCOPE_COLUMNS}, first_serial, last_serial, recorded_at) VALUES (:tx, :tx_kind, :op, :kind, "
                f":supplementary, :src, :dst, :src_party, :dst_party, :dst_type, {_VALUES}, :first, :last, :at) "
                "ON CONFLICT DO NOTHING"
            ),
            {"tx": m.transaction_id, "tx_kind": tx_kind, "op": m.op_index, "kind": m.kind.value,
             "supplementary": m.supplementary, "src": m.source_account, "dst": m.destination_account,
             "src_party": m.source_party, "dst_party": m.destination_party, "dst_type": m.destination_type,
             **u.scope.as_dict(), "first": u.first, "last": u.last, "at": m.recorded_at},
        )  # fmt: skip

    async def movements(self, scope: Scope, first: int, last: int, *, decided_only: bool = False) -> list[Placed]:
        """Movements of serials first..last of `scope`, in ledger order."""
        decided = (
            " AND EXISTS (SELECT 1 FROM decided_transactions x WHERE x.transaction_id = m.transaction_id)"
            if decided_only
            else ""
        )
        rows = await self.conn.execute(
            text(
                "SELECT * FROM movements m WHERE "
                f"{scope_match('m')} AND m.first_serial <= :last AND m.last_serial >= :first{decided} "
                "ORDER BY m.recorded_at, m.transaction_id, m.op_index"
            ),
            {**scope.as_dict(), "first": first, "last": last},
        )
        return [_placed(r) for r in rows]

    async def undecided_movement(self, units: UnitRange) -> Placed | None:
        """The earliest movement of some of `units` whose transaction's markers are not decided yet."""
        row = (
            await self.conn.execute(
                text(
                    f"SELECT * FROM movements m WHERE {scope_match('m')} AND m.first_serial <= :last "
                    "AND m.last_serial >= :first AND NOT EXISTS (SELECT 1 FROM decided_transactions x "
                    "WHERE x.transaction_id = m.transaction_id) ORDER BY m.recorded_at, m.transaction_id, m.op_index "
                    "LIMIT 1"
                ),
                {**units.scope.as_dict(), "first": units.first, "last": units.last},
            )
        ).first()
        return _placed(row) if row else None

    async def movements_of(self, transaction_id: str) -> list[Placed]:
        rows = await self.conn.execute(
            text("SELECT * FROM movements WHERE transaction_id = :tx ORDER BY op_index, id"), {"tx": transaction_id}
        )
        return [_placed(r) for r in rows]

    async def stage(self, transaction_id: str, kind: str, recorded_at: datetime) -> None:
        await self.conn.execute(
            text(
                "INSERT INTO staged_transactions (transaction_id, kind, recorded_at) VALUES (:tx, :kind, :at) "
                "ON CONFLICT DO NOTHING"
            ),
            {"tx": transaction_id, "kind": kind, "at": recorded_at},
        )

    async def undecided(self, settle_seconds: float, limit: int) -> list[Any]:
        """Staged transactions to decide now, in ledger order: those recorded no later than the latest
        recorded of the transactions staged at least `settle_seconds` ago. A transaction that settled
        vouches for every transaction recorded before it having arrived by now."""
        return list(
            await self.conn.execute(
                text(
                    "WITH open AS (SELECT s.* FROM staged_transactions s WHERE NOT EXISTS "
                    "(SELECT 1 FROM decided_transactions d WHERE d.transaction_id = s.transaction_id)) "
                    "SELECT transaction_id, kind, recorded_at FROM open WHERE recorded_at <= (SELECT max(recorded_at) "
                    "FROM open WHERE staged_at <= clock_timestamp() - make_interval(secs => :settle)) "
                    "ORDER BY recorded_at, transaction_id LIMIT :limit"
                ),
                {"settle": settle_seconds, "limit": limit},
            )
        )

    async def decided(self, transaction_id: str) -> None:
        await self.conn.execute(
            text("INSERT INTO decided_transactions (transaction_id) VALUES (:tx) ON CONFLICT DO NOTHING"),
            {"tx": transaction_id},
        )

    async def issued(self, scope: Scope, first: int, last: int) -> list[Any]:
        """The issued ranges of `scope` overlapping first..last, in serial order."""
        return list(
            await self.conn.execute(
                text(
                    "SELECT first_serial, last_serial, cooperative_approach FROM issued_units i WHERE "
                    f"{scope_match('i')} AND i.first_serial <= :last AND i.last_serial >= :first "
                    "ORDER BY first_serial"
                ),
                {**scope.as_dict(), "first": first, "last": last},
            )
        )

    async def missing(self, units: UnitRange) -> list[tuple[int, int]]:
        """The serials of `units` this registry never saw issued (or received from another registry)."""
        gaps, next_serial = [], units.first
        for row in await self.issued(units.scope, units.first, units.last):
            if row.first_serial > next_serial:
                gaps.append((next_serial, min(row.first_serial - 1, units.last)))
            next_serial = max(next_serial, row.last_serial + 1)
        if next_serial <= units.last:
            gaps.append((next_serial, units.last))
        return gaps

    async def approach_of(self, units: UnitRange) -> str | None:
        """The cooperative approach the units were issued under, when one issuance holds them all."""
        rows = await self.issued(units.scope, units.first, units.last)
        approaches = {r.cooperative_approach for r in rows}
        covered = any(r.first_serial <= units.first and r.last_serial >= units.last for r in rows)
        return approaches.pop() if covered and len(approaches) == 1 else None


def _placed(r: Any) -> Placed:
    movement = Movement(
        transaction_id=r.transaction_id,
        op_index=r.op_index,
        kind=Move(r.kind),
        source_account=r.source_account,
        destination_account=r.destination_account,
        source_party=r.source_party,
        destination_party=r.destination_party,
        destination_type=r.destination_type,
        recorded_at=r.recorded_at,
        supplementary=r.supplementary,
    )
    return Placed(movement, UnitRange(Scope.of(r._mapping), r.first_serial, r.last_serial))
