"""Wiring of the descriptors service: authorizations and first-transfer markers (A6R-45), their
applicability, signing and propagation to peer registries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncConnection

from descriptors.entrypoints import api, peers_api
from descriptors.service_layer import ledger_events, propagation, sequencer
from descriptors.service_layer.service import (
    OUTBOUND_TOPIC,
    PROPOSALS_TOPIC,
    TRANSACTIONS_TOPIC,
    Clock,
    DescriptorsService,
    utc_now,
)
from descriptors.settings import DescriptorsSettings
from registry_contracts.envelope import EventEnvelope
from registry_platform.inbox import Handler
from registry_platform.kafka import TopicSpec
from registry_platform.service import (
    ConsumerSpec,
    ServiceDefinition,
    ServiceRuntime,
    app_factory,
    service_definition,
)

ServiceHandler = Callable[[DescriptorsService, AsyncConnection, EventEnvelope], Awaitable[None]]


def build_definition(*, clock: Clock = utc_now) -> ServiceDefinition:
    """A definition with its own DescriptorsService; tests pass a controlled clock."""
    service = DescriptorsService(clock=clock)

    def handler(work: ServiceHandler) -> Handler:
        async def handle(conn: AsyncConnection, envelope: EventEnvelope) -> None:
            await work(service, conn, envelope)

        return handle

    async def start(runtime: ServiceRuntime) -> None:
        settings = runtime.settings
        if not isinstance(settings, DescriptorsSettings):
            settings = DescriptorsSettings(**settings.model_dump())
        relay = runtime.relay
        service.bind(settings, runtime.engine, runtime.topic, relay.wake if relay is not None else lambda: None)
        runtime.state["descriptors"] = service
        runtime.spawn("descriptor-pull", lambda stop: propagation.pull_loop(service, stop))
        runtime.spawn("marker-sequencer", lambda stop: sequencer.sequencer_loop(service, stop))

    return service_definition(
        "descriptors",
        __file__,
        description="Authorizations and first-transfer markers (A6R-45): applicability, signing, propagation.",
        produces=[TopicSpec(OUTBOUND_TOPIC)],
        consumers=[
            ConsumerSpec(
                "descriptors.transactions",
                [TRANSACTIONS_TOPIC],
                {"ledger.TransactionRecorded": handler(ledger_events.on_transaction_recorded)},
            ),
            ConsumerSpec(
                "descriptors.proposals",
                [PROPOSALS_TOPIC],
                {"rules.ProposalSubmitted": handler(ledger_events.on_proposal)},
            ),
        ],
        # Fixed /descriptors/... paths (feed, keys, incoming) before /descriptors/{descriptor_id}.
        routers=[peers_api.router, api.router],
        on_start=start,
    )


DEFINITION = build_definition()
create_app = app_factory(DEFINITION, DescriptorsSettings)
