"""The descriptors service's running state: clock, settings, signing key, the ledger client, and how an
own descriptor is dated, signed, stored and announced on `descriptors.outbound` in one transaction.

One `DescriptorsService` per ServiceDefinition; inbox handlers and endpoints reach it, and `bind`
attaches the running platform when the service starts (consumers start before that and wait).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from descriptors.adapters import jws
from descriptors.adapters.history import Account, History
from descriptors.adapters.ledger_client import LedgerClient
from descriptors.adapters.repository import Descriptors, NewDescriptor
from descriptors.domain.applicability import applicable_from
from descriptors.domain.errors import DescriptorError, Unavailable
from descriptors.domain.model import Kind, UnitRange
from descriptors.settings import DescriptorsSettings
from registry_contracts.envelope import EventEnvelope
from registry_contracts.events.descriptors import DescriptorDocument
from registry_contracts.timestamps import as_utc
from registry_platform.auth import ServiceTokens
from registry_platform.events import new_envelope
from registry_platform.outbox import add_events

OUTBOUND_TOPIC = "descriptors.outbound"
TRANSACTIONS_TOPIC = "ledger.transactions"
PROPOSALS_TOPIC = "ledger.proposals"
# Namespace of the deterministic ids of automatic markers (a replayed event makes the same id).
MARKERS = uuid.UUID("6f1c0a1e-45a6-4c55-9d2f-a6a6a6a6a645")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Draft:
    """An own descriptor before it is dated and signed."""

    kind: Kind
    issuing_party: str
    cooperative_approach: str | None
    created_at: datetime
    issued_by: str
    ranges: list[UnitRange]
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    supersedes: str | None = None
    authorization: dict[str, Any] | None = None
    first_transfer: dict[str, Any] | None = None
    conditions: dict[str, Any] | None = None
    request_hash: str | None = None


class DescriptorsService:
    def __init__(self, *, clock: Clock = utc_now) -> None:
        self.clock = clock
        self._settings: DescriptorsSettings | None = None
        self._engine: AsyncEngine | None = None
        self._topic: Callable[[str], str] = lambda name: name
        self._wake: Callable[[], None] = lambda: None
        self._bound: asyncio.Event | None = None
        self._sequencer_wakeup: asyncio.Event | None = None
        self.ledger = LedgerClient("", None)

    def bind(
        self, settings: DescriptorsSettings, engine: AsyncEngine, topic: Callable[[str], str], wake: Callable[[], None]
    ) -> None:
        self._settings, self._engine, self._topic, self._wake = settings, engine, topic, wake
        self.signer = settings.signer()
        self.ledger = LedgerClient(
            settings.ledger_url, ServiceTokens.of_service(settings), settings.ledger_timeout_seconds
        )
        self._bound_event().set()

    def _bound_event(self) -> asyncio.Event:
        if self._bound is None:
            self._bound = asyncio.Event()
        return self._bound

    async def ready(self) -> None:
        await self._bound_event().wait()

    @property
    def sequencer_wakeup(self) -> asyncio.Event:
        if self._sequencer_wakeup is None:
            self._sequencer_wakeup = asyncio.Event()
        return self._sequencer_wakeup

    def wake_sequencer(self) -> None:
        """A transaction was staged: the marker sequencer looks again once it settled."""
        loop = asyncio.get_running_loop()
        loop.call_later(self.settings.marker_settle_seconds + 0.01, self.sequencer_wakeup.set)

    @property
    def settings(self) -> DescriptorsSettings:
        assert self._settings is not None, "the descriptors service is not bound to a runtime yet"
        return self._settings

    @property
    def engine(self) -> AsyncEngine:
        assert self._engine is not None, "the descriptors service is not bound to a runtime yet"
        return self._engine

    def now(self) -> datetime:
        return as_utc(self.clock())

    def wake_soon(self) -> None:
        """The outbox rows commit after the caller returns: wake the relay a few times."""
        loop = asyncio.get_running_loop()
        for delay in (0.002, 0.02, 0.1):
            loop.call_later(delay, self._wake)

    # -- reference data the ledger owns -----------------------------------------------------------

    async def account(self, conn: AsyncConnection, number: str) -> Account:
        """An account's section and type: learned from proposals, else asked of the ledger."""
        history = History(conn)
        known = await history.account(number)
        if known is not None:
            return known
        if not self.ledger.configured:
            raise Unavailable(f"account {number} is unknown and no ledger URL is configured (REGISTRY_LEDGER_URL)")
        found = await self.ledger.account(number)
        if found is None:
            raise Unavailable(f"the ledger does not know account {number} (yet)")
        await history.learn_account(found)
        return found

    async def approach_parties(self, approach: str) -> list[str] | None:
        configured = self.settings.cooperative_approaches.get(approach)
        if configured is not None:
            return configured
        if not self.ledger.configured:
            return None
        try:
            return (await self.ledger.approaches()).get(approach)
        except Unavailable as exc:
            raise DescriptorError("ledger_unavailable", str(exc), status=503) from exc

    # -- own descriptors --------------------------------------------------------------------------

    def document(self, draft: Draft) -> DescriptorDocument:
        window = self.settings.window_for(draft.cooperative_approach)
        return DescriptorDocument.model_validate(
            {
                "descriptor_id": str(draft.id),
                "kind": draft.kind.value,
                "origin_registry": self.settings.registry_id,
                "issuing_party": draft.issuing_party,
                "cooperative_approach": draft.cooperative_approach,
                "created_at": draft.created_at,
                "applicable_from": applicable_from(draft.created_at, window),
                "supersedes": draft.supersedes,
                "issued_by": draft.issued_by,
                "authorization": draft.authorization,
                "first_transfer": draft.first_transfer,
            }
        )

    async def publish(self, conn: AsyncConnection, drafts: Sequence[Draft]) -> list[uuid.UUID]:
        """Sign and store own descriptors, and announce them on the outbound topic, all in the
        caller's transaction. Returns the ids stored now (a repeat stores nothing)."""
        stored, events = [], []
        for draft in drafts:
            doc = self.document(draft)
            body = doc.model_dump(mode="json")
            token = jws.sign(self.signer, body)
            ft = draft.first_transfer or {}
            auth = draft.authorization or {}
            sequence = await Descriptors(conn).add(
                NewDescriptor(
                    id=draft.id,
                    kind=draft.kind,
                    origin_registry=doc.origin_registry,
                    issuing_party=doc.issuing_party,
                    cooperative_approach=doc.cooperative_approach,
                    created_at=doc.created_at,
                    applicable_from=doc.applicable_from,
                    supersedes=doc.supersedes,
                    document=body,
                    jws=token,
                    ranges=draft.ranges,
                    dedication=auth.get("dedication"),
                    oimp_trigger=auth.get("oimp_first_transfer"),
                    conditions=draft.conditions,
                    transferred_at=doc.first_transfer.transferred_at if doc.first_transfer else None,
                    basis=ft.get("basis"),
                    transaction_id=ft.get("transaction_id"),
                    request_hash=draft.request_hash,
                )
            )
            if sequence is None:
                continue
            stored.append(draft.id)
            events.append((self._topic(OUTBOUND_TOPIC), self.outbound_event(body, token, sequence)))
        if events:
            await add_events(conn, events)
            self.wake_soon()
        return stored

    def outbound_event(self, body: dict[str, Any], token: str, sequence: int) -> EventEnvelope:
        key = body["cooperative_approach"] or body["issuing_party"]
        payload = {
            "descriptor_id": body["descriptor_id"],
            "kind": body["kind"],
            "origin_registry": body["origin_registry"],
            "issuing_party": body["issuing_party"],
            "cooperative_approach": body["cooperative_approach"],
            "applicable_from": body["applicable_from"],
            "sequence": sequence,
            "jws": token,
        }
        return new_envelope(type="descriptors.DescriptorIssued", payload=payload, key=key, producer="descriptors")
