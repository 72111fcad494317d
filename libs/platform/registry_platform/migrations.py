"""One Alembic history per service, each in the service's own schema.

The version table lives inside the service schema, so the histories never collide. Every service's
`migrations/env.py` is the two lines that call `run_env()`.

The schema's owner migrates it and then grants the service's own role the rows of its tables, no
more (registry_platform.roles): a running service cannot alter a table, so it cannot disable the
triggers that keep its records insert-only. `prepare` runs at every start; a deployment that does
not give the service its owner's credentials migrates with `python -m registry_platform.migrate`.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.pool import NullPool

from registry_platform.db import async_url
from registry_platform.roles import service_grants


class SchemaNotReady(RuntimeError):
    """The schema is not at this build's revision, and the service's role may not migrate it."""


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


def at_head(migrations_dir: Path, url: str, schema: str) -> bool:
    """Whether the schema is at this build's newest revision (read as any role that may read it)."""
    heads = set(ScriptDirectory.from_config(alembic_config(migrations_dir, url, schema)).get_heads())
    with _unpooled_engine(sync_url(url)).connect() as conn:
        if conn.scalar(text("SELECT to_regclass(:t)"), {"t": f'"{schema}".alembic_version'}) is None:
            return False
        current = set(conn.execute(text(f'SELECT version_num FROM "{schema}".alembic_version')).scalars())
    return current == heads


def grant_service_role(owner_url: str, schema: str, role: str) -> None:
    """As the schema's owner: let `role` (the running service's) read and write the rows of every
    table and draw from every sequence in it, and nothing else (`roles.service_grants`). Run after
    every migration, so new tables are granted; under the migration lock, as two starts of one
    service granting at once would fail one of them."""
    if not role:
        raise ValueError("the service's database URL names no role to grant its tables to")
    with _unpooled_engine(sync_url(owner_url)).begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": f"migrate:{schema}"})
        for statement in service_grants(schema, role):
            conn.exec_driver_sql(statement.as_string())


def migrate_as_owner(migrations_dir: Path, owner_url: str, schema: str, role: str) -> None:
    """Migrate as the schema's owner, then grant the service's `role` its rows."""
    upgrade(migrations_dir, owner_url, schema)
    if role != make_url(owner_url).username:
        grant_service_role(owner_url, schema, role)


def prepare(migrations_dir: Path, url: str, schema: str, owner_url: str | None = None) -> None:
    """Bring the schema to this build's revision before a service (or one of its tools) uses it as
    `url`'s role. With `owner_url`, the owner migrates and grants that role. Without, the schema
    must be at the revision already (the deployment's migration job ran), or `url`'s role must own
    it (a deployment with one role per service, as before the owner role existed)."""
    role = make_url(url).username or ""
    if owner_url is not None:
        migrate_as_owner(migrations_dir, owner_url, schema, role)
        return
    try:
        if at_head(migrations_dir, url, schema):
            return
        # Only the schema's owner migrates it: tables another role made (a superuser running a
        # tool) would be beyond the owner's reach, and its next migration would fail.
        owner, user = _schema_owner(url, schema)
        if owner not in (None, user):
            raise SchemaNotReady(
                f"the {schema!r} schema is not at this build's revision and belongs to {owner!r}, not {user!r}: "
                "migrate it as its owner (REGISTRY_MIGRATION_DATABASE_URL, or `python -m registry_platform.migrate`)"
            )
        upgrade(migrations_dir, url, schema)
    except ProgrammingError as exc:
        if getattr(exc.orig, "sqlstate", None) != "42501":  # insufficient_privilege
            raise
        raise SchemaNotReady(
            f"the {schema!r} schema is not at this build's revision, and the role {role!r} may not migrate "
            f"it: run `python -m registry_platform.migrate` with the schema owner's URL, or set "
            "REGISTRY_MIGRATION_DATABASE_URL"
        ) from exc


def _schema_owner(url: str, schema: str) -> tuple[str | None, str]:
    """The schema's owner (None: no such schema), and the role `url` connects as."""
    with _unpooled_engine(sync_url(url)).connect() as conn:
        query = text(
            "SELECT (SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = :s), current_user::text"
        )
        owner, user = conn.execute(query, {"s": schema}).one()
    return owner, user


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
