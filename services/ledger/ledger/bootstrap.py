"""Wiring of the ledger service: sections, accounts, unit blocks, transactions and the journal."""

from __future__ import annotations

from ledger.adapters.verdicts import VerdictFeed
from ledger.domain.journal import JournalKeys
from ledger.entrypoints.api import router
from ledger.service_layer import saga
from ledger.service_layer.writer import (
    JOURNAL_TOPIC,
    TRANSACTIONS_TOPIC,
    LedgerWriter,
    refuse_nomenclature_downgrade,
)
from ledger.settings import LedgerSettings
from registry_contracts.nomenclatures import NomenclatureVersions
from registry_platform.kafka import TopicSpec
from registry_platform.service import ServiceRuntime, app_factory, service_definition


async def start_writer(runtime: ServiceRuntime) -> None:
    settings = runtime.settings
    assert isinstance(settings, LedgerSettings)
    nomenclatures = NomenclatureVersions(settings.nomenclature_dir)
    await refuse_nomenclature_downgrade(runtime.engine, nomenclatures)
    signer = settings.journal_signer()
    runtime.state["journal_keys"] = settings.journal_keys()
    writer = LedgerWriter(
        runtime.engine,
        topic=runtime.topic,
        signer=signer,
        checkpoint_every=settings.checkpoint_every,
        checkpoint_seconds=settings.checkpoint_seconds,
        max_batch=settings.writer_max_batch,
        on_commit=runtime.relay.wake if runtime.relay else lambda: None,
        rules_verdicts=settings.rules_verdicts,
        verdict_deadline=settings.verdict_deadline_seconds,
        verdict_key=settings.verdict_key(),
        nomenclatures=nomenclatures,
        journal_keys=JournalKeys.from_jwks(runtime.state["journal_keys"]["keys"]),
    )
    runtime.state["writer"] = writer
    runtime.readiness["writer"] = writer.ready.is_set
    runtime.spawn("ledger-writer", writer.run)
    if settings.rules_verdicts:
        feed = VerdictFeed(
            bootstrap=settings.kafka_bootstrap,
            topic=runtime.topic(saga.VERDICTS_TOPIC),
            group=f"{settings.topic_prefix}.ledger.verdicts",
            decide=writer.decide,
            replication_factor=settings.topic_replication_factor,
        )
        runtime.readiness["verdicts"] = feed.ready.is_set
        runtime.spawn("verdict-feed", feed.run)
        runtime.spawn("proposal-deadlines", writer.expire_overdue)


DEFINITION = service_definition(
    "ledger",
    __file__,
    description="Sole owner of sections, accounts, unit blocks, transactions and the journal.",
    # The journal topic keeps every entry forever (ARCHITECTURE.md §2).
    produces=[
        TopicSpec(JOURNAL_TOPIC, partitions=1, retention_ms=-1),
        TopicSpec(TRANSACTIONS_TOPIC),
        TopicSpec(saga.PROPOSALS_TOPIC),
    ],
    routers=[router],
    on_start=start_writer,
)
create_app = app_factory(DEFINITION, LedgerSettings)
