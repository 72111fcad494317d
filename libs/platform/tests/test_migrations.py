"""Concurrent starts of a service migrate one at a time, and a failed migration lets the next one run."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg
import pytest

from registry_platform import migrations
from registry_platform.roles import ensure_service_roles, url_for_owner, url_for_service
from registry_platform.testing.infra import Infra

from .conftest import MIGRATIONS

pytestmark = pytest.mark.integration

_FAILING = '''"""Fails half-way.

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.execute("CREATE TABLE half_done (n int)")
    op.execute("SELECT 1 / 0")
'''


def _failing_migrations(tmp_path: Path) -> Path:
    (tmp_path / "versions").mkdir()
    (tmp_path / "env.py").write_text((MIGRATIONS / "env.py").read_text())
    (tmp_path / "versions" / "0001_fails.py").write_text(_FAILING)
    return tmp_path


async def test_a_failed_migration_releases_the_migration_lock(database_url: str, tmp_path: Path) -> None:
    """The lock that serializes a service's migrations is held for the session: before, a migration
    that raised kept it while the process lived on, and the next start (here or in another process)
    waited for ever."""
    with pytest.raises(Exception, match="division by zero") as failed:
        await asyncio.to_thread(migrations.upgrade, _failing_migrations(tmp_path), database_url, "svc_m")
    # `failed` keeps the traceback, and with it whatever the failed run still references, alive.
    assert failed.value is not None
    dsn = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT pg_try_advisory_lock(hashtext('migrate:svc_m'))").fetchone()
        assert row is not None and row[0], "the failed migration still holds the lock"
        conn.execute("SELECT pg_advisory_unlock(hashtext('migrate:svc_m'))")
    await asyncio.wait_for(asyncio.to_thread(migrations.upgrade, MIGRATIONS, database_url, "svc_m"), timeout=30)
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT to_regclass('svc_m.outbox') IS NOT NULL").fetchone() == (True,)
        assert conn.execute("SELECT to_regclass('svc_m.half_done') IS NULL").fetchone() == (True,)


def test_a6r48_a_service_runs_as_a_role_its_schemas_owner_migrated_and_granted(database_url: str, infra: Infra) -> None:
    """The owner migrates and grants; the service's own role then starts on a schema at its
    revision without migrating, reads and writes rows, and may not alter a table. A schema behind
    the build, with no owner's URL, is refused at start, naming what to run."""
    database = database_url.rsplit("/", 1)[1]
    ensure_service_roles(infra.admin_dsn(), database, ["crm"])
    service, owner = url_for_service(database_url, "crm"), url_for_owner(database_url, "crm")

    with pytest.raises(migrations.SchemaNotReady, match=r"registry_platform\.migrate"):
        migrations.prepare(MIGRATIONS, service, "crm")
    migrations.prepare(MIGRATIONS, service, "crm", owner)
    assert migrations.at_head(MIGRATIONS, service, "crm")
    migrations.prepare(MIGRATIONS, service, "crm")  # at its revision: nothing to do, nothing refused

    with psycopg.connect(service.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO crm.outbox (event_id, topic, key, event_type, body) "
            "VALUES (gen_random_uuid(), 't', 'k', 'test.Event', '\\x00')"
        )
        assert conn.execute("DELETE FROM crm.outbox").rowcount == 1
        for statement in (
            "ALTER TABLE crm.outbox ADD COLUMN intruder int",
            # The migration history: written, it could make the next migration run again or be skipped.
            "DELETE FROM crm.alembic_version",
            "SELECT setval('crm.outbox_id_seq', 1)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)

    # A schema behind the build is migrated by its owner only: another role (a superuser running a
    # tool) is refused, so no table of the schema is beyond its owner's reach.
    with psycopg.connect(owner.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute("DELETE FROM crm.alembic_version")
    with pytest.raises(migrations.SchemaNotReady, match="belongs to 'svc_crm_owner'"):
        migrations.prepare(MIGRATIONS, database_url, "crm")
