"""`python -m registry_platform.migrate [SERVICE ...]`: migrate services' schemas as their owners.

For a deployment whose services run as their own roles without their schema owners' credentials
(docker-compose.yml's `migrate` job, run before any service starts): each service's schema is
brought to this build's revision as its owner, whose URL is read from
`REGISTRY_DB_OWNER_URL_<SCHEMA>`, and its service's role (`svc_<schema>`) is granted the rows of
its tables. Without arguments, every service of the registry.
"""

from __future__ import annotations

import importlib
import os
import sys

from registry_platform import migrations
from registry_platform.roles import service_role


def owner_url_variable(schema: str) -> str:
    return f"REGISTRY_DB_OWNER_URL_{schema.upper()}"


def migrate(module: str) -> None:
    schema = module
    url = os.environ.get(owner_url_variable(schema))
    if not url:
        raise SystemExit(f"set {owner_url_variable(schema)}: the URL of the {schema!r} schema's owner")
    definition = importlib.import_module(f"{module}.bootstrap").DEFINITION
    migrations.migrate_as_owner(definition.migrations_dir, url, schema, service_role(schema))
    print(f"{schema}: at this build's revision; {service_role(schema)} granted its rows")


def main(argv: list[str] | None = None) -> None:
    from registry_platform.devstack.stack import SERVICES

    names = argv if argv is not None else sys.argv[1:]
    known = {s.name: s.module for s in SERVICES}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown services: {', '.join(unknown)} (known: {', '.join(known)})")
    for name in names or list(known):
        migrate(known[name])


if __name__ == "__main__":
    main()
