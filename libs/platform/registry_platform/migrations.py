"""One Alembic history per service, each in the service's own schema.

The version table lives inside the service schema, so the histories never collide. Every service's
`migrations/env.py` is the two lines that call `run_env()`.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from registry_platform.db import async_url


def sync_url(url: str) -> str:
    # Alembic runs synchronously; psycopg 3 serves both modes under the same driver name.
    return async_url(url)


def alembic_config(migrations_dir: Path, url: str, schema: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    cfg.attributes["schema"] = schema
    return cfg


def _unpooled_engine(url: str) -> Engine:
    # Each connection closes when its block ends, however it ends: the session-level lock in
    # `run_env` goes with it. A pooled one would stay open after a migration raised, and a process
    # that lives on (a service retrying its start) would keep every later upgrade waiting.
    return create_engine(url, poolclass=NullPool)


def upgrade(migrations_dir: Path, url: str, schema: str, revision: str = "head") -> None:
    with _unpooled_engine(sync_url(url)).begin() as conn:
        # IF NOT EXISTS does not hold between concurrent first starts (both insert the schema and
        # one fails on pg_namespace's unique index): the lock makes the second wait and see it.
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": f"migrate:{schema}"})
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    command.upgrade(alembic_config(migrations_dir, url, schema), revision)


def run_env() -> None:
    """Body of every service's migrations/env.py (online mode only: migrations run at start)."""
    from alembic import context

    cfg = context.config
    schema = cfg.attributes["schema"]
    with _unpooled_engine(cfg.get_main_option("sqlalchemy.url") or "").connect() as conn:
        conn.execute(text(f'SET search_path TO "{schema}"'))
        # Serialize concurrent starts of the same service so one migrates and the rest wait; held
        # until the connection closes at the end of this block.
        conn.execute(text("SELECT pg_advisory_lock(hashtext(:s))"), {"s": f"migrate:{schema}"})
        conn.commit()
        context.configure(connection=conn, version_table_schema=schema, include_schemas=False)
        with context.begin_transaction():
            context.run_migrations()
