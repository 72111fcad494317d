"""`registry-ledger verify|replay|digest`: the ledger's own audit tools (A6R-20, A6R-21, A6R-48).

- verify: recompute the hash chain and every signed checkpoint, require a checkpoint at least every
  `--max-gap` entries, and check that journal and transaction records agree field by field; exit 1
  naming the first bad entry. With `--against-topic`, also hold the database to every entry and
  checkpoint published on the journal topic, outside it: a deleted or rewritten entry, even one no
  checkpoint covers yet, and a deleted checkpoint are found, and so is one never published.
- replay: rebuild the whole state from the journal alone (the database table, or the journal
  topic) into an empty database, check that the journal replayed is the live one, copy the live
  checkpoints over it, and compare its state digest with the live one, both as of one snapshot of
  the live database (a running ledger may go on recording); exit 1 if not equal, naming the first
  row that differs in each part of the state, or if an entry names a nomenclature version neither
  shipped nor in REGISTRY_NOMENCLATURE_DIR.
- digest: print the state digest of a database.

Database and broker come from the usual REGISTRY_* settings; `--into` names the empty database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger.adapters.digest import state_differences, state_digest, state_digest_in
from ledger.adapters.journal_source import (
    MalformedRecord,
    checkpoints_in,
    entries_from_database,
    entries_from_topic,
    entries_in,
    published_journal,
    tail_in,
    transaction_records_in,
)
from ledger.adapters.repository import LedgerRepository
from ledger.bootstrap import DEFINITION
from ledger.domain.journal import Checkpoint, JournalEntry, JournalKeys, unsealed_tail, verify_journal
from ledger.domain.publication import PublishedJournal, differing_entry, topic_problem, unpublished
from ledger.service_layer.replay import (
    ReplayDiverged,
    ReplayImpossible,
    ReplayReport,
    UnreadableEntry,
    proposal_of,
    replay,
)
from ledger.service_layer.writer import JOURNAL_TOPIC, LedgerWriter, record_input, request_hash
from ledger.settings import LedgerSettings
from registry_contracts.chain import Break
from registry_contracts.nomenclatures import NomenclatureVersions
from registry_contracts.timestamps import as_utc
from registry_platform import db, digest, migrations

# The outbox relay publishes within milliseconds while it runs; longer means it is not running.
PUBLISH_GRACE = timedelta(minutes=5)


def record_of(entry: JournalEntry) -> tuple[Any, ...]:
    """The transaction record the writer keeps for a journal entry (see `LedgerWriter._record`);
    UnreadableEntry if the entry holds none."""
    body, proposal = entry.body, proposal_of(entry)
    return (
        body["transaction_id"],
        entry.kind,
        request_hash(proposal),
        body["outcome"],
        proposal.principal.initiator,
        proposal.principal.on_behalf_of,
        record_input(body),
        body["result"],
        entry.recorded_at,
    )


async def find_problem(
    engine: AsyncEngine,
    settings: LedgerSettings,
    max_gap: int | None = None,
    keys: JournalKeys | None = None,
    published: tuple[PublishedJournal, datetime] | None = None,
    grace: timedelta = PUBLISH_GRACE,
) -> Break | None:
    """The first thing wrong with the journal, its checkpoints and its records. `max_gap`: the most
    entries the writer leaves without a checkpoint (by default what these settings make it leave);
    `keys`: the public keys checkpoints may be signed with (by default those the settings name);
    `published`: the journal as its topic held it, outside the database, and when the topic was
    read (by the database's clock), which the database must hold unchanged (see
    `ledger.domain.publication`); `grace`: how long the relay has to publish."""
    if max_gap is None:
        max_gap = settings.checkpoint_every + settings.writer_max_batch
    keyring = keys or JournalKeys.from_jwks(settings.journal_keys()["keys"])
    # One snapshot: a batch committed while the journal is read would otherwise show checkpoints
    # and records past the entries read, a false alarm on a running ledger.
    async with db.snapshot(engine) as conn:
        entries = [e async for e in entries_in(conn)]
        checkpoints = await checkpoints_in(conn)
        _, tail = await tail_in(conn, max((c.tree_size for c in checkpoints), default=0))
        recorded = await transaction_records_in(conn)
        now = as_utc(await conn.scalar(text("SELECT statement_timestamp()")))
    topic, read_at = published or (PublishedJournal(), now)
    finding = topic_problem(topic, keyring) or differing_entry(entries, topic)
    if finding:
        return finding
    held = {c.tree_size: c for c in checkpoints}
    missing = list({c.tree_size: c for c in topic.checkpoints if c.tree_size not in held}.values())
    for checkpoint in topic.checkpoints:
        if held.get(checkpoint.tree_size, checkpoint) != checkpoint:
            return Break(checkpoint.tree_size, f"checkpoint {checkpoint.tree_size} is not the one published")
    # A published checkpoint missing here still signs what the entries were: checked against them.
    for finding in verify_journal(entries, [*checkpoints, *missing], keyring, max_gap):
        return finding
    if missing:
        size = missing[0].tree_size
        return Break(size, f"checkpoint {size}, published on the journal topic, is missing from the database")
    if published is not None and (finding := unpublished(entries, checkpoints, topic, read_at, now, grace)):
        return finding
    # The records the API serves must say what the journal says, field by field.
    for entry in entries:
        try:
            record = record_of(entry)
        except UnreadableEntry as exc:
            return Break(entry.sequence, exc.problem)
        if recorded.pop(entry.sequence, None) != record:
            return Break(entry.sequence, "the transaction record differs from this journal entry")
    if recorded:
        return Break(min(recorded), "a transaction record has no journal entry")
    # Entries no checkpoint covers yet are the writer's only up to its last seal: after it, chained
    # and recorded correctly or not, someone else wrote them.
    return unsealed_tail(tail, keyring)


def _keys_from(path: str) -> JournalKeys:
    """Every key the journal was signed with, as GET /journal/keys publishes them (a JWK Set)."""
    try:
        return JournalKeys.from_jwks(json.loads(Path(path).read_text(encoding="utf-8"))["keys"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SystemExit(f"--keys {path}: not a JWK Set of the journal's public keys ({exc!r})") from exc


def _grace(value: str) -> timedelta:
    seconds = float(value)
    if not 0 <= seconds < 10**7:
        raise argparse.ArgumentTypeError("a number of seconds from 0")
    return timedelta(seconds=seconds)


async def _database_now(engine: AsyncEngine) -> datetime:
    async with engine.connect() as conn:
        return as_utc(await conn.scalar(text("SELECT statement_timestamp()")))


async def _verify(
    settings: LedgerSettings, max_gap: int | None, keys: JournalKeys | None, against_topic: bool, grace: timedelta
) -> int:
    engine = db.create_engine(settings.database_url, settings.db_schema)
    try:
        published = None
        if against_topic:
            # Read before the database: everything published was committed first, so the database
            # then holds all of it; what it holds beyond was recorded since, or not published.
            read_at = await _database_now(engine)
            published = (await published_journal(settings.kafka_bootstrap, settings.topic(JOURNAL_TOPIC)), read_at)
        finding = await find_problem(engine, settings, max_gap, keys, published, grace)
    finally:
        await engine.dispose()
    if finding:
        where = f" at entry {finding.sequence}" if finding.sequence else ""
        print(f"journal INVALID{where}: {finding.reason}")
        return 1
    print("journal valid")
    if published is not None:
        topic = published[0]
        print(
            f"held against the journal topic: {len(topic.entries)} entries and "
            f"{len(topic.checkpoints)} checkpoints published, all in the database as published"
        )
    return 0


def require_live_head(report: ReplayReport, live_hash: str) -> None:
    """The journal replayed must be the live one: its last entry the live journal's entry of that
    sequence (the chain then makes every earlier entry equal too). A source whose entries were
    altered and chained again (a journal topic written by someone else) could otherwise replay to
    the same state, differing in what the state digest does not cover (the verdicts' rule versions)."""
    if report.entries and report.head_hash != live_hash:
        raise ReplayDiverged(report.entries, "the journal replayed is not the live journal: their entries differ")


async def copy_checkpoints(signed: list[Checkpoint], target: AsyncEngine) -> None:
    """The live checkpoints over the entries replayed: the journals being equal, they sign the
    rebuilt one too, and `verify` of the rebuilt database finds its entries signed."""
    async with target.begin() as conn:
        repo = LedgerRepository(conn)
        for checkpoint in signed:
            await repo.add_checkpoint(checkpoint)


async def _replay(settings: LedgerSettings, into: str, from_topic: bool) -> int:
    await asyncio.to_thread(migrations.upgrade, DEFINITION.migrations_dir, into, settings.db_schema)
    live = db.create_engine(settings.database_url, settings.db_schema)
    target = db.create_engine(into, settings.db_schema)
    writer = LedgerWriter(
        target,
        topic=settings.topic,
        signer=settings.journal_signer(),
        checkpoint_every=10**12,
        checkpoint_seconds=float("inf"),
        nomenclatures=NomenclatureVersions(settings.nomenclature_dir),
    )
    try:
        # The live state as of one instant: its digest, its newest entry and its checkpoints, read
        # in one snapshot, let go before the replay (held for hours, it would hold back vacuum on
        # the live database). A running ledger goes on recording meanwhile; that is not compared.
        async with db.snapshot(live) as snapshot:
            current = await state_digest_in(snapshot)
            head = await snapshot.scalar(text("SELECT coalesce(max(sequence), 0) FROM journal"))
            head_hash = await snapshot.scalar(text("SELECT entry_hash FROM journal WHERE sequence = :s"), {"s": head})
            signed = await checkpoints_in(snapshot)
        # Entries are never changed, so those up to the snapshot's newest can be read after it.
        source = (
            entries_from_topic(settings.kafka_bootstrap, settings.topic(JOURNAL_TOPIC), through=head)
            if from_topic
            else entries_from_database(live, through=head)
        )
        report = await replay(
            writer, source, replayed=lambda first, last: entries_from_database(target, through=last, after=first - 1)
        )
        if report.entries < head:
            ends = f"the journal topic ends before it (the database's journal goes to entry {head})"
            raise ReplayDiverged(report.entries + 1, ends)
        require_live_head(report, bytes(head_hash or b"").hex())
        await copy_checkpoints(signed, target)
        rebuilt = await state_digest(target)
        print(f"replayed {report.entries} entries; head {report.head_hash}")
        # Where they differ is read again, from the live state as it is now.
        return await digest.compare(rebuilt, current, lambda: state_differences(target, live))
    except (ReplayImpossible, UnreadableEntry) as exc:
        print(f"replay REFUSED at entry {exc.sequence}: {exc}")
        return 1
    except ReplayDiverged as exc:
        print(f"replay DIVERGED at entry {exc.sequence}: {exc}")
        return 1
    except MalformedRecord as exc:
        print(f"replay REFUSED: {exc}")
        return 1
    finally:
        await writer.close()
        await live.dispose()
        await target.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="registry-ledger", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    vp = sub.add_parser("verify", help="verify the journal's hash chain, checkpoints and records")
    vp.add_argument(
        "--max-gap",
        type=int,
        help="the most entries allowed without a signed checkpoint (default: checkpoint_every + writer_max_batch)",
    )
    vp.add_argument(
        "--keys", help="a JWK Set file of the public keys checkpoints may be signed with (GET /journal/keys)"
    )
    vp.add_argument(
        "--against-topic",
        action="store_true",
        help="also hold the database to every entry and checkpoint published on the journal topic",
    )
    vp.add_argument(
        "--publish-grace",
        type=_grace,
        default=PUBLISH_GRACE,
        help="with --against-topic: seconds an entry or checkpoint may stay unpublished (default: 300)",
    )
    rp = sub.add_parser("replay", help="rebuild the state from the journal into an empty database")
    rp.add_argument("--into", required=True, help="URL of an empty database to rebuild into")
    rp.add_argument("--from-topic", action="store_true", help="read the journal topic instead of the table")
    sub.add_parser("digest", help="print the state digest")
    args = parser.parse_args(argv)
    settings = LedgerSettings(service_name="ledger")
    if args.command == "verify":
        keys = _keys_from(args.keys) if args.keys else None
        code = asyncio.run(_verify(settings, args.max_gap, keys, args.against_topic, args.publish_grace))
    elif args.command == "replay":
        code = asyncio.run(_replay(settings, args.into, args.from_topic))
    else:
        code = asyncio.run(digest.print_digest(settings.database_url, settings.db_schema, state_digest))
    sys.exit(code)
