"""Replay (issue 6): rebuild the descriptors and their effects from the authoritative inputs alone.

The inputs are the source records, which no transaction constitutes (authorizations, markers
re-issued by hand, peers' descriptors: each stored with the JWS it was signed with), and the
ledger's recorded transactions. Everything else is derived from them by the same code as live:
the markers an authorization constitutes (OIMP at authorization or issuance), and, transaction by
transaction, the unit history, the allocations of capped authorizations and the first-transfer
markers.

Both are applied merged in order of their instants (a source record when it entered this registry:
its creation, or a peer's storage here; a transaction at its recording), each in its own database
transaction. A peer's descriptor is stored again with the instant it was received live, so it
applies, and counts for first-transfer decisions, from the same instant as live. With the service's
clock in agreement with the ledger's, that is the order the live service saw them in, up to
consumption lag: a transaction's markers depend only on descriptors applicable at its instant, which
were created at least 12 h earlier (or, a peer's, stored here before it), and on markers known
before it; an authorization's own markers only on markers known before it. Live differs only where
a transaction arrived later than `marker_settle_seconds`: live then holds, besides markers in force
alike to replay's, the superseded early markers and restatements, which replay never makes
(docs/descriptors.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from descriptors.adapters import jws
from descriptors.adapters.repository import Descriptors, NewDescriptor
from descriptors.domain.model import Kind, Scope, UnitRange
from descriptors.service_layer import ledger_events, sequencer
from descriptors.service_layer.authorizations import oimp_markers
from descriptors.service_layer.service import DescriptorsService, Draft
from registry_contracts.envelope import EventEnvelope
from registry_contracts.events.descriptors import DescriptorDocument
from registry_contracts.events.ledger import TransactionRecorded
from registry_contracts.signing import KeyRing


class ReplayRefused(Exception):
    """The target is not empty, or a source record does not verify."""


@dataclass(frozen=True)
class ReplayReport:
    source_records: int
    transactions: int


def keys_of(service: DescriptorsService) -> KeyRing:
    """This registry's descriptor key and every registered peer key."""
    own = jws.public_jwk(service.signer)
    return jws.key_ring([own, *(key for peer in service.settings.peers for key in peer.keys)])


async def replay(
    service: DescriptorsService, sources: Sequence[Any], transactions: Sequence[EventEnvelope]
) -> ReplayReport:
    """Apply source records (stored rows, oldest first) and recorded transactions (in ledger order)
    to the empty schema behind `service`."""
    async with service.engine.connect() as conn:
        if await Descriptors(conn).page(filters={}, units=None, after=0, limit=1):
            raise ReplayRefused("the target schema already holds descriptors; replay into an empty database")
    keys = keys_of(service)
    steps: list[tuple[datetime, int, Any]] = [(row.received_at or row.created_at, 0, row) for row in sources]
    for envelope in transactions:
        steps.append((TransactionRecorded.model_validate(envelope.payload).recorded_at, 1, envelope))
    # Stable: sources keep their stored order, transactions their ledger order, at equal instants.
    for _, step, item in sorted(steps, key=lambda s: (s[0], s[1])):
        if step == 0:
            await _source(service, keys, item)
        else:
            await _transaction(service, item)
    return ReplayReport(len(sources), len(transactions))


async def _source(service: DescriptorsService, keys: KeyRing, row: Any) -> None:
    try:
        doc = DescriptorDocument.model_validate(jws.verify(row.jws, keys).payload)
    except (jws.SignatureInvalid, jws.MalformedJws) as exc:
        raise ReplayRefused(f"descriptor {row.id}: its JWS does not verify: {exc}") from exc
    if doc.descriptor_id != str(row.id):
        raise ReplayRefused(f"descriptor {row.id}: its JWS signs descriptor {doc.descriptor_id}")
    async with service.engine.begin() as conn:
        await Descriptors(conn).add(
            NewDescriptor.of_document(
                doc,
                row.jws,
                received_from=row.received_from,
                received_at=row.received_at,
                request_hash=row.request_hash,
            )
        )
        if doc.authorization is not None and row.received_from is None:
            draft = Draft(
                id=row.id,
                kind=Kind.AUTHORIZATION,
                issuing_party=doc.issuing_party,
                cooperative_approach=doc.cooperative_approach,
                created_at=doc.created_at,
                issued_by=doc.issued_by,
                ranges=[UnitRange(Scope.of(u.scope), u.first, u.last) for u in doc.authorization.units],
            )
            markers = await oimp_markers(conn, draft, doc.authorization.oimp_first_transfer)
            if markers:
                await service.publish(conn, markers)


async def _transaction(service: DescriptorsService, envelope: EventEnvelope) -> None:
    async with service.engine.begin() as conn:
        await ledger_events.on_transaction_recorded(service, conn, envelope)
        await sequencer.decide_transaction(service, conn, str(envelope.payload["transaction_id"]))
