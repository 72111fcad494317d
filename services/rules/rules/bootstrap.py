"""Wiring of the rules service: pluggable, versioned business and compliance rules, and the rules
side of the proposal-verdict saga with the ledger."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from registry_contracts.envelope import EventEnvelope
from registry_contracts.verdicts import verdict_signer
from registry_platform.auth import ServiceTokens
from registry_platform.inbox import Handler, Together
from registry_platform.kafka import REQUEST_PATH_FETCH_WAIT_MS, TopicSpec
from registry_platform.service import (
    ConsumerSpec,
    ServiceDefinition,
    ServiceRuntime,
    app_factory,
    service_definition,
)
from rules.adapters.descriptors_client import DescriptorsClient
from rules.domain.plugins import RulePlugin
from rules.entrypoints import bindings_api, catalogue_api, evaluation_api
from rules.service_layer import compliance, saga
from rules.service_layer.service import (
    COMPLIANCE_TOPIC,
    CONFIGURATION_TOPIC,
    PROPOSALS_TOPIC,
    TRANSACTIONS_TOPIC,
    VERDICTS_TOPIC,
    Clock,
    RulesService,
    utc_now,
)
from rules.settings import RulesSettings

ServiceHandler = Callable[[RulesService, AsyncConnection, EventEnvelope], Awaitable[None]]
ServiceManyHandler = Callable[[RulesService, AsyncConnection, list[EventEnvelope]], Awaitable[None]]


def build_definition(*, clock: Clock = utc_now, plugins: Mapping[str, RulePlugin] | None = None) -> ServiceDefinition:
    """A definition with its own RulesService; tests pass a controlled clock (A6R-39 retirements)."""
    service = RulesService(clock=clock, plugins=plugins)

    def handler(work: ServiceHandler) -> Handler:
        async def handle(conn: AsyncConnection, envelope: EventEnvelope) -> None:
            await work(service, conn, envelope)

        return handle

    def together(work: ServiceManyHandler) -> Together:
        async def handle_many(conn: AsyncConnection, envelopes: list[EventEnvelope]) -> None:
            await work(service, conn, envelopes)

        return Together(handle_many)

    async def start(runtime: ServiceRuntime) -> None:
        relay = runtime.relay
        settings = runtime.settings
        # The rules' own settings, their defaults when the runtime was given plain ServiceSettings.
        own = settings if isinstance(settings, RulesSettings) else RulesSettings.model_construct()
        # Set on every start: a definition (and its service) may be started again with other settings.
        service.descriptors = (
            DescriptorsClient(own.descriptors_url, ServiceTokens.of_service(settings)) if own.descriptors_url else None
        )
        service.key_retention = timedelta(seconds=own.idempotency_key_retention_seconds)
        service.verdict_signer = verdict_signer(own.verdict_signing_seed.get_secret_value())
        service.bind(runtime.engine, runtime.topic, relay.wake if relay is not None else lambda: None)
        runtime.state["rules"] = service

    return service_definition(
        "rules",
        __file__,
        description="Pluggable, versioned business and compliance rules; verdicts on the ledger's proposals.",
        # The configuration journal's events keep their chain order: one partition, kept forever.
        produces=[
            TopicSpec(VERDICTS_TOPIC),
            TopicSpec(CONFIGURATION_TOPIC, partitions=1, retention_ms=-1),
            TopicSpec(COMPLIANCE_TOPIC),
        ],
        consumers=[
            # Many proposals arrive at once under load: one commit for each fetched batch.
            ConsumerSpec(
                "rules.proposals",
                [PROPOSALS_TOPIC],
                {"rules.ProposalSubmitted": together(saga.on_proposals)},
                batch=True,
                fetch_max_wait_ms=REQUEST_PATH_FETCH_WAIT_MS,
            ),
            ConsumerSpec(
                "rules.compliance",
                [TRANSACTIONS_TOPIC],
                {
                    "ledger.TransactionRecorded": together(compliance.on_transactions_recorded),
                    "ledger.AccountStatusChanged": handler(compliance.on_account_status_changed),
                },
                batch=True,
            ),
        ],
        routers=[catalogue_api.router, bindings_api.router, evaluation_api.router],
        on_start=start,
    )


DEFINITION = build_definition()
create_app = app_factory(DEFINITION, RulesSettings)
