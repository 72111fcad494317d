"""Wiring of the web service: server-rendered pages and the backend-for-frontend."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from registry_platform.service import ServiceRuntime, app_factory, service_definition
from web.adapters.backends import Backends, backend_client
from web.adapters.sessions import SessionStore
from web.entrypoints import (
    accounts,
    applications,
    configuration,
    dashboards,
    descriptors,
    downloads,
    enrolment,
    external_systems,
    oversight,
    people,
    profiles,
    public_pages,
    sign_in,
    sign_in_methods,
    transfers,
)
from web.service_layer.tokens import WebContext
from web.settings import WebSettings

log = logging.getLogger(__name__)
PURGE_SECONDS = 300.0


async def start_web(runtime: ServiceRuntime) -> None:
    settings = runtime.settings
    assert isinstance(settings, WebSettings)
    client = backend_client(settings.backend_timeout_seconds)
    sessions = SessionStore(
        runtime.engine, idle_seconds=settings.session_idle_seconds, absolute_seconds=settings.session_absolute_seconds
    )
    urls = {
        "identity": settings.identity_url,
        "ledger": settings.ledger_url,
        "descriptors": settings.descriptors_url,
        "reporting": settings.reporting_url,
    }
    runtime.state["web"] = WebContext(
        settings=settings,
        sessions=sessions,
        backends=Backends(urls, client),
        verifier=runtime.token_verifier,
        identity_keys=runtime.identity_keys,
    )

    async def purge(stop: asyncio.Event) -> None:
        """Expired sessions go; the client closes with the service."""
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=PURGE_SECONDS)
                try:
                    await sessions.purge_expired()
                except Exception:
                    log.exception("could not purge expired sessions")
        finally:
            await client.aclose()

    runtime.spawn("session-purge", purge)


DEFINITION = service_definition(
    "web",
    __file__,
    description="Web UI and backend-for-frontend.",
    routers=[
        public_pages.static_router,
        public_pages.router,
        sign_in.router,
        enrolment.router,
        sign_in_methods.router,
        dashboards.router,
        accounts.router,
        downloads.router,
        transfers.router,
        descriptors.router,
        applications.router,
        configuration.router,
        people.router,
        profiles.router,
        oversight.router,
        external_systems.router,
    ],
    on_start=start_web,
)
create_app = app_factory(DEFINITION, WebSettings)
