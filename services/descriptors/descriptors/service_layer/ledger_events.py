"""What the ledger's events teach the descriptors service (A6R-45): accounts (from proposals), and
from each `ledger.TransactionRecorded` on `ledger.transactions` the units it issued and every
movement of units, staged for the marker sequencer (service_layer.sequencer), which decides the
first-transfer markers in ledger order.

Accounts' sections and types come from the proposals the ledger publishes (both accounts of every
unit transaction), else from the ledger's API; while neither knows an account, the event is retried
in place (a transient failure), so no movement is ever classified without its sections.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from descriptors.adapters.history import Account, History, Placed
from descriptors.domain.first_transfer import Move, Movement, classify
from descriptors.domain.model import Scope, UnitRange
from descriptors.service_layer.service import DescriptorsService
from registry_contracts.envelope import EventEnvelope
from registry_contracts.events.ledger import TransactionRecorded
from registry_contracts.events.rules import ProposalSubmitted

log = logging.getLogger(__name__)


async def on_proposal(service: DescriptorsService, conn: AsyncConnection, envelope: EventEnvelope) -> None:
    """The ledger describes both accounts of every unit transaction it proposes: remember them."""
    await service.ready()
    proposal = ProposalSubmitted.model_validate(envelope.payload)
    for view in (proposal.source, proposal.destination):
        if view is not None:
            account = Account(view.number, view.section, view.type, view.cooperative_approach)
            await History(conn).learn_account(account)


async def on_transaction_recorded(service: DescriptorsService, conn: AsyncConnection, envelope: EventEnvelope) -> None:
    await service.ready()
    event = TransactionRecorded.model_validate(envelope.payload)
    history = History(conn)
    for index, op in enumerate(event.operations):
        for p in await _record(service, conn, event, index, op):
            await history.add_movement(event.kind, p)
    await history.stage(event.transaction_id, event.kind, event.recorded_at)
    service.wake_sequencer()


async def _record(
    service: DescriptorsService, conn: AsyncConnection, event: TransactionRecorded, index: int, op: dict[str, Any]
) -> list[Placed]:
    kind = op.get("op")
    blocks = [UnitRange(Scope.of(b["scope"]), int(b["first"]), int(b["last"])) for b in op.get("blocks", [])]
    source: Account | None = None
    if kind == "issue":
        destination = await service.account(conn, op["account"])
    elif kind == "external_in":
        destination = await service.account(conn, op["destination"])
    elif kind in ("transfer", "supplementary"):
        source = await service.account(conn, op["source"])
        destination = await service.account(conn, op["destination"])
    else:
        log.warning("transaction %s: operation %r is not one descriptors know; ignored", event.transaction_id, kind)
        return []
    movement = Movement(
        transaction_id=event.transaction_id,
        op_index=index,
        kind=classify(event.kind, kind, source.section if source else None, destination.section, destination.type),
        source_account=source.number if source else None,
        destination_account=destination.number,
        source_party=source.section if source else None,
        destination_party=destination.section,
        destination_type=destination.type,
        recorded_at=event.recorded_at,
        supplementary=kind == "supplementary",
    )
    if movement.kind in (Move.ISSUE, Move.EXTERNAL_IN):
        for units in blocks:
            approach = destination.cooperative_approach
            await History(conn).add_issued(
                event.transaction_id, index, units, destination.number, approach, event.recorded_at
            )
    return [Placed(movement, units) for units in blocks]
