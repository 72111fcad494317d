"""`registry-descriptors replay|digest`: the descriptors service's audit tools (issue 6).

- replay: rebuild the descriptors and their effects into an empty database from the source records
  (authorizations, re-issued markers, peers' descriptors, each verified against its JWS) and the
  ledger's recorded transactions (the ledger.transactions topic from its beginning), then compare
  its state digest with the live one; exit 1 if not equal.
- digest: print the state digest of a database.

Database, broker, ledger URL and keys come from the usual REGISTRY_* settings; `--into` names the
empty database.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from descriptors.adapters.digest import state_differences, state_digest
from descriptors.adapters.ledger_topic import recorded_transactions
from descriptors.adapters.repository import Descriptors
from descriptors.bootstrap import DEFINITION
from descriptors.service_layer.replay import ReplayRefused, replay
from descriptors.service_layer.service import TRANSACTIONS_TOPIC, DescriptorsService
from descriptors.settings import DescriptorsSettings
from registry_platform import db, digest, migrations


async def run_replay(settings: DescriptorsSettings, into: str) -> int:
    await asyncio.to_thread(migrations.upgrade, DEFINITION.migrations_dir, into, settings.db_schema)
    live = db.create_engine(settings.database_url, settings.db_schema)
    target = db.create_engine(into, settings.db_schema)
    service = DescriptorsService()
    service.bind(settings, target, settings.topic, lambda: None)
    try:
        async with live.connect() as conn:
            sources = await Descriptors(conn).source_records()
        transactions = await recorded_transactions(settings.kafka_bootstrap, settings.topic(TRANSACTIONS_TOPIC))
        report = await replay(service, sources, transactions)
        rebuilt, current = await state_digest(target), await state_digest(live)
        print(f"replayed {report.source_records} source records and {report.transactions} recorded transactions")
        return await digest.compare(rebuilt, current, lambda: state_differences(target, live))
    except ReplayRefused as exc:
        print(f"replay REFUSED: {exc}")
        return 1
    finally:
        await live.dispose()
        await target.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="registry-descriptors", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rp = sub.add_parser("replay", help="rebuild the descriptors into an empty database and compare digests")
    rp.add_argument("--into", required=True, help="URL of an empty database to rebuild into")
    sub.add_parser("digest", help="print the descriptors' state digest")
    args = parser.parse_args(argv)
    settings = DescriptorsSettings(service_name="descriptors")
    if args.command == "replay":
        code = asyncio.run(run_replay(settings, args.into))
    else:
        code = asyncio.run(digest.print_digest(settings.database_url, settings.db_schema, state_digest))
    sys.exit(code)
