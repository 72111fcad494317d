"""`registry-identity bootstrap-admin|verify|replay`.

- bootstrap-admin: create the first system administrator and print a one-time activation link and
  code (hand them over through two different channels).
- verify: recompute the hash chain of identity's log; exit 1 naming the first bad entry.
- replay: rebuild every user authorization from the log alone and compare with the live table.

Database and broker come from the usual REGISTRY_* settings.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from identity.bootstrap import DEFINITION
from identity.domain.errors import Refused
from identity.service_layer import journal
from identity.service_layer.bootstrap_admin import first_system_administrator
from identity.service_layer.unit import Identity
from identity.settings import IdentitySettings
from registry_platform import db, migrations


async def bootstrap_admin(
    settings: IdentitySettings, *, email: str, name: str, phone: str | None = None, additional: bool = False
) -> dict[str, Any]:
    """Callable from Python (the dev stack's demo): migrate, then create the administrator. The
    GrantChanged event waits in the outbox until the service's relay publishes it."""
    await asyncio.to_thread(
        migrations.prepare, DEFINITION.migrations_dir, settings.database_url, settings.db_schema, settings.owner_url
    )
    engine = db.create_engine(settings.database_url, settings.db_schema, pool_size=1)
    try:
        identity = Identity(engine, settings, topic=settings.topic)
        return await first_system_administrator(identity, email=email, name=name, phone=phone, additional=additional)
    finally:
        await engine.dispose()


async def _verify(settings: IdentitySettings) -> int:
    engine = db.create_engine(settings.database_url, settings.db_schema, pool_size=1)
    try:
        broken = await journal.verify_chain(engine)
    finally:
        await engine.dispose()
    if broken is not None:
        print(f"identity log INVALID at entry {broken.sequence}: {broken.reason}")
        return 1
    print("identity log valid")
    return 0


async def _replay(settings: IdentitySettings) -> int:
    engine = db.create_engine(settings.database_url, settings.db_schema, pool_size=1)
    try:
        rebuilt = journal.replay_grants([entry async for entry, _ in journal.entries(engine)])
        live = await journal.live_grants(engine)
    finally:
        await engine.dispose()
    print(f"replayed {len(rebuilt)} user authorizations; live table has {len(live)}")
    if rebuilt != live:
        for grant_id in sorted(set(rebuilt) | set(live)):
            if rebuilt.get(grant_id) != live.get(grant_id):
                print(f"DIFFERENT {grant_id}: log {rebuilt.get(grant_id)} table {live.get(grant_id)}")
        return 1
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="registry-identity", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    boot = sub.add_parser("bootstrap-admin", help="create the first system administrator")
    boot.add_argument("--email", required=True)
    boot.add_argument("--name", required=True)
    boot.add_argument("--phone", help="E.164 phone number, recorded as the second contact")
    boot.add_argument("--additional", action="store_true", help="add one although a system administrator exists")
    sub.add_parser("verify", help="verify the hash chain of identity's log")
    sub.add_parser("replay", help="rebuild user authorizations from the log and compare")
    args = parser.parse_args(argv)
    settings = IdentitySettings(service_name="identity")
    if args.command == "bootstrap-admin":
        try:
            result = asyncio.run(
                bootstrap_admin(
                    settings, email=args.email, name=args.name, phone=args.phone, additional=args.additional
                )
            )
        except Refused as exc:
            print(f"refused: {exc.message}", file=sys.stderr)
            sys.exit(1)
        print(f"system administrator {result['user_id']} created (grant {result['grant_id']})")
        print(f"activation link (single use, until {result['expires_at']}): {result['link']}")
        print(f"activation code (give it over another channel): {result['code']}")
        sys.exit(0)
    sys.exit(asyncio.run(_verify(settings) if args.command == "verify" else _replay(settings)))
