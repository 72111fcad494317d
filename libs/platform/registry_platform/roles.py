"""Two database roles per service, so that "each service owns its schema" is enforced by
PostgreSQL itself, and a running service cannot change its schema:

- the schema's owner (`svc_<schema>_owner`) creates the schema and runs the migrations: only it may
  alter a table, and so disable the triggers that keep records insert-only;
- the service's role (`svc_<schema>`), which the running service connects as, reads and writes rows
  of its own schema's tables and nothing else (the owner grants it after every migration,
  `registry_platform.migrations.grant_service_role`).

No role may read or write another service's schema. `ensure_service_roles` sets the roles up on the
PostgreSQL the platform starts (`make up`, the tests). `python -m registry_platform.roles` prints the
same roles and grants as a psql script for a server it does not start: deploy/postgres/service-roles.sql,
run at the primary's first start.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url


def service_role(schema: str) -> str:
    """The role the running service connects as."""
    return f"svc_{schema}"


def owner_role(schema: str) -> str:
    """The role that owns the service's schema and migrates it."""
    return f"svc_{schema}_owner"


def password_variable(schema: str) -> str:
    """The environment variable the deployment's script reads the service role's password from."""
    return f"REGISTRY_DB_PASSWORD_{schema.upper()}"


def owner_password_variable(schema: str) -> str:
    """The environment variable the deployment's script reads the owner's password from."""
    return f"REGISTRY_DB_OWNER_PASSWORD_{schema.upper()}"


def _roles(schema: str) -> list[tuple[str, str]]:
    """Each role with its privileges on the database: only the owner may create (its schema)."""
    return [(owner_role(schema), "CONNECT, CREATE"), (service_role(schema), "CONNECT")]


def _grant(database: sql.Composable, role: str, privileges: str) -> sql.Composed:
    return sql.SQL("GRANT {} ON DATABASE {} TO {}").format(sql.SQL(privileges), database, sql.Identifier(role))


def service_grants(schema: str, role: str) -> list[sql.Composed]:
    """What the service's role may do in its schema: read and write the rows of its tables and
    draw from its sequences, nothing more. Not the migration history's rows: a service that could
    write them could make the next migration run again, or be skipped."""
    s, r = sql.Identifier(schema), sql.Identifier(role)
    return [
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, r),
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}").format(s, r),
        sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(s, r),
        sql.SQL("REVOKE UPDATE ON ALL SEQUENCES IN SCHEMA {} FROM {}").format(s, r),
        sql.SQL(
            "DO $$ BEGIN IF to_regclass({}) IS NOT NULL THEN "
            "REVOKE INSERT, UPDATE, DELETE ON {}.alembic_version FROM {}; END IF; END $$"
        ).format(sql.Literal(f'"{schema}".alembic_version'), s, r),
    ]


def _take_over(database: sql.Composable, schema: str) -> list[sql.Composed]:
    """As a superuser: the owner gets whatever the service's role owned (a database set up when one
    role did both), and the service's role its rows again, in one transaction, so a service
    running meanwhile waits for it rather than losing its privileges."""
    service, owner, s = sql.Identifier(service_role(schema)), sql.Identifier(owner_role(schema)), sql.Identifier(schema)
    return [
        # Beside a migration job granting at the same time, one of the two would fail.
        sql.SQL("SELECT pg_advisory_xact_lock(hashtext({}))").format(sql.Literal(f"migrate:{schema}")),
        sql.SQL("REVOKE CREATE ON DATABASE {} FROM {}").format(database, service),
        sql.SQL("REASSIGN OWNED BY {} TO {}").format(service, owner),
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(s, owner),
        *service_grants(schema, service_role(schema)),
    ]


def ensure_service_roles(admin_dsn: str, database: str, schemas: Iterable[str]) -> None:
    """Create the login roles (once per cluster), let each owner create its schema in `database`,
    and make each owner the owner of whatever its service's role owned there."""
    target = make_url(admin_dsn).set(database=database).render_as_string(hide_password=False)
    with psycopg.connect(target, autocommit=True) as conn:
        for schema in schemas:
            for role, privileges in _roles(schema):
                if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
                    conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
                conn.execute(_grant(sql.Identifier(database), role, privileges))
            with conn.transaction():
                for statement in _take_over(sql.Identifier(database), schema):
                    conn.execute(statement)


def service_roles_sql(schemas: Iterable[str]) -> str:
    """The roles and grants of `ensure_service_roles` as a psql script for the current database.

    Each role also gets a password, read from the environment (`password_variable`,
    `owner_password_variable`): the deployment's clients authenticate with one. Each schema is
    created up front, owned by its owner role, so that no other service can take its name before
    the service's first migration. The script can run again (to change passwords): it creates only
    what is missing.
    """
    out = [
        "-- Generated by `python -m registry_platform.roles` (libs/platform/registry_platform/roles.py):",
        "-- two login roles and one schema per service. Do not edit; regenerate.",
        "-- Run with psql as a superuser, in the services' database (:DBNAME); needs psql 15+ (\\getenv).",
        "\\set ON_ERROR_STOP on",
    ]
    for schema in schemas:
        for (role, privileges), variable in zip(
            _roles(schema), (owner_password_variable(schema), password_variable(schema)), strict=True
        ):
            password = f"{role}_password"
            missing = sql.SQL("DO $$ BEGIN RAISE EXCEPTION {}; END $$;").format(
                sql.Literal(f"set {variable}: the password of the database role {role}")
            )
            create_if_missing = sql.SQL("SELECT {} WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {})").format(
                sql.Literal(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)).as_string()), sql.Literal(role)
            )
            out += [
                "",
                f"-- {role}",
                f"\\getenv {password} {variable}",
                f"\\if :{{?{password}}}",
                "\\else",
                missing.as_string(),
                "\\endif",
                f"{create_if_missing.as_string()} \\gexec",
                sql.SQL("ALTER ROLE {} PASSWORD ").format(sql.Identifier(role)).as_string() + f":'{password}';",
                _grant(sql.SQL(':"DBNAME"'), role, privileges).as_string() + ";",
            ]
        out += [
            "BEGIN;",
            *(f"{statement.as_string()};" for statement in _take_over(sql.SQL(':"DBNAME"'), schema)),
            "COMMIT;",
        ]
    return "\n".join(out) + "\n"


def url_for_service(database_url: str, schema: str) -> str:
    """The same database, reached as the service's own role (trust authentication on loopback)."""
    return _as(database_url, service_role(schema))


def url_for_owner(database_url: str, schema: str) -> str:
    """The same database, reached as the owner of the service's schema."""
    return _as(database_url, owner_role(schema))


def service_database(database_url: str, schema: str) -> dict[str, str]:
    """A service's database settings where the platform starts PostgreSQL (`make up`, the tests):
    it runs as its own role, and migrates at start as its schema's owner."""
    return {
        "database_url": url_for_service(database_url, schema),
        "migration_database_url": url_for_owner(database_url, schema),
    }


def _as(database_url: str, role: str) -> str:
    return make_url(database_url).set(username=role, password=None).render_as_string(hide_password=False)


def main() -> None:
    """Print the psql script for every service of the registry (deploy/postgres/service-roles.sql)."""
    from registry_platform.devstack.stack import SERVICES

    sys.stdout.write(service_roles_sql(s.module for s in SERVICES))


if __name__ == "__main__":
    main()
