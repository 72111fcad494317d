"""Deciding first-transfer markers (A6R-45, A6R-55) for staged transactions, in ledger order.

Issue 6 asks for the marker to be created atomically with the transaction that constitutes it.
Markers are created here instead, from the ledger's committed, ordered `ledger.TransactionRecorded`
stream, which is equivalent (docs/descriptors.md): a marker exists iff its transaction was committed
(the ledger's outbox), exactly once (the inbox, and ids derived from the transaction), stamped with
the transaction's recorded instant as if made with it, and it applies no earlier than 12 h later, so
consumption lag never changes processing. Replaying the topic reproduces them (service_layer.replay).

The ledger keys those events by transaction id over several partitions, so two transactions on the
same units can be consumed in either order. The handler only stages them; this sequencer decides
the transactions staged at least `marker_settle_seconds` ago in (recorded_at, id) order. A
transaction staged later still than that (a lagging partition) is decided when it comes, and then
every already decided movement of the same units recorded after it is decided again: every marker
made too early is superseded (domain.first_transfer.decide), by the late transaction's marker or by
the current marker stated again, as is a marker an authorization made for units it marks, a missed
re-issue is made, and the applicability delay keeps a wrong marker from applying in the meantime.

Capped condition-based authorizations take their units here too, at issuance, in ledger order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict

from sqlalchemy.ext.asyncio import AsyncConnection

from descriptors.adapters.history import History, Placed
from descriptors.adapters.repository import Descriptors, conditions_of, to_domain
from descriptors.domain import in_force
from descriptors.domain.first_transfer import Decision, Move, Movement, decide
from descriptors.domain.model import Kind, UnitRange, merge
from descriptors.service_layer.pieces import pieces
from descriptors.service_layer.service import MARKERS, DescriptorsService, Draft

log = logging.getLogger(__name__)
BATCH = 100


async def decide_pending(service: DescriptorsService) -> int:
    """Decide the transactions that settled; returns how many (0 when another instance, or a
    re-issue by hand, is deciding markers)."""
    settle = service.settings.marker_settle_seconds
    done = 0
    while True:
        async with service.engine.begin() as conn:
            # Another instance, or a re-issue by hand, is deciding markers: try again next round.
            if not await Descriptors(conn).decide_markers(wait=False):
                return done
            batch = await History(conn).undecided(settle, BATCH)
            for row in batch:
                await decide_transaction(service, conn, row.transaction_id)
            done += len(batch)
        if len(batch) < BATCH:
            return done


async def decide_transaction(service: DescriptorsService, conn: AsyncConnection, transaction_id: str) -> None:
    history = History(conn)
    placed = await history.movements_of(transaction_id)
    by_op: dict[int, list[Placed]] = defaultdict(list)
    for p in placed:
        by_op[p.movement.op_index].append(p)
    for _, ops in sorted(by_op.items()):
        if ops[0].movement.kind is Move.ISSUE:
            for p in ops:
                await _allocate(conn, p, transaction_id)
        await _publish_markers(service, conn, ops)
    await history.decided(transaction_id)
    await _redecide_later(service, conn, placed)


async def _redecide_later(service: DescriptorsService, conn: AsyncConnection, placed: list[Placed]) -> None:
    """A transaction decided after others recorded later than it: decide those again, over the
    serials it moved only (elsewhere nothing changed, and deciding again there would find the
    movement's own marker current before it)."""
    seen: set[tuple[str, int, int, int]] = set()
    for p in placed:
        later = await History(conn).movements(p.units.scope, p.units.first, p.units.last, decided_only=True)
        for q in later:
            shared = UnitRange(q.units.scope, max(q.units.first, p.units.first), min(q.units.last, p.units.last))
            which = (q.movement.transaction_id, q.movement.op_index, shared.first, shared.last)
            if q.movement.key() <= p.movement.key() or which in seen or which[0] == p.movement.transaction_id:
                continue
            seen.add(which)
            log.info("transaction %s came late: deciding %s again", p.movement.transaction_id, which[0])
            await _publish_markers(service, conn, [Placed(q.movement, shared)])


async def _publish_markers(service: DescriptorsService, conn: AsyncConnection, ops: list[Placed]) -> None:
    drafts = await markers_for(conn, ops)
    if drafts:
        await service.publish(conn, drafts)


async def _allocate(conn: AsyncConnection, placed: Placed, transaction_id: str) -> None:
    """Capped condition-based authorizations take the first matching units issued while they apply."""
    repo = Descriptors(conn)
    units, at = placed.units, placed.movement.recorded_at
    approach = await History(conn).approach_of(units)
    rows = [r for r in await repo.condition_authorizations(units.scope.issuing_party) if r.applicable_from <= at]
    gone = in_force.superseded_at(await repo.supersessions([str(r.id) for r in rows]), at)
    for row in sorted(rows, key=lambda r: to_domain(r).order_key()):
        conditions = conditions_of(row)
        if conditions is None or conditions.quantity_cap is None or str(row.id) in gone:
            continue
        if not conditions.matches(row.issuing_party, units.scope, approach):
            continue
        remaining = conditions.quantity_cap - await repo.allocated(str(row.id))
        if remaining > 0:
            taken = UnitRange(units.scope, units.first, min(units.last, units.first + remaining - 1))
            await repo.allocate(str(row.id), transaction_id, taken)


async def markers_for(conn: AsyncConnection, placed: list[Placed]) -> list[Draft]:
    """The markers one operation's movements constitute, one per (basis, Party, superseded marker)."""
    groups: dict[tuple[str, str, str | None, str | None, str | None], list[UnitRange]] = defaultdict(list)
    context: dict[tuple[str, str, str | None, str | None, str | None], tuple[Movement, Decision]] = {}
    history = History(conn)
    for p in placed:
        approach = await history.approach_of(p.units)
        for piece in await pieces(conn, p.units, approach):
            decision = decide(
                p.movement, piece.authorization_at(p.movement.recorded_at), piece.markers, piece.movements
            )
            if decision is None:
                continue
            restates = decision.restates.id if decision.restates else None
            for supersedes in decision.supersedes or (None,):
                key = (decision.basis.value, decision.party, supersedes, approach, restates)
                groups[key].append(piece.units)
                context[key] = (p.movement, decision)
    return [marker_draft(*context[key], ranges, key[2], key[3]) for key, ranges in groups.items()]


def marker_draft(
    movement: Movement, decision: Decision, ranges: list[UnitRange], supersedes: str | None, approach: str | None
) -> Draft:
    """The marker `decision` makes; a restated one keeps the restated marker's transaction and
    instants, so it sits where that one does in the history."""
    merged = merge(ranges)
    # The serials are in the name: one operation deciding again may mark serials it left unmarked
    # before (a correction came late), under the same decision otherwise.
    serials = ",".join(f"{r.scope.as_dict()}:{r.first}-{r.last}" for r in merged)
    own = f"{movement.transaction_id}:{movement.op_index}"
    stated = decision.restates
    if stated is None:
        tx, created, transferred = movement.transaction_id, movement.recorded_at, movement.recorded_at
        name = f"{own}:{decision.basis.value}:{decision.party}:{supersedes}:{approach}:{serials}"
    else:
        tx, created, transferred = stated.transaction_id, stated.created_at, stated.transferred_at or stated.created_at
        name = f"restated:{stated.id}:by:{own}:{supersedes}:{approach}:{serials}"
    return Draft(
        id=uuid.uuid5(MARKERS, name),
        kind=Kind.FIRST_TRANSFER,
        issuing_party=decision.party,
        cooperative_approach=approach,
        created_at=created,
        issued_by="registry",
        ranges=merged,
        supersedes=supersedes,
        first_transfer={
            "units": [r.view() for r in merged],
            "transferred_at": transferred,
            "party": decision.party,
            "basis": decision.basis.value,
            "transaction_id": tx,
        },
    )


async def sequencer_loop(service: DescriptorsService, stop: asyncio.Event) -> None:
    await service.ready()
    interval = max(0.05, min(1.0, service.settings.marker_settle_seconds / 2))
    while not stop.is_set():
        try:
            await decide_pending(service)
        except Exception:
            log.exception("deciding first-transfer markers failed; retrying")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(service.sequencer_wakeup.wait(), timeout=interval)
        service.sequencer_wakeup.clear()
