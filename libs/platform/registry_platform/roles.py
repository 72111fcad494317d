"""One database role per service, so that "each service owns its schema" is enforced by
PostgreSQL itself: a service creates its schema under its own role, and no other service's role
may read or write it."""

from __future__ import annotations

from collections.abc import Iterable

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url


def service_role(schema: str) -> str:
    return f"svc_{schema}"


def ensure_service_roles(admin_dsn: str, database: str, schemas: Iterable[str]) -> None:
    """Create the login roles (once per cluster) and let each create its schema in `database`."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        for schema in schemas:
            role = sql.Identifier(service_role(schema))
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (service_role(schema),)).fetchone() is None:
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(role))
            conn.execute(sql.SQL("GRANT CONNECT, CREATE ON DATABASE {} TO {}").format(sql.Identifier(database), role))


def url_for_service(database_url: str, schema: str) -> str:
    """The same database, reached as the service's own role (trust authentication on loopback)."""
    return (
        make_url(database_url).set(username=service_role(schema), password=None).render_as_string(hide_password=False)
    )
