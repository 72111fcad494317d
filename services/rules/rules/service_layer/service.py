"""The rules service's running state: clock, plugins, the catalogue snapshot, and event plumbing.

One `RulesService` per ServiceDefinition. Inbox handlers and endpoints reach it; `bind` attaches
the running platform (engine, topics, relay) when the service starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from registry_contracts.envelope import EventEnvelope
from registry_contracts.verdicts import DEV_VERDICT_SEED, verdict_signer
from registry_platform.auth import Principal
from registry_platform.events import new_envelope
from rules.adapters.descriptors_client import DescriptorsClient
from rules.adapters.plugins import code_digests, installed_plugins
from rules.adapters.repository import Repository
from rules.domain.evaluation import Snapshot
from rules.domain.idempotency import RETENTION
from rules.domain.plugins import RulePlugin

VERDICTS_TOPIC = "rules.verdicts"
CONFIGURATION_TOPIC = "rules.configuration"
COMPLIANCE_TOPIC = "rules.compliance"
PROPOSALS_TOPIC = "ledger.proposals"
TRANSACTIONS_TOPIC = "ledger.transactions"

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def actor(principal: Principal) -> dict[str, Any]:
    """Who made a change, as the journal records it: both identities when impersonating (A6R-43)."""
    return {
        "subject": principal.subject,
        "actor": principal.actor,
        "roles": sorted({g.role for g in principal.grants}),
    }


PAST_SNAPSHOTS = 16


class CatalogueCache:
    """The catalogue in memory, reloaded when the configuration journal has moved on: a change made
    through the API applies to the next proposal, on every instance, without a restart."""

    def __init__(
        self, plugins: Callable[[], Mapping[str, RulePlugin]], digests: Callable[[], Mapping[str, str]]
    ) -> None:
        self._plugins = plugins
        self._digests = digests
        self._snapshot: Snapshot | None = None
        self._lock: asyncio.Lock | None = None
        # The database transaction whose view of the journal head the snapshot was last checked in
        # (held, so that no later transaction can be mistaken for it).
        self._checked_in: object | None = None
        # Catalogues as of earlier journal entries, for proposals evaluated after a change.
        self._past: dict[int, Snapshot] = {}

    async def current(self, engine: AsyncEngine, conn: AsyncConnection) -> Snapshot:
        """The catalogue as of the journal head; looked up once per database transaction, so the
        proposals of one fetched batch are judged against one catalogue."""
        transaction = conn.sync_connection.get_transaction() if conn.sync_connection is not None else None
        snapshot = self._snapshot
        if snapshot is not None and transaction is not None and transaction is self._checked_in:
            return snapshot
        repo = Repository(conn)
        # Before the head is read, and held until `conn`'s transaction ends: no change can be
        # committed after this evaluation's catalogue was read yet take effect before its instant
        # (domain.catalogue, the invariant). `load` reads on another connection without the lock:
        # taking it there could wait behind a change that waits for this transaction.
        await repo.share_journal_lock()
        head = await repo.head_sequence()
        if snapshot is None or snapshot.sequence < head:
            self._lock = self._lock or asyncio.Lock()
            async with self._lock:
                if self._snapshot is None or self._snapshot.sequence < head:
                    self._snapshot = await self.load(engine)
        self._checked_in = transaction
        assert self._snapshot is not None
        return self._snapshot

    async def as_of(self, engine: AsyncEngine, conn: AsyncConnection, instant: datetime) -> Snapshot:
        """The catalogue as it stood at `instant` (a proposal's `proposed_at`): a proposal evaluated
        late, after a binding was added, removed or suspended, is judged by the bindings of its
        instant (A6R-39). Rule versions need no such care: each says itself when it is in force."""
        current = await self.current(engine, conn)
        if current.recorded_at is None or instant >= current.recorded_at:
            return current
        sequence = await Repository(conn).sequence_at(instant)
        past = self._past.get(sequence)
        if past is None:
            past = await self.load(engine, as_of=sequence)
            if len(self._past) >= PAST_SNAPSHOTS:
                self._past.pop(next(iter(self._past)))
            self._past[sequence] = past
        return past

    async def load(self, engine: AsyncEngine, as_of: int | None = None) -> Snapshot:
        """The catalogue as of the journal's entry `as_of`, or as of its head."""
        async with engine.connect() as conn:
            # One consistent view of versions, bindings and suspensions.
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                repo = Repository(conn)
                sequence = as_of if as_of is not None else await repo.head_sequence()
                recorded_at = await repo.recorded_at(sequence)
                versions = await repo.all_versions()
                bindings = await repo.active_bindings(as_of)
                suspended_rules, suspended_bindings = await repo.suspended(as_of)
        return Snapshot(
            sequence=sequence,
            recorded_at=recorded_at,
            versions=versions,
            bindings=bindings,
            suspended_rules=suspended_rules,
            suspended_bindings=suspended_bindings,
            plugins=self._plugins(),
            plugin_digests=self._digests(),
        )


class RulesService:
    def __init__(self, *, clock: Clock = utc_now, plugins: Mapping[str, RulePlugin] | None = None) -> None:
        self.clock = clock
        self._plugins = plugins
        self.catalogue = CatalogueCache(lambda: self.plugins, lambda: self.plugin_digests)
        self._plugin_digests: dict[str, str] | None = None
        self._engine: AsyncEngine | None = None
        self._topic: Callable[[str], str] = lambda name: name
        self._wake: Callable[[], None] = lambda: None
        self._bound: asyncio.Event | None = None
        # Where the descriptors in force for a proposal's units come from, when configured.
        self.descriptors: DescriptorsClient | None = None
        # How long an Idempotency-Key holds (the settings' value, set at start).
        self.key_retention = RETENTION
        # What signs the verdicts (the settings' seed, set at start).
        self.verdict_signer = verdict_signer(DEV_VERDICT_SEED)

    @property
    def plugins(self) -> Mapping[str, RulePlugin]:
        return self._plugins if self._plugins is not None else installed_plugins()

    @property
    def plugin_digests(self) -> Mapping[str, str]:
        """The code digests of the plugins, read once: the code a running service holds is fixed."""
        if self._plugin_digests is None:
            self._plugin_digests = code_digests(self.plugins)
        return self._plugin_digests

    def bind(self, engine: AsyncEngine, topic: Callable[[str], str], wake: Callable[[], None]) -> None:
        self._engine, self._topic, self._wake = engine, topic, wake
        self.catalogue = CatalogueCache(lambda: self.plugins, lambda: self.plugin_digests)
        self._bound_event().set()

    def _bound_event(self) -> asyncio.Event:
        if self._bound is None:
            self._bound = asyncio.Event()
        return self._bound

    async def ready(self) -> None:
        """Consumers start before the service is bound; their handlers wait here."""
        await self._bound_event().wait()

    @property
    def engine(self) -> AsyncEngine:
        assert self._engine is not None, "the rules service is not bound to a runtime yet"
        return self._engine

    def topic(self, name: str) -> str:
        return self._topic(name)

    async def snapshot(self, conn: AsyncConnection, at: datetime | None = None) -> Snapshot:
        """The catalogue now, or as it stood at `at`."""
        if at is None:
            return await self.catalogue.current(self.engine, conn)
        return await self.catalogue.as_of(self.engine, conn, at)

    def envelope(
        self, type: str, key: str, payload: dict[str, Any], causation: EventEnvelope | None = None
    ) -> EventEnvelope:
        return new_envelope(type=type, key=key, producer="rules", payload=payload, causation=causation)

    def wake(self) -> None:
        """After a commit that added outbox rows: publish now rather than at the relay's next poll."""
        self._wake()
