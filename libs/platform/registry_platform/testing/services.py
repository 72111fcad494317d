"""Every registry service running in the test process against the test's database and topics."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable
from typing import Any

from registry_platform.devstack.stack import SERVICES
from registry_platform.roles import ensure_service_roles, service_database
from registry_platform.service import create_app
from registry_platform.settings import ServiceSettings
from registry_platform.testing.infra import Infra, serve_app


def settings_class(module: str) -> type[ServiceSettings]:
    """The service's own settings class (e.g. LedgerSettings), or the common one."""
    try:
        settings_module = importlib.import_module(f"{module}.settings")
    except ModuleNotFoundError:
        return ServiceSettings
    return next(
        v
        for v in vars(settings_module).values()
        if isinstance(v, type) and issubclass(v, ServiceSettings) and v is not ServiceSettings
    )


async def serve_all(
    stack: contextlib.AsyncExitStack,
    infra: Infra,
    database_url: str,
    service_settings: Callable[..., ServiceSettings],
    **overrides: dict[str, Any],
) -> dict[str, str]:
    """Start all services, each migrating its schema as the schema's owner and then connecting as
    its own database role, as `make up` runs them; returns their base URLs. `overrides` maps a
    service name to settings."""
    modules = [s.module for s in SERVICES]
    ensure_service_roles(infra.admin_dsn(), database_url.rsplit("/", 1)[1], modules)
    urls: dict[str, str] = {}
    # The web reads the others over HTTP, and descriptors the ledger: start them last.
    order = {"web": 2, "descriptors": 1}
    for entry in sorted(SERVICES, key=lambda s: order.get(s.name, 0)):
        values: dict[str, Any] = service_database(database_url, entry.module)
        if entry.name == "web":
            values |= {f"{name}_url": urls[name] for name in ("reporting", "identity", "ledger", "descriptors")}
        if entry.name == "descriptors":
            values["ledger_url"] = urls["ledger"]
        values.update(overrides.get(entry.name, {}))
        settings = service_settings(entry.name, settings_class(entry.module), **values)
        bootstrap = importlib.import_module(f"{entry.module}.bootstrap")
        urls[entry.name] = await stack.enter_async_context(serve_app(create_app(bootstrap.DEFINITION, settings)))
    return urls
