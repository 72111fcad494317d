"""pytest fixtures for the registry's integration tests (registered through the pytest11 entry point).

- `infra` (session): one PostgreSQL cluster and one broker for the whole run.
- `database_url` (per test): a fresh, empty database on that cluster.
- `topic_prefix` (per test): a prefix no other test uses; its topics are deleted after the test.
- `service_settings` (per test): a factory of settings pointing a service at both.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest

from registry_platform.settings import ServiceSettings
from registry_platform.testing.infra import Infra, start_infra, stop_infra
from registry_platform.testing.tokens import TEST_SERVICE_KEYS


def pytest_configure(config: pytest.Config) -> None:
    """Settings read from the environment default to production; a test run is a test run."""
    del config
    os.environ.setdefault("REGISTRY_MODE", "test")


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    workdir = tmp_path_factory.mktemp("infra")
    started, procs = start_infra(workdir)
    try:
        yield started
    finally:
        stop_infra(started, procs)


@pytest.fixture
def database_url(infra: Infra) -> Iterator[str]:
    url = infra.create_database()
    try:
        yield url
    finally:
        infra.drop_database(url)


@pytest.fixture
def topic_prefix(infra: Infra) -> Iterator[str]:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    yield prefix
    # After every fixture that used the prefix has stopped (they depend on this one).
    infra.delete_topics(prefix)


@pytest.fixture
def service_settings(infra: Infra, database_url: str, topic_prefix: str) -> Callable[..., ServiceSettings]:
    def make(
        service_name: str, settings_cls: type[ServiceSettings] = ServiceSettings, **overrides: object
    ) -> ServiceSettings:
        values: dict[str, object] = {
            "mode": "test",
            "service_name": service_name,
            "database_url": database_url,
            "kafka_bootstrap": infra.kafka_bootstrap,
            "topic_prefix": topic_prefix,
            "service_keys": TEST_SERVICE_KEYS,
            **overrides,
        }
        return settings_cls(**values)

    return make
