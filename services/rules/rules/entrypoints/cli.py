"""`registry-rules load-pack|packs|verify-journal`: the rules service's operator tools.

- load-pack [NAME or PATH]: load a rule pack (default: the shipped article6-basic) through the
  same checks and journal as the API; its events are published by the running service's relay.
- packs: list the packs shipped with the service.
- verify-journal: recompute the configuration journal's hash chain, then rebuild the catalogue tables
  from its entries and compare; exit 1 at the first bad entry or differing record.

Database and topics come from the usual REGISTRY_* settings.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys

from registry_platform import db, migrations
from registry_platform.auth import REGISTRY_ADMINISTRATOR, Grant, Principal
from registry_platform.settings import ServiceSettings
from rules.bootstrap import DEFINITION
from rules.domain.validation import RuleRefused
from rules.service_layer import pack, verification
from rules.service_layer.service import RulesService


async def _load(settings: ServiceSettings, source: str) -> int:
    document = pack.read_pack(source)
    await asyncio.to_thread(
        migrations.prepare, DEFINITION.migrations_dir, settings.database_url, settings.db_schema, settings.owner_url
    )
    engine = db.create_engine(settings.database_url, settings.db_schema, pool_size=1)
    service = RulesService()
    service.bind(engine, settings.topic, lambda: None)
    # The operator at the console acts as a registry administrator; the journal names them.
    operator = Principal(subject=f"cli:{getpass.getuser()}", grants=(Grant(REGISTRY_ADMINISTRATOR),))
    try:
        async with engine.begin() as conn:
            result = await pack.load_pack(service, conn, document, operator)
    finally:
        await engine.dispose()
    print(json.dumps(result, indent=2))
    return 0


async def _verify(settings: ServiceSettings) -> int:
    engine = db.create_engine(settings.database_url, settings.db_schema, pool_size=1)
    try:
        checked = await verification.verify_journal(engine)
    finally:
        await engine.dispose()
    if checked.broken is not None:
        print(f"configuration journal INVALID at entry {checked.broken.sequence}: {checked.broken.reason}")
        return 1
    if checked.difference is not None:
        print(f"catalogue tables DIFFER from the configuration journal: {checked.difference.message}")
        return 1
    print(f"configuration journal valid ({checked.entries} entries), and the catalogue tables match it")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="registry-rules", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    load = commands.add_parser("load-pack", help="load a rule pack (shipped name or file path)")
    load.add_argument("pack", nargs="?", default="article6-basic")
    commands.add_parser("packs", help="list the shipped rule packs")
    commands.add_parser(
        "verify-journal", help="check the configuration journal's hash chain and the catalogue tables against it"
    )
    args = parser.parse_args(argv)
    settings = ServiceSettings(service_name="rules")
    try:
        if args.command == "packs":
            for name, path in pack.shipped_packs().items():
                print(f"{name}\t{path}")
            return 0
        if args.command == "verify-journal":
            return asyncio.run(_verify(settings))
        return asyncio.run(_load(settings, args.pack))
    except RuleRefused as exc:
        print(f"refused ({exc.code}): {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
