"""The bench's own PostgreSQL cluster, broker and ledger processes, all on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import psycopg

from bench.cpu import CpuUse
from registry_platform.devstack import broker, postgres
from registry_platform.devstack.processes import ManagedProcess
from registry_platform.testing.infra import spawn_service, wait_ready


def free_port(preferred: int, limit: int = 32768) -> int:
    """The first port from `preferred` up that nothing listens on (below the ephemeral range)."""
    for port in range(preferred, limit):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {preferred}..{limit}")


def dsn(url: str) -> str:
    """A SQLAlchemy URL as libpq wants it."""
    return url.replace("postgresql+psycopg://", "postgresql://")


class Stack:
    """Everything a run starts; `close` stops it all, in reverse order, even after a failure."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.pg_dir = data_dir / "postgres"
        self.pg_port = 0
        self.bootstrap = ""
        self._broker: ManagedProcess | None = None
        self._services: list[ManagedProcess] = []
        self._pg_started = False

    def _stale(self) -> Iterator[ManagedProcess]:
        run = self.data_dir / "run"
        for pid_file in sorted(run.glob("*.pid")) if run.exists() else []:
            yield ManagedProcess(pid_file.stem, run, self.data_dir / "logs")

    def start(self, pg_port: int) -> None:
        # A previous run that was killed may have left its own processes: stop them, start afresh.
        for proc in self._stale():
            proc.stop()
        postgres.stop(self.pg_dir)
        for sub in ("postgres", "run", "logs"):
            shutil.rmtree(self.data_dir / sub, ignore_errors=True)
        self.pg_port = free_port(pg_port)
        self._pg_started = True
        postgres.start(self.pg_dir, self.pg_port, fsync=True)
        port = free_port(self.pg_port + 1)
        self._broker = ManagedProcess("broker", self.data_dir / "run", self.data_dir / "logs")
        self._broker.start(broker.argv(port, cluster_id="bench"))
        broker.wait_ready(port)
        self.bootstrap = f"127.0.0.1:{port}"

    def cpu(self, ledger: ManagedProcess | None = None) -> CpuUse:
        """CPU seconds so far of PostgreSQL, the broker, this load generator and `ledger`."""
        broker_pid = self._broker.pid() if self._broker is not None else None
        return CpuUse.now(pg_dir=self.pg_dir, ledger_pid=ledger.pid() if ledger else None, broker_pid=broker_pid)

    def admin_dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{postgres.SUPERUSER}@127.0.0.1:{self.pg_port}/{database}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def url(self, database: str) -> str:
        return str(postgres.url(self.pg_port, database))

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    async def start_ledger(
        self, database_url: str, topic_prefix: str, *, rules_verdicts: bool = False
    ) -> tuple[ManagedProcess, str]:
        # Without verdicts: the ledger's own cost; bench/saga.py measures the saga with the rules service.
        return await self.start_service(
            "ledger", database_url, topic_prefix, {"REGISTRY_RULES_VERDICTS": str(rules_verdicts).lower()}
        )

    async def start_service(
        self, module: str, database_url: str, topic_prefix: str, extra: dict[str, str] | None = None
    ) -> tuple[ManagedProcess, str]:
        port = free_port(self.pg_port + 100)
        env = {
            "REGISTRY_DATABASE_URL": database_url,
            "REGISTRY_KAFKA_BOOTSTRAP": self.bootstrap,
            "REGISTRY_MODE": "dev",
            "REGISTRY_TOPIC_PREFIX": topic_prefix,
            "REGISTRY_LOG_LEVEL": "WARNING",
            **(extra or {}),
        }
        proc = spawn_service(module, port, env, self.data_dir, name=f"{module}-{topic_prefix}")
        self._services.append(proc)
        base_url = f"http://127.0.0.1:{port}"
        try:
            await wait_ready(base_url, timeout=120)
        except TimeoutError:
            raise RuntimeError(f"{module} did not become ready; see {proc.log_file}") from None
        return proc, base_url

    async def stop_service(self, proc: ManagedProcess) -> None:
        await asyncio.to_thread(proc.stop, 20.0)
        if proc in self._services:
            self._services.remove(proc)

    def close(self) -> None:
        for proc in reversed(self._services):
            with contextlib.suppress(Exception):
                proc.stop(20.0)
        self._services.clear()
        if self._broker is not None:
            with contextlib.suppress(Exception):
                self._broker.stop()
        if self._pg_started:
            with contextlib.suppress(Exception):
                postgres.stop(self.pg_dir)
