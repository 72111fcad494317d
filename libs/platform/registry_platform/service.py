"""What every registry service has in common: schema migration at start, outbox relay, inbox
consumers, heartbeat events, /health, /ready, /metrics and OpenAPI.

A service describes itself in a `ServiceDefinition` (in its bootstrap.py); `create_app` turns it
into a FastAPI application whose lifespan starts and stops the runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from opentelemetry import trace
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.ext.asyncio import AsyncEngine

from registry_platform import db, kafka, migrations
from registry_platform.access_feed import ACCESS_TOPIC, AccessFeed
from registry_platform.auth import REGISTRY_SERVICE, TokenVerifier
from registry_platform.authz import AccessState, public
from registry_platform.errors import install_error_handlers
from registry_platform.events import new_envelope
from registry_platform.inbox import Handler, InboxConsumer
from registry_platform.jwks import IdentityKeys
from registry_platform.kafka import TopicSpec
from registry_platform.observe import ObserveRequests
from registry_platform.outbox import OutboxRelay, add_events
from registry_platform.peers import PEER_HANDLERS
from registry_platform.settings import ServiceSettings
from registry_platform.supervision import Supervisor
from registry_platform.telemetry import configure_logging, configure_metrics, configure_tracing
from registry_platform.text_guard import RefuseUnstorableText

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

# Every service announces itself here; reporting collects it (the walking skeleton's event path).
PLATFORM_TOPIC = "platform.services"


@dataclass(frozen=True)
class ConsumerSpec:
    name: str
    topics: list[str]
    handlers: dict[str, Handler]
    # Handle each fetched batch in one transaction (see InboxConsumer).
    batch: bool = False
    # On a request's path (the saga): kafka.REQUEST_PATH_FETCH_WAIT_MS.
    fetch_max_wait_ms: int = 100


@dataclass
class ServiceDefinition:
    name: str
    version: str
    migrations_dir: Path
    produces: list[TopicSpec] = field(default_factory=list)
    consumers: list[ConsumerSpec] = field(default_factory=list)
    routers: list[APIRouter] = field(default_factory=list)
    on_start: Callable[[ServiceRuntime], Awaitable[None]] | None = None
    description: str = ""


class ServiceRuntime:
    """The running parts of one service instance; handlers reach the engine and topics through it."""

    def __init__(self, definition: ServiceDefinition, settings: ServiceSettings) -> None:
        self.definition = definition
        self.settings = settings
        self.instance_id = str(uuid.uuid4())
        self.engine: AsyncEngine = db.create_engine(
            settings.database_url, settings.db_schema, timeouts=settings.db_timeouts
        )
        self.producer: AIOKafkaProducer | None = None
        self.relay: OutboxRelay | None = None
        self.consumers: list[InboxConsumer] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        # Extra readiness conditions a service adds (e.g. the ledger's writer holding its lock).
        self.readiness: dict[str, Callable[[], bool]] = {}
        # Service-specific objects the entrypoints reach through the runtime (set in on_start).
        self.state: dict[str, Any] = {}
        # Current once the access feed has caught up (refusing bearer requests until then).
        self.access_state = AccessState(current=False)
        self.supervisor = Supervisor()
        self.token_verifier = TokenVerifier.for_dev_secret(
            settings.token_secret.get_secret_value(),
            shared_key_roles=frozenset({REGISTRY_SERVICE}) if settings.mode == "production" else None,
            service_keys=settings.service_keys,
        )
        # Identity's keys besides the shared one, where a JWKS URL names them.
        self.identity_keys = (
            IdentityKeys(
                settings.jwks_url, self.token_verifier, min_interval=settings.jwks_unknown_key_interval_seconds
            )
            if settings.jwks_url
            else None
        )

    def topic(self, name: str) -> str:
        return self.settings.topic(name)

    def topic_specs(self) -> list[TopicSpec]:
        own = [TopicSpec(PLATFORM_TOPIC), *self.definition.produces]
        return [TopicSpec(self.topic(t.name), t.partitions, t.retention_ms) for t in own]

    async def start(self) -> None:
        s = self.settings
        await asyncio.to_thread(
            migrations.prepare, self.definition.migrations_dir, s.database_url, s.db_schema, s.owner_url
        )
        idempotent = await kafka.broker_supports_idempotence(s.kafka_bootstrap)
        self.producer = await kafka.start_producer(s.kafka_bootstrap, idempotent=idempotent)
        self.relay = OutboxRelay(
            engine=self.engine,
            schema=s.db_schema,
            producer=self.producer,
            bootstrap=s.kafka_bootstrap,
            topics=self.topic_specs(),
            poll_interval=s.outbox_poll_interval_seconds,
            retention_seconds=s.outbox_retention_seconds,
            replication_factor=s.topic_replication_factor,
        )
        await self.relay.check_topics()
        self.spawn("outbox-relay", self.relay.run)
        peers = ConsumerSpec(name=f"{self.definition.name}.peers", topics=[PLATFORM_TOPIC], handlers=PEER_HANDLERS)
        for spec in [peers, *self.definition.consumers]:
            self.add_consumer(spec)
        feed = AccessFeed(
            bootstrap=s.kafka_bootstrap,
            topic=self.topic(ACCESS_TOPIC),
            state=self.access_state,
            replication_factor=s.topic_replication_factor,
        )
        # Not ready either while an access event cannot be read (see AccessState.unreadable).
        self.readiness["access_feed"] = lambda: feed.ready.is_set() and self.access_state.unreadable is None
        self.spawn("access-feed", feed.run)
        # Serve nothing before the withdrawals identity published are known (A6R-51): until then a
        # revoked session's or suspended user's token would pass. A broker too slow to let the feed
        # catch up in time does not keep the service from starting: its public endpoints answer,
        # `/ready` says "starting", and bearer requests get 503 until the feed is current.
        try:
            await asyncio.wait_for(feed.ready.wait(), timeout=s.access_feed_wait_seconds)
        except TimeoutError:
            log.warning("serving before identity's withdrawals were read up to date")
        keys = self.identity_keys
        if keys is not None:
            self.readiness["jwks"] = lambda: keys.loaded
            self.spawn("jwks-refresh", keys.follow)
        await self.announce("platform.ServiceStarted", {"started_at": datetime.now(UTC).isoformat()})
        self._tasks.append(asyncio.create_task(self._heartbeat(), name="heartbeat"))
        if self.definition.on_start is not None:
            await self.definition.on_start(self)

    def add_consumer(self, spec: ConsumerSpec) -> None:
        """Consume `spec.topics` through the idempotent inbox. Services whose handlers need objects
        made in `on_start` (e.g. the ledger's writer) add their consumers there."""
        assert self.producer is not None, "consumers start after the producer"
        s = self.settings
        consumer = InboxConsumer(
            name=spec.name,
            engine=self.engine,
            bootstrap=s.kafka_bootstrap,
            topics=[TopicSpec(self.topic(t)) for t in spec.topics],
            handlers=spec.handlers,
            producer=self.producer,
            group_prefix=s.topic_prefix,
            replication_factor=s.topic_replication_factor,
            on_commit=self.relay.wake if self.relay is not None else lambda: None,
            batch=spec.batch,
            fetch_max_wait_ms=spec.fetch_max_wait_ms,
        )
        self.consumers.append(consumer)
        self.spawn(f"consumer-{consumer.name}", consumer.run)

    def spawn(self, name: str, work: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> None:
        """Run a background task of the service until it stops, restarted if it fails (supervision);
        `work` receives the stop event."""
        self._tasks.append(asyncio.create_task(self.supervisor.run(name, work, self._stop), name=name))

    async def announce(self, event_type: str, extra: dict[str, Any]) -> None:
        payload = {"service": self.definition.name, "instance_id": self.instance_id, **extra}
        if event_type == "platform.ServiceStarted":
            payload["version"] = self.definition.version
        with tracer.start_as_current_span(f"announce {event_type}", kind=trace.SpanKind.PRODUCER):
            envelope = new_envelope(
                type=event_type, payload=payload, key=self.definition.name, producer=self.definition.name
            )
            async with self.engine.begin() as conn:
                await add_events(conn, [(self.topic(PLATFORM_TOPIC), envelope)])
        if self.relay is not None:
            self.relay.wake()

    async def _heartbeat(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.settings.heartbeat_interval_seconds)
            if self._stop.is_set():
                return
            try:
                await self.announce("platform.ServiceHeartbeat", {"sent_at": datetime.now(UTC).isoformat()})
            except Exception:
                log.exception("heartbeat failed")

    async def ready(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(db.ping(self.engine), timeout=2)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        try:
            assert self.producer is not None
            await asyncio.wait_for(self.producer.client.fetch_all_metadata(), timeout=2)
            checks["broker"] = "ok"
        except Exception as exc:
            checks["broker"] = f"unreachable: {type(exc).__name__}"
        if self.consumers and not all(c.ready.is_set() for c in self.consumers):
            checks["consumers"] = "starting"
        for name, is_ready in self.readiness.items():
            checks[name] = "ok" if is_ready() else "starting"
        troubles = []
        if self.supervisor.failing:
            troubles.append(f"restarting: {', '.join(sorted(self.supervisor.failing))}")
        now, stuck_after = time.monotonic(), self.settings.consumer_stuck_after_seconds
        stuck = [c.stuck.describe(c.name) for c in self.consumers if c.stuck and now - c.stuck.since >= stuck_after]
        if stuck:
            troubles.append(f"stuck: {', '.join(stuck)}")
        if troubles:
            checks["background"] = "; ".join(troubles)
        return checks

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=5)
        if self.producer is not None:
            await self.producer.stop()
        await self.engine.dispose()


def create_app(definition: ServiceDefinition, settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or ServiceSettings(service_name=definition.name)
    configure_logging(definition.name, settings.log_level)
    configure_tracing(definition.name, settings.otel_exporter_otlp_endpoint)
    configure_metrics(definition.name)
    runtime = ServiceRuntime(definition, settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        # What start-up built lives as long as the process: keep it out of the collector's full
        # passes, whose pauses would otherwise land on requests (tail latency).
        gc.collect()
        gc.freeze()
        log.info("service %s ready (pid %d)", definition.name, os.getpid())
        yield
        await runtime.stop()

    app = FastAPI(
        title=f"registry {definition.name}",
        version=definition.version,
        description=definition.description,
        lifespan=lifespan,
        # ObserveRequests traces and measures every request already; FastAPI's own telemetry would
        # do it a second time on every request (about a tenth of a small request's CPU), and its
        # exception logs could carry request data into the logs.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.runtime = runtime
    app.state.token_verifier = runtime.token_verifier
    app.state.identity_keys = runtime.identity_keys
    app.state.access_state = runtime.access_state
    install_error_handlers(app)

    # Added first, so it runs inside ObserveRequests and its refusals are traced and counted.
    app.add_middleware(RefuseUnstorableText)
    app.add_middleware(ObserveRequests, service=definition.name)

    @app.get("/health", tags=["operations"], dependencies=[public()])
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": definition.name}

    @app.get("/ready", tags=["operations"], dependencies=[public()])
    async def ready() -> JSONResponse:
        checks = await runtime.ready()
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not_ready", "checks": checks}, status_code=200 if ok else 503
        )

    @app.get("/metrics", tags=["operations"], dependencies=[public()])
    async def prometheus() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in definition.routers:
        app.include_router(router)
    return app


def service_definition(name: str, bootstrap_file: str, **kwargs: Any) -> ServiceDefinition:
    """A definition whose migrations sit beside the package, as every service lays them out."""
    from importlib.metadata import version

    return ServiceDefinition(
        name=name,
        version=version(f"registry-{name}"),
        migrations_dir=Path(bootstrap_file).resolve().parents[1] / "migrations",
        **kwargs,
    )


def app_factory(
    definition: ServiceDefinition, settings_cls: type[ServiceSettings] = ServiceSettings
) -> Callable[[], FastAPI]:
    """The zero-argument factory uvicorn calls (`uvicorn --factory <service>.bootstrap:create_app`)."""

    def factory() -> FastAPI:
        return create_app(definition, settings_cls(service_name=definition.name))

    return factory
