"""The whole registry on one machine: PostgreSQL, the broker and the eight services."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from registry_platform.devstack import broker, postgres
from registry_platform.devstack.processes import ManagedProcess
from registry_platform.roles import ensure_service_roles, service_database


@dataclass(frozen=True)
class ServiceEntry:
    name: str
    port: int

    @property
    def module(self) -> str:
        return self.name.replace("-", "_")


SERVICES = (
    ServiceEntry("identity", 8101),
    ServiceEntry("ledger", 8102),
    ServiceEntry("rules", 8103),
    ServiceEntry("descriptors", 8104),
    ServiceEntry("interop-gateway", 8105),
    ServiceEntry("crm", 8106),
    ServiceEntry("reporting", 8107),
    ServiceEntry("web", 8100),
)
PG_PORT = 25432
BROKER_PORT = 29092


def service_url(name: str) -> str:
    return next(f"http://127.0.0.1:{s.port}" for s in SERVICES if s.name == name)


class Stack:
    def __init__(self, root: Path) -> None:
        self.data = root / ".data"
        self.run_dir = self.data / "run"
        self.log_dir = self.data / "logs"
        self.pg_dir = self.data / "postgres"

    def process(self, name: str) -> ManagedProcess:
        return ManagedProcess(name, self.run_dir, self.log_dir)

    def database_url(self) -> str:
        return os.environ.get("REGISTRY_DATABASE_URL") or postgres.url(PG_PORT)

    def kafka_bootstrap(self) -> str:
        return os.environ.get("REGISTRY_KAFKA_BOOTSTRAP") or f"127.0.0.1:{BROKER_PORT}"

    def start_infrastructure(self) -> None:
        if not os.environ.get("REGISTRY_DATABASE_URL"):
            postgres.start(self.pg_dir, PG_PORT)
            ensure_service_roles(postgres.admin_dsn(PG_PORT), "registry", [s.module for s in SERVICES])
        if not os.environ.get("REGISTRY_KAFKA_BOOTSTRAP"):
            self.process("broker").start(broker.argv(BROKER_PORT))
            broker.wait_ready(BROKER_PORT)

    def service_env(self, service: ServiceEntry) -> dict[str, str]:
        # With its own PostgreSQL, each service migrates as its schema's owner and then connects as
        # its own role (registry_platform.roles).
        external = os.environ.get("REGISTRY_DATABASE_URL")
        database = service_database(self.database_url(), service.module)
        env = {
            "REGISTRY_MODE": "dev",
            "REGISTRY_DATABASE_URL": external or database["database_url"],
            "REGISTRY_KAFKA_BOOTSTRAP": self.kafka_bootstrap(),
        }
        if not external:
            env["REGISTRY_MIGRATION_DATABASE_URL"] = database["migration_database_url"]
        for s in SERVICES:
            env[f"REGISTRY_{s.module.upper()}_URL"] = f"http://127.0.0.1:{s.port}"
        env["REGISTRY_JWKS_URL"] = f"{service_url('identity')}/.well-known/jwks.json"
        return env

    def start_services(self) -> None:
        for s in SERVICES:
            env = self.service_env(s)
            self.process(s.name).start(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    f"{s.module}.bootstrap:create_app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(s.port),
                    "--no-access-log",
                ],
                env=env,
            )

    def wait_ready(self, timeout: float = 180.0) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        pending = {s.name: f"http://127.0.0.1:{s.port}/ready" for s in SERVICES}
        state: dict[str, str] = {}
        with httpx.Client(timeout=2) as client:
            while pending and time.monotonic() < deadline:
                for name, url in list(pending.items()):
                    if self.process(name).pid() is None:
                        state[name] = f"exited (see {self.process(name).log_file})"
                        pending.pop(name)
                        continue
                    try:
                        if client.get(url).status_code == 200:
                            state[name] = "ready"
                            pending.pop(name)
                    except httpx.HTTPError:
                        pass
                time.sleep(0.3)
        for name in pending:
            state[name] = "not ready"
        return state

    def status(self) -> dict[str, str]:
        state = {}
        with httpx.Client(timeout=2) as client:
            for s in SERVICES:
                if self.process(s.name).pid() is None:
                    state[s.name] = "stopped"
                    continue
                try:
                    r = client.get(f"http://127.0.0.1:{s.port}/ready")
                    state[s.name] = "ready" if r.status_code == 200 else f"not ready: {r.json().get('checks')}"
                except httpx.HTTPError:
                    state[s.name] = "starting"
        state["broker"] = "running" if self.process("broker").pid() else "stopped"
        state["postgres"] = "running" if postgres.is_running(self.pg_dir) else "stopped"
        return state

    def down(self) -> None:
        for s in reversed(SERVICES):
            self.process(s.name).stop()
        self.process("broker").stop()
        postgres.stop(self.pg_dir)
