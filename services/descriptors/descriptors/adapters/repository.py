"""Descriptor records in PostgreSQL: storing them, and finding those that cover serials."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from descriptors.domain.applicability import applies_here_from
from descriptors.domain.model import (
    SCOPE_FIELDS,
    Basis,
    Conditions,
    Covering,
    Dedication,
    Descriptor,
    Kind,
    OimpTrigger,
    Scope,
    Supersession,
    UnitRange,
)
from registry_contracts.events.descriptors import DescriptorDocument

SCOPE_MATCH = " AND ".join(f"{{t}}.{f} = :{f}" for f in SCOPE_FIELDS)
SCOPE_COLUMNS = ", ".join(SCOPE_FIELDS)
# The stored columns, the descriptors superseding each one (at most one for an authorization:
# migration 0004; a marker may be superseded piece by piece), and from when.
_COLUMNS = (
    "d.id, d.sequence, d.kind, d.origin_registry, d.issuing_party, d.cooperative_approach, d.created_at, "
    "d.applicable_from, d.supersedes, d.dedication, d.oimp_trigger, d.conditions, d.transferred_at, d.basis, "
    "d.transaction_id, d.document, d.jws, d.request_hash, d.received_from, d.received_at, "
    "ARRAY(SELECT s.id::text FROM descriptors s WHERE s.supersedes = d.id ORDER BY 1) AS superseded_by, "
    "(SELECT min(s.applicable_from) FROM descriptors s WHERE s.supersedes = d.id) AS superseded_from"
)


def scope_match(alias: str) -> str:
    return SCOPE_MATCH.replace("{t}", alias)


@dataclass(frozen=True)
class NewDescriptor:
    """A descriptor about to be stored: its indexed columns, its signed document and its ranges."""

    id: uuid.UUID
    kind: Kind
    origin_registry: str
    issuing_party: str
    cooperative_approach: str | None
    created_at: datetime
    applicable_from: datetime
    supersedes: str | None
    document: dict[str, Any]
    jws: str
    ranges: list[UnitRange]
    dedication: str | None = None
    oimp_trigger: str | None = None
    conditions: dict[str, Any] | None = None
    transferred_at: datetime | None = None
    basis: str | None = None
    transaction_id: str | None = None
    request_hash: str | None = None
    received_from: str | None = None
    received_at: datetime | None = None

    @classmethod
    def of_document(
        cls,
        doc: DescriptorDocument,
        token: str,
        *,
        received_from: str | None = None,
        received_at: datetime | None = None,
        request_hash: str | None = None,
    ) -> NewDescriptor:
        """A signed document as it is stored: a peer's on receipt (at `received_at`), a source record
        on replay. A peer's applies here no earlier than its receipt; the document keeps the
        instant its origin gave it."""
        auth, ft = doc.authorization, doc.first_transfer
        body = auth or ft
        assert body is not None
        return cls(
            id=uuid.UUID(doc.descriptor_id),
            kind=Kind(doc.kind),
            origin_registry=doc.origin_registry,
            issuing_party=doc.issuing_party,
            cooperative_approach=doc.cooperative_approach,
            created_at=doc.created_at,
            applicable_from=applies_here_from(doc.applicable_from, received_at),
            supersedes=doc.supersedes,
            document=doc.model_dump(mode="json"),
            jws=token,
            ranges=[UnitRange(Scope.of(u.scope), u.first, u.last) for u in body.units],
            dedication=auth.dedication if auth else None,
            oimp_trigger=auth.oimp_first_transfer if auth else None,
            conditions=auth.conditions.model_dump(mode="json") if auth and auth.conditions else None,
            transferred_at=ft.transferred_at if ft else None,
            basis=ft.basis if ft else None,
            transaction_id=ft.transaction_id if ft else None,
            request_hash=request_hash,
            received_from=received_from,
            received_at=received_at,
        )


def to_domain(row: Any) -> Descriptor:
    return Descriptor(
        id=str(row.id),
        kind=Kind(row.kind),
        issuing_party=row.issuing_party,
        created_at=row.created_at,
        applicable_from=row.applicable_from,
        supersedes=str(row.supersedes) if row.supersedes else None,
        dedication=Dedication(row.dedication) if row.dedication else None,
        oimp_trigger=OimpTrigger(row.oimp_trigger) if row.oimp_trigger else None,
        transferred_at=row.transferred_at,
        transaction_id=row.transaction_id,
        basis=Basis(row.basis) if row.basis else None,
        received_at=row.received_at,
    )


def conditions_of(row: Any) -> Conditions | None:
    return Conditions(**row.conditions) if row.conditions is not None else None


class Descriptors:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def lock(self, purpose: str, descriptor_id: uuid.UUID) -> None:
        """Hold until this transaction ends the right to store the descriptor `descriptor_id`
        (purpose "id") or a successor of it ("successor"): concurrent requests wait in turn."""
        await self.conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended('descriptors:' || :purpose || ':' || :id, 0))"),
            {"purpose": purpose, "id": str(descriptor_id)},
        )

    async def decide_markers(self, *, wait: bool) -> bool:
        """Take, until this transaction ends, the right to decide first-transfer markers: the
        sequencer and re-issues by hand decide in turn, each reading what the other stored, so they
        never both supersede a marker. Without `wait`, False at once if another holds it."""
        key = {"key": "descriptors:sequencer"}
        if wait:
            await self.conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), key)
            return True
        return bool(await self.conn.scalar(text("SELECT pg_try_advisory_xact_lock(hashtextextended(:key, 0))"), key))

    async def add(self, d: NewDescriptor) -> int | None:
        """Store a descriptor; its sequence, or None if one with this id is stored already.
        Sequences are drawn under a lock, so they follow commit order and a feed reader that saw
        sequence n never misses a later-committed n - 1."""
        await self.conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('descriptors:sequence', 0))"))
        sequence = await self.conn.scalar(
            text(
                "INSERT INTO descriptors (id, kind, origin_registry, issuing_party, cooperative_approach, created_at, "
                "applicable_from, supersedes, dedication, oimp_trigger, conditions, transferred_at, basis, "
                "transaction_id, document, jws, request_hash, received_from, received_at) VALUES (:id, :kind, :origin, "
                ":party, :approach, :created_at, :applicable_from, :supersedes, :dedication, :oimp_trigger, "
                "CAST(:conditions AS jsonb), :transferred_at, :basis, :transaction_id, CAST(:document AS jsonb), :jws, "
                ":request_hash, :received_from, :received_at) ON CONFLICT (id) DO NOTHING RETURNING sequence"
            ),
            {
                "id": d.id,
                "kind": d.kind.value,
                "origin": d.origin_registry,
                "party": d.issuing_party,
                "approach": d.cooperative_approach,
                "created_at": d.created_at,
                "applicable_from": d.applicable_from,
                "supersedes": d.supersedes,
                "dedication": d.dedication,
                "oimp_trigger": d.oimp_trigger,
                "conditions": json.dumps(d.conditions) if d.conditions is not None else None,
                "transferred_at": d.transferred_at,
                "basis": d.basis,
                "transaction_id": d.transaction_id,
                "document": json.dumps(d.document),
                "jws": d.jws,
                "request_hash": d.request_hash,
                "received_from": d.received_from,
                "received_at": d.received_at,
            },
        )
        if sequence is None:
            return None
        if d.ranges:
            await self.conn.execute(
                text(
                    f"INSERT INTO descriptor_ranges (descriptor_id, {SCOPE_COLUMNS}, first_serial, last_serial) "
                    f"VALUES (:id, {', '.join(':' + f for f in SCOPE_FIELDS)}, :first, :last)"
                ),
                [{"id": d.id, **r.scope.as_dict(), "first": r.first, "last": r.last} for r in d.ranges],
            )
        return int(sequence)

    async def get(self, descriptor_id: uuid.UUID) -> Any:
        return (
            await self.conn.execute(
                text(f"SELECT {_COLUMNS} FROM descriptors d WHERE d.id = :id"), {"id": descriptor_id}
            )
        ).first()

    async def ranges_of(self, ids: list[uuid.UUID]) -> dict[str, list[UnitRange]]:
        rows = await self.conn.execute(
            text(
                f"SELECT descriptor_id, {SCOPE_COLUMNS}, first_serial, last_serial FROM descriptor_ranges "
                "WHERE descriptor_id = ANY(:ids) ORDER BY descriptor_id, " + SCOPE_COLUMNS + ", first_serial"
            ),
            {"ids": ids},
        )
        found: dict[str, list[UnitRange]] = {}
        for r in rows:
            found.setdefault(str(r.descriptor_id), []).append(
                UnitRange(Scope.of(r._mapping), r.first_serial, r.last_serial)
            )
        return found

    async def coverings(
        self, scope: Scope, first: int, last: int, approach: str | None
    ) -> tuple[list[Covering], list[Supersession], list[Any]]:
        """Every descriptor covering some of first..last of `scope`, whether it applies yet or not,
        with the supersessions of them and the rows (for views)."""
        params = {**scope.as_dict(), "first": first, "last": last}
        rows = list(
            await self.conn.execute(
                text(
                    f"SELECT {_COLUMNS}, r.first_serial AS cover_first, r.last_serial AS cover_last "
                    f"FROM descriptor_ranges r JOIN descriptors d ON d.id = r.descriptor_id "
                    f"WHERE {scope_match('r')} AND r.first_serial <= :last AND r.last_serial >= :first "
                    f"UNION ALL SELECT {_COLUMNS}, a.first_serial, a.last_serial FROM allocations a "
                    f"JOIN descriptors d ON d.id = a.authorization_id "
                    f"WHERE {scope_match('a')} AND a.first_serial <= :last AND a.last_serial >= :first"
                ),
                params,
            )
        )
        coverings = [Covering(to_domain(r), r.cover_first, r.cover_last) for r in rows]
        for row in await self.condition_authorizations(scope.issuing_party):
            conditions = conditions_of(row)
            if (
                conditions
                and conditions.quantity_cap is None
                and conditions.matches(row.issuing_party, scope, approach)
            ):
                coverings.append(Covering(to_domain(row), first, last))
                rows.append(row)
        return coverings, await self.supersessions([c.descriptor.id for c in coverings]), rows

    async def source_records(self) -> list[Any]:
        """The descriptors no ledger transaction constitutes, in the order they entered this registry
        (a peer's when it was stored here): authorizations, markers re-issued by hand, and whatever
        peers sent. Everything else is derived from these and the ledger's recorded transactions
        (service_layer.replay)."""
        return list(
            await self.conn.execute(
                text(
                    f"SELECT {_COLUMNS} FROM descriptors d WHERE d.kind = 'authorization' OR d.basis = 'reissue' "
                    "OR d.received_from IS NOT NULL ORDER BY COALESCE(d.received_at, d.created_at), d.sequence"
                )
            )
        )

    async def condition_authorizations(self, party: str) -> list[Any]:
        return list(
            await self.conn.execute(
                text(f"SELECT {_COLUMNS} FROM descriptors d WHERE d.conditions IS NOT NULL AND d.issuing_party = :p"),
                {"p": party},
            )
        )

    async def supersessions(self, ids: list[str]) -> list[Supersession]:
        if not ids:
            return []
        rows = await self.conn.execute(
            text("SELECT id, supersedes, applicable_from, created_at FROM descriptors WHERE supersedes = ANY(:ids)"),
            {"ids": [uuid.UUID(i) for i in set(ids)]},
        )
        return [Supersession(str(r.id), str(r.supersedes), r.applicable_from, r.created_at) for r in rows]

    async def allocated(self, authorization_id: str) -> int:
        total = await self.conn.scalar(
            text(
                "SELECT COALESCE(sum(last_serial - first_serial + 1), 0) FROM allocations WHERE authorization_id = :a"
            ),
            {"a": uuid.UUID(authorization_id)},
        )
        return int(total or 0)

    async def allocate(self, authorization_id: str, transaction_id: str, units: UnitRange) -> None:
        await self.conn.execute(
            text(
                f"INSERT INTO allocations (authorization_id, transaction_id, {SCOPE_COLUMNS}, first_serial, "
                f"last_serial) VALUES (:a, :tx, {', '.join(':' + f for f in SCOPE_FIELDS)}, :first, :last) "
                "ON CONFLICT DO NOTHING"
            ),
            {"a": uuid.UUID(authorization_id), "tx": transaction_id, **units.scope.as_dict(), "first": units.first,
             "last": units.last},
        )  # fmt: skip

    async def page(
        self,
        *,
        filters: dict[str, Any],
        units: UnitRange | None,
        after: int | None,
        limit: int,
        own_only: bool = False,
        newest_first: bool = False,
    ) -> list[Any]:
        """Descriptors in sequence order (or its reverse) past the cursor `after`, filtered by kind,
        party, approach and units."""
        clauses = []
        params: dict[str, Any] = {"limit": limit}
        if after is not None:
            clauses.append(f"d.sequence {'<' if newest_first else '>'} :after")
            params["after"] = after
        for column in ("kind", "issuing_party", "cooperative_approach", "origin_registry"):
            if filters.get(column) is not None:
                clauses.append(f"d.{column} = :{column}")
                params[column] = filters[column]
        if own_only:
            clauses.append("d.received_from IS NULL")
        if units is not None:
            params.update(units.scope.as_dict(), first=units.first, last=units.last)
            clauses.append(
                f"(EXISTS (SELECT 1 FROM descriptor_ranges r WHERE r.descriptor_id = d.id AND {scope_match('r')} "
                "AND r.first_serial <= :last AND r.last_serial >= :first) OR EXISTS (SELECT 1 FROM allocations r "
                f"WHERE r.authorization_id = d.id AND {scope_match('r')} AND r.first_serial <= :last "
                "AND r.last_serial >= :first))"
            )
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT {_COLUMNS} FROM descriptors d {where} ORDER BY d.sequence {order} LIMIT :limit"
        return list(await self.conn.execute(text(sql), params))
