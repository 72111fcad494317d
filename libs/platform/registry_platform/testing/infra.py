"""PostgreSQL and a broker started once per test session, with isolation per test.

Each test gets its own database (so its own schemas) and its own topic prefix, so tests never see
each other's rows or events while sharing one server and one broker.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import socket
import sys
import uuid
import warnings
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import uvicorn
from aiokafka.admin import AIOKafkaAdminClient
from fastapi import FastAPI

from registry_platform.devstack import broker, postgres
from registry_platform.devstack.processes import ManagedProcess


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Infra:
    pg_port: int
    kafka_bootstrap: str
    workdir: Path
    external_db: str | None = None

    def admin_dsn(self) -> str:
        if self.external_db:
            return self.external_db.replace("postgresql+psycopg://", "postgresql://")
        return f"postgresql://{postgres.SUPERUSER}@127.0.0.1:{self.pg_port}/postgres"

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        base = self.admin_dsn().rsplit("/", 1)[0]
        return f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://")

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def delete_topics(self, prefix: str) -> None:
        """Delete the topics whose names start with a test's prefix. The broker answers every
        client's first metadata request with all its topics (Tansu reads an empty list as "all"),
        so topics left by earlier tests would slow every later client's start."""

        async def delete() -> None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.kafka_bootstrap, request_timeout_ms=10_000)
            await admin.start()
            try:
                names = [t for t in await admin.list_topics() if t.startswith(prefix)]
                if names:
                    await admin.delete_topics(names)
            finally:
                await admin.close()

        # In a thread of its own: the caller may be inside a running event loop.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            try:
                pool.submit(asyncio.run, delete()).result()
            except Exception as exc:  # cleanup only: a test that stopped the broker must not fail here
                warnings.warn(f"topics {prefix}* not deleted: {exc!r}", stacklevel=2)


def start_infra(workdir: Path) -> tuple[Infra, list[ManagedProcess]]:
    external_db = os.environ.get("REGISTRY_TEST_DATABASE_URL")
    external_kafka = os.environ.get("REGISTRY_TEST_KAFKA_BOOTSTRAP")
    procs: list[ManagedProcess] = []
    pg_port = free_port()
    if not external_db:
        # fsync off: test data is thrown away; crash tests kill services, never PostgreSQL.
        postgres.start(workdir / "postgres", pg_port, fsync=False)
    if external_kafka:
        bootstrap = external_kafka
    else:
        port = free_port()
        proc = ManagedProcess("broker", workdir / "run", workdir / "logs")
        proc.start(broker.argv(port, cluster_id=f"test-{uuid.uuid4().hex[:8]}"))
        broker.wait_ready(port)
        procs.append(proc)
        bootstrap = f"127.0.0.1:{port}"
    return Infra(pg_port, bootstrap, workdir, external_db), procs


def stop_infra(infra: Infra, procs: list[ManagedProcess]) -> None:
    for proc in procs:
        proc.stop()
    if not infra.external_db:
        postgres.stop(infra.workdir / "postgres")


# How long an app may take to stop at the end of a test before it is stopped at once.
STOP_SECONDS = 60.0


@contextlib.asynccontextmanager
async def serve_app(app: FastAPI, port: int | None = None) -> AsyncIterator[str]:
    """Run an ASGI app under uvicorn on a loopback port in this event loop; yield its base URL."""
    port = port or free_port()
    # Idle connections are kept longer than httpx keeps them (5 s, uvicorn's own default too): with
    # equal limits the server may close a connection just as a client sends on it again after a
    # pause (a slow step between two calls), and the client reads a closed socket (httpx.ReadError).
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", timeout_keep_alive=60)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("server stopped before it started")
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=STOP_SECONDS)
        except TimeoutError:
            # A test that failed half-way may leave a browser's request open, or the app's shutdown
            # waiting on it: stop at once rather than hang the whole suite.
            warnings.warn(f"the app on port {port} did not stop within {STOP_SECONDS} s; forced", stacklevel=1)
            server.force_exit = True
            try:
                await asyncio.wait_for(task, timeout=10)
            except TimeoutError:
                pass  # wait_for cancelled it: its shutdown itself hung


def spawn_service(
    module: str, port: int, env: Mapping[str, str], run_dir: Path, name: str | None = None
) -> ManagedProcess:
    """Start a service as its own OS process (for crash tests that SIGKILL it)."""
    proc = ManagedProcess(name or f"{module}-{port}", run_dir / "run", run_dir / "logs")
    proc.start(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            f"{module}.bootstrap:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
        ],
        env=env,
    )
    return proc


async def wait_ready(base_url: str, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient(timeout=2) as client:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{base_url}/ready")).status_code == 200:
                    return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{base_url} did not become ready")
            await asyncio.sleep(0.1)
