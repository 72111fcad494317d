"""`registry-ledger verify` and `replay` (A6R-48, A6R-21, A6R-22): tampering is caught, and the
state rebuilt from the journal alone equals the live state."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text

from bench.seed import seed_blocks
from ledger.adapters.journal_source import published_journal
from ledger.adapters.repository import LedgerRepository
from ledger.domain import builtin_rules
from ledger.domain.builtin_rules import SECTION_STATUS
from ledger.domain.journal import JournalHead, merkle_root, sign_checkpoint
from ledger.entrypoints import cli
from ledger.service_layer.replay import ReplayDiverged, ReplayReport
from ledger.service_layer.writer import (
    JOURNAL_TOPIC,
    NomenclatureDowngrade,
    checkpoint_event,
    refuse_nomenclature_downgrade,
)
from ledger.settings import LedgerSettings
from registry_contracts.nomenclatures import NomenclatureVersions
from registry_contracts.signing import Ed25519Signer
from registry_platform import db
from registry_platform.testing.http import HttpPool

from .conftest import (
    ADMIN,
    AS_GATEWAY,
    GHA_ADMIN,
    SCOPE,
    SERVICE,
    LedgerClient,
    issue,
    ledger_process,
    running_ledger,
    section_status,
    setup_registry,
    transfer,
)

pytestmark = pytest.mark.integration
HISTORY = 10_000
CLI = [sys.executable, "-c", "from ledger.entrypoints.cli import main; main()"]


def run_cli(settings, *args: str, database_url: str | None = None, **more_env: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    env = {
        **more_env,
        **os.environ,
        "REGISTRY_DATABASE_URL": database_url or settings.database_url,
        "REGISTRY_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "REGISTRY_TOPIC_PREFIX": settings.topic_prefix,
        "REGISTRY_MODE": "test",
        "REGISTRY_RULES_VERDICTS": "false",
    }
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=600)


def replay_into_fresh_database(  # type: ignore[no-untyped-def]
    settings, infra, *source: str, **env: str
) -> tuple[subprocess.CompletedProcess[str], str, str]:
    """`replay` into a database made for it (and dropped after): the run, the replayed and the live digest."""
    target = infra.create_database()
    try:
        replayed = run_cli(settings, "replay", "--into", target, *source, **env)
        if replayed.returncode == 0:
            # The rebuilt journal carries the live checkpoints over it, so it verifies on its own.
            verified = run_cli(settings, "verify", database_url=target)
            assert verified.returncode == 0, verified.stdout + verified.stderr
    finally:
        infra.drop_database(target)
    lines = replayed.stdout.splitlines()
    digests = (lines[1].split()[-1], lines[2].split()[-1]) if len(lines) >= 3 else ("", "?")
    return replayed, *digests


async def make_history(ledger: LedgerClient, transfers: int, concurrency: int = 8) -> dict[str, str]:
    acc = await setup_registry(ledger)
    await ledger.ok(
        {
            "kind": "issue_units",
            "account": acc["issuance"],
            "scope": SCOPE,
            "quantity": 10**6,
            "first_transferring_party": "GHA",
            "cooperative_approach": "CA0001",
        }
    )
    await ledger.ok(
        {
            "kind": "transfer_units",
            "source": acc["issuance"],
            "destination": acc["gha_holding"],
            "units": {"selection": {"quantity": 400_000}},
        }
    )
    rng = random.Random(42)
    pairs = [
        (acc["issuance"], acc["gha_holding"]),
        (acc["gha_holding"], acc["che_holding"]),
        (acc["che_holding"], acc["gha_holding"]),
        (acc["che_holding"], acc["che_use"]),
    ]
    plan = [(rng.choice(pairs), rng.randint(1, 60)) for _ in range(transfers)]

    # httpx spends more CPU per request than the ledger does: the history goes through a lean client.
    token = ledger.token("admin", ADMIN)
    pool = HttpPool(ledger.base_url, size=concurrency, headers={"Authorization": f"Bearer {token}"})

    async def worker(items: list[tuple[tuple[str, str], int]]) -> None:
        for (source, destination), quantity in items:
            response = await pool.request(
                "PUT",
                f"/transactions/{uuid.uuid4()}",
                {
                    "kind": "transfer_units",
                    "source": source,
                    "destination": destination,
                    "units": {"selection": {"quantity": quantity}},
                },
            )
            assert response.status_code in (201, 409), response.text

    try:
        await asyncio.gather(*(worker(plan[i::concurrency]) for i in range(concurrency)))
    finally:
        pool.close()
    return acc


async def test_a6r48_verify_catches_altered_deleted_and_inserted_entries(
    ledger, service_settings, database_url, tmp_path
):
    await make_history(ledger, 120)
    settings = service_settings("ledger")
    assert run_cli(settings, "verify").returncode == 0
    # An auditor without the signing secret verifies with the published public key, and only with it.
    published = tmp_path / "journal-keys.json"
    published.write_text(json.dumps(await ledger.get("/journal/keys")))
    no_secret = {"REGISTRY_JOURNAL_SIGNING_SEED": "an auditor does not hold the secret"}
    assert run_cli(settings, "verify", "--keys", str(published), **no_secret).returncode == 0
    wrong = run_cli(settings, "verify", **no_secret)
    assert wrong.returncode == 1 and "signature invalid" in wrong.stdout, wrong.stdout
    engine = db.create_engine(database_url, "ledger")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("ALTER TABLE journal DISABLE TRIGGER journal_immutable"))
            count = await conn.scalar(text("SELECT max(sequence) FROM journal"))
        target = count // 2
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE transactions_kept AS SELECT * FROM transactions"))
            await conn.execute(text("ALTER TABLE transactions DISABLE TRIGGER transactions_immutable"))

        # A single changed byte in one entry's body.
        async with engine.begin() as conn:
            original = await conn.scalar(text("SELECT body::text FROM journal WHERE sequence = :s"), {"s": target})
            tx_id = json.loads(original)["transaction_id"]
            # One character (one byte) of the transaction id changed.
            forged_id = tx_id[:-1] + ("0" if tx_id[-1] != "0" else "1")
            await conn.execute(
                text("UPDATE journal SET body = CAST(:b AS jsonb) WHERE sequence = :s"),
                {"b": original.replace(tx_id, forged_id), "s": target},
            )
        altered = run_cli(settings, "verify")
        assert altered.returncode == 1 and f"entry {target}:" in altered.stdout, altered.stdout
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE journal SET body = CAST(:b AS jsonb) WHERE sequence = :s"), {"b": original, "s": target}
            )
        assert run_cli(settings, "verify").returncode == 0

        # A deleted row.
        async with engine.begin() as conn:
            row = (await conn.execute(text("SELECT * FROM journal WHERE sequence = :s"), {"s": target})).one()
            await conn.execute(text("DELETE FROM journal WHERE sequence = :s"), {"s": target})
        deleted = run_cli(settings, "verify")
        assert deleted.returncode == 1 and f"entry {target}:" in deleted.stdout, deleted.stdout
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO journal VALUES (:sequence, :recorded_at, :kind, CAST(:body AS jsonb), "
                    ":previous_hash, :entry_hash)"
                ),
                {**row._mapping, "body": json.dumps(row.body)},
            )
        assert run_cli(settings, "verify").returncode == 0

        # A transaction record that says other than its entry: the API serves the record.
        for column, forged_value in [("initiator", "'mallory'"), ("result", "result || '{\"quantity\": 1}'")]:
            async with engine.begin() as conn:
                await conn.execute(
                    text(f"UPDATE transactions SET {column} = {forged_value} WHERE journal_sequence = :s"),
                    {"s": target},
                )
            changed = run_cli(settings, "verify")
            assert changed.returncode == 1 and f"entry {target}: the transaction record differs" in changed.stdout
            async with engine.begin() as conn:
                await conn.execute(
                    text(
                        f"UPDATE transactions SET {column} = t.{column} FROM transactions_kept t "
                        "WHERE transactions.journal_sequence = :s AND t.journal_sequence = :s"
                    ),
                    {"s": target},
                )
        assert run_cli(settings, "verify").returncode == 0

        # Signed checkpoints deleted: the entries after the last one left could be rewritten unseen.
        async with engine.begin() as conn:
            await conn.execute(text("ALTER TABLE journal_checkpoints DISABLE TRIGGER journal_checkpoints_immutable"))
            await conn.execute(text("CREATE TABLE checkpoints_kept AS SELECT * FROM journal_checkpoints"))
            signed = await conn.scalar(text("SELECT count(*) FROM journal_checkpoints"))
            first = await conn.scalar(text("SELECT min(tree_size) FROM journal_checkpoints"))
            await conn.execute(text("DELETE FROM journal_checkpoints WHERE tree_size > :f"), {"f": first})
        assert signed >= 2, "the service signs every 50 entries"
        assert run_cli(settings, "verify").returncode == 0, "the default bound is the default settings' (1,000)"
        unsigned = run_cli(settings, "verify", "--max-gap", "60")
        assert unsigned.returncode == 1, unsigned.stdout
        assert f"no signed checkpoint over entries {first + 1} to" in unsigned.stdout, unsigned.stdout
        async with engine.begin() as conn:
            restore = "INSERT INTO journal_checkpoints SELECT * FROM checkpoints_kept WHERE tree_size > :f"
            await conn.execute(text(restore), {"f": first})
        assert run_cli(settings, "verify", "--max-gap", "60").returncode == 0

        # An inserted row, forged with a correct hash link at the end of the chain.
        async with engine.begin() as conn:
            last, forged = await _slip_in_entry(conn)
        inserted = run_cli(settings, "verify")
        assert inserted.returncode == 1 and f"entry {forged.sequence}:" in inserted.stdout, inserted.stdout

        # The same entry holding a command the ledger has not got, chained as correctly: named, not a crash.
        unreadable = JournalHead(last.sequence, bytes(last.entry_hash)).append(
            last.recorded_at, "mint_units", {**forged.body, "command": {"kind": "mint_units", "quantity": 10**6}}
        )
        async with engine.begin() as conn:
            await conn.execute(
                text(REWRITE),
                {
                    "b": json.dumps(unreadable.body),
                    "p": unreadable.previous_hash,
                    "h": unreadable.entry_hash,
                    "s": unreadable.sequence,
                },
            )
            minting = {"s": unreadable.sequence}
            await conn.execute(text("UPDATE journal SET kind = 'mint_units' WHERE sequence = :s"), minting)
        minted = run_cli(settings, "verify")
        assert minted.returncode == 1 and not minted.stderr, minted.stdout + minted.stderr
        assert (
            f"journal INVALID at entry {forged.sequence}: the entry holds no proposal the ledger records: "
            "(whole document): Input tag 'mint_units'"
        ) in minted.stdout, minted.stdout
    finally:
        await engine.dispose()


async def test_a6r48_a6r21_an_entry_slipped_in_chained_and_recorded_correctly_is_never_signed(
    service_settings, database_url
):
    """Anyone who can insert rows (the service's own database role can) can chain an entry correctly,
    the chain needing no secret, and record its transaction to match. The writer took such an entry
    in when it loaded the journal again (its next batch fails on the sequence the entry took) and
    signed it into its next checkpoint, and `verify` called the journal valid. Now the writer seals
    the last entry of every batch it commits: it stops writing rather than vouch for what it did not
    write, and `verify` names the entries after its last seal."""
    engine = db.create_engine(database_url, "ledger")
    settings = service_settings("ledger")
    try:
        async with running_ledger(service_settings, checkpoint_seconds=0.5) as ledger:
            acc = await make_history(ledger, 20)
            covered = await _signed_up_to_the_head(engine)
            async with engine.begin() as conn:
                _, forged = await _slip_in_entry(conn)
                tx, kind, digest, outcome, initiator, obo, given, result, at = cli.record_of(forged)
                await conn.execute(
                    text(
                        "INSERT INTO transactions VALUES (:tx, :kind, :digest, :outcome, :initiator, :obo, "
                        "CAST(:given AS jsonb), CAST(:result AS jsonb), :s, :at)"
                    ),
                    {
                        "tx": tx,
                        "kind": kind,
                        "digest": digest,
                        "outcome": outcome,
                        "initiator": initiator,
                        "obo": obo,
                        "given": json.dumps(given),
                        "result": json.dumps(result),
                        "s": forged.sequence,
                        "at": at,
                    },
                )
            refused = await ledger.propose(transfer(acc["gha_holding"], acc["che_holding"], 1))
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "journal_not_vouched", refused.text
            await asyncio.sleep(1.5)  # three checkpoint intervals, and the writer's first restart
            later = await ledger.propose(transfer(acc["gha_holding"], acc["che_holding"], 1))
            assert later.status_code == 503, "the writer does not start again on that journal"
            assert later.json()["error"]["code"] == "journal_not_vouched", later.text
            assert (await ledger.http.get(f"{ledger.base_url}/ready")).status_code != 200
            # Its failed load let the leader lock go: the restarted run took it, and waits for nobody.
            async with engine.connect() as conn:
                waiting = await conn.scalar(
                    text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                    )
                )
            assert waiting == 0, "a run waiting for the lock its failed predecessor kept"
        async with engine.connect() as conn:
            signed = await conn.scalar(text("SELECT max(tree_size) FROM journal_checkpoints"))
            newest = await conn.scalar(text("SELECT max(sequence) FROM journal"))
        assert signed == covered == forged.sequence - 1 and newest == forged.sequence, "no checkpoint signs it"
        found = run_cli(settings, "verify")
        assert found.returncode == 1, found.stdout
        unsealed = f"entries {forged.sequence} to {forged.sequence} carry no seal of the ledger's writer"
        assert f"journal INVALID at entry {forged.sequence}: {unsealed}" in found.stdout, found.stdout
    finally:
        await engine.dispose()


async def _slip_in_entry(conn: Any) -> tuple[Any, Any]:
    """As whoever can insert rows: a copy of the newest entry under a new transaction id, chained
    correctly onto it (the chain needs no secret) and unsealed. The newest row and the entry."""
    last = (await conn.execute(text("SELECT * FROM journal ORDER BY sequence DESC LIMIT 1"))).one()
    forged = JournalHead(last.sequence, bytes(last.entry_hash)).append(
        last.recorded_at, last.kind, {**last.body, "transaction_id": str(uuid.uuid4())}
    )
    await conn.execute(
        text("INSERT INTO journal VALUES (:s, :at, :k, CAST(:b AS jsonb), :p, :h)"),
        {
            "s": forged.sequence,
            "at": forged.recorded_at,
            "k": forged.kind,
            "b": json.dumps(forged.body),
            "p": forged.previous_hash,
            "h": forged.entry_hash,
        },
    )
    return last, forged


async def _signed_up_to_the_head(engine: Any) -> int:
    """Wait for the idle writer's checkpoint over every entry; its size."""
    for _ in range(100):
        async with engine.connect() as conn:
            signed = await conn.scalar(text("SELECT COALESCE(max(tree_size), 0) FROM journal_checkpoints"))
            if signed == await conn.scalar(text("SELECT max(sequence) FROM journal")):
                return int(signed)
        await asyncio.sleep(0.1)
    raise AssertionError("the writer signed no checkpoint over its newest entries")


REWRITE = "UPDATE journal SET body = CAST(:b AS jsonb), previous_hash = :p, entry_hash = :h WHERE sequence = :s"


async def _rewrite_after(conn: Any, sequence: int) -> list[Any]:
    """As whoever can change the database: the entry after `sequence` loses a rule it applied, and
    every later one is chained again, so the journal alone shows nothing. The rows as they were."""
    rows = list(
        (await conn.execute(text("SELECT * FROM journal WHERE sequence > :s ORDER BY sequence"), {"s": sequence})).all()
    )
    assert rows[0].body["rules_applied"], "the entry rewritten had a rule applied to remove"
    previous = await conn.scalar(text("SELECT entry_hash FROM journal WHERE sequence = :s"), {"s": sequence})
    head = JournalHead(sequence, bytes(previous))
    for n, row in enumerate(rows):
        body = {**row.body, "rules_applied": row.body["rules_applied"][1:]} if n == 0 else row.body
        rewritten = head.append(row.recorded_at, row.kind, body)
        await conn.execute(
            text(REWRITE),
            {"b": json.dumps(body), "p": rewritten.previous_hash, "h": rewritten.entry_hash, "s": row.sequence},
        )
    return rows


async def _published_checkpoints(settings: Any, signed: int) -> list[Any]:
    """The checkpoints on the journal topic, once the relay has published the `signed` ones."""
    published: list[Any] = []
    for _ in range(100):
        published = list((await published_journal(settings.kafka_bootstrap, settings.topic(JOURNAL_TOPIC))).checkpoints)
        if len(published) >= signed:
            break
        await asyncio.sleep(0.1)
    return published


async def _all_published(engine: Any) -> None:
    """Wait until the relay has published every outbox row: the journal topic is then complete."""
    for _ in range(600):
        async with engine.connect() as conn:
            if await conn.scalar(text("SELECT count(*) FROM outbox WHERE published_at IS NULL")) == 0:
                return
        await asyncio.sleep(0.1)
    raise AssertionError("the outbox relay did not publish every row")


async def test_a6r48_a6r21_checkpoints_are_published_and_a_tail_rewritten_under_deleted_ones_is_found(
    ledger, service_settings, database_url, infra
):
    """Whoever can change the ledger's database can delete its newest checkpoints and rewrite the
    entries after the last one left, chaining them again: the journal alone cannot show it (up to
    `--max-gap` entries). Each checkpoint is also published on the journal topic, outside the
    database, and `verify --against-topic` checks the database against them: the rewritten
    entries no longer match a published checkpoint, and a deleted checkpoint is named."""
    await make_history(ledger, 120)
    settings = service_settings("ledger")
    engine = db.create_engine(database_url, "ledger")
    try:
        async with engine.connect() as conn:
            sizes = list((await conn.execute(text("SELECT tree_size FROM journal_checkpoints ORDER BY 1"))).scalars())
        assert len(sizes) >= 2, "the service signs every 50 entries"
        published = await _published_checkpoints(settings, len(sizes))
        assert [c.tree_size for c in published] == sizes
        assert run_cli(settings, "verify", "--against-topic").returncode == 0
        first, second = sizes[0], sizes[1]
        async with engine.begin() as conn:
            await conn.execute(text("ALTER TABLE journal DISABLE TRIGGER journal_immutable"))
            await conn.execute(text("ALTER TABLE journal_checkpoints DISABLE TRIGGER journal_checkpoints_immutable"))
            await conn.execute(text("DELETE FROM journal_checkpoints WHERE tree_size > :f"), {"f": first})
            # The entry after the first checkpoint left loses a rule it applied; every later one is chained again.
            rows = await _rewrite_after(conn, first)
        # The rewritten entries keep the seals the writer put on the entries they were: those do not
        # vouch for them, so the database alone shows the rewrite (before seals, nothing within the gap).
        alone = run_cli(settings, "verify")
        assert alone.returncode == 1, alone.stdout
        assert f"journal INVALID at entry {first + 1}: entries {first + 1} to " in alone.stdout, alone.stdout
        assert "carry no seal of the ledger's writer" in alone.stdout and "is not the writer's" in alone.stdout
        # Replay makes the entry as it was: it names that entry and what differs in it (not the
        # last entry of its batch of 200, as it did).
        diverged, _, _ = replay_into_fresh_database(settings, infra)
        assert diverged.returncode == 1, diverged.stdout
        assert (
            f"replay DIVERGED at entry {first + 1}: entry {first + 1}: the entry replayed differs from the "
            "journal's in body.rules_applied"
        ) in diverged.stdout, diverged.stdout
        against = run_cli(settings, "verify", "--against-topic")
        assert against.returncode == 1, against.stdout
        # The first entry rewritten is named, and the topic's copy of it is proven by a signed checkpoint.
        rewritten_first = f"entry {first + 1}: entry {first + 1} is not the one published on the journal topic"
        assert f"{rewritten_first} (the published one is signed by checkpoint " in against.stdout, against.stdout

        # Put the entries back: the checkpoints deleted are then named as missing.
        async with engine.begin() as conn:
            for row in rows:
                await conn.execute(
                    text(REWRITE),
                    {"b": json.dumps(row.body), "p": row.previous_hash, "h": row.entry_hash, "s": row.sequence},
                )
        missing = run_cli(settings, "verify", "--against-topic")
        assert missing.returncode == 1, missing.stdout
        assert f"checkpoint {second}, published on the journal topic, is missing" in missing.stdout, missing.stdout

        # A checkpoint put on the topic by someone without the key is named as the topic's, not
        # taken for the database's.
        forger = Ed25519Signer.from_seed(b"\x01" * 32)
        forged = sign_checkpoint(forger, first, b"\x00" * 32, datetime.now(UTC))
        envelope = checkpoint_event(forged)
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(settings.topic(JOURNAL_TOPIC), envelope.to_bytes(), key=b"journal")
        finally:
            await producer.stop()
        on_topic = run_cli(settings, "verify", "--against-topic")
        assert on_topic.returncode == 1, on_topic.stdout
        forged_reason = f"checkpoint {first} on the journal topic: signature invalid: unknown key id"
        assert forged_reason in on_topic.stdout, on_topic.stdout

        # A record that is no journal event is named, not a crash of `verify`.
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(settings.topic(JOURNAL_TOPIC), b'{"sequence": "1"}', key=b"journal")
        finally:
            await producer.stop()
        garbage = run_cli(settings, "verify", "--against-topic")
        assert garbage.returncode == 1, garbage.stdout + garbage.stderr
        assert "journal INVALID: the record at offset " in garbage.stdout, garbage.stdout + garbage.stderr
    finally:
        await engine.dispose()


async def test_a6r48_a6r21_the_newest_entries_no_checkpoint_covers_yet_and_checkpoints_never_published_are_found(
    service_settings, database_url
):
    """The entries after the latest checkpoint could be rewritten, or deleted with their records,
    and `verify` said "journal valid" (they are within `--max-gap`); against the journal topic the
    first one is named. A checkpoint in the database that was never published (its outbox row
    removed) is named too."""
    async with running_ledger(service_settings, checkpoint_seconds=3600.0) as ledger:
        await make_history(ledger, 60)
    settings = service_settings("ledger")
    engine = db.create_engine(database_url, "ledger")
    try:
        await _all_published(engine)
        async with engine.connect() as conn:
            newest = await conn.scalar(text("SELECT max(sequence) FROM journal"))
            signed = await conn.scalar(text("SELECT max(tree_size) FROM journal_checkpoints"))
            stored = await conn.execute(text("SELECT entry_hash FROM journal ORDER BY sequence"))
            hashes = [bytes(h) for h in stored.scalars()]
        assert newest > signed + 1, "entries after the latest checkpoint (every 50 entries)"
        valid = run_cli(settings, "verify", "--against-topic")
        assert valid.returncode == 0, valid.stdout
        assert f"held against the journal topic: {newest} entries and " in valid.stdout, valid.stdout
        # Bad arguments are said so, not a traceback.
        no_keys = run_cli(settings, "verify", "--keys", "/nonexistent/keys.json")
        assert no_keys.returncode == 1 and "--keys /nonexistent/keys.json: not a JWK Set" in no_keys.stderr
        assert "Traceback" not in no_keys.stderr, no_keys.stderr
        bad_grace = run_cli(settings, "verify", "--against-topic", "--publish-grace", "nan")
        assert bad_grace.returncode == 2 and "--publish-grace" in bad_grace.stderr, bad_grace.stderr

        async with engine.begin() as conn:
            await conn.execute(text("ALTER TABLE journal DISABLE TRIGGER journal_immutable"))
            await conn.execute(text("ALTER TABLE journal_checkpoints DISABLE TRIGGER journal_checkpoints_immutable"))
            await conn.execute(text("ALTER TABLE transactions DISABLE TRIGGER transactions_immutable"))

        # Signed with the journal's key ten minutes ago, after the published ones, but never published.
        size = newest - 1
        signer = service_settings("ledger", LedgerSettings).journal_signer()
        ago = datetime.now(UTC) - timedelta(minutes=10)
        extra = sign_checkpoint(signer, size, merkle_root(hashes[:size]), ago)
        async with engine.begin() as conn:
            await LedgerRepository(conn).add_checkpoint(extra)
        unpublished = run_cli(settings, "verify", "--against-topic")
        assert run_cli(settings, "verify").returncode == 0, "the database alone shows nothing"
        assert unpublished.returncode == 1, unpublished.stdout
        assert f"checkpoint {size} was never published on the journal topic" in unpublished.stdout
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM journal_checkpoints WHERE tree_size = :s"), {"s": size})

        # The tail rewritten: its first entry loses a rule it applied, and the later ones are chained again.
        async with engine.begin() as conn:
            await _rewrite_after(conn, signed)
        alone = run_cli(settings, "verify")
        assert alone.returncode == 1, alone.stdout
        unsealed = f"journal INVALID at entry {signed + 1}: entries {signed + 1} to {newest} carry no seal"
        assert unsealed in alone.stdout, alone.stdout
        rewritten_tail = run_cli(settings, "verify", "--against-topic")
        assert rewritten_tail.returncode == 1, rewritten_tail.stdout
        expected = f"entry {signed + 1}: entry {signed + 1} is not the one published on the journal topic\n"
        assert expected in rewritten_tail.stdout, rewritten_tail.stdout

        # The tail deleted, with its transaction records.
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM journal WHERE sequence > :s"), {"s": signed})
            await conn.execute(text("DELETE FROM transactions WHERE journal_sequence > :s"), {"s": signed})
        assert run_cli(settings, "verify").returncode == 0, "the database alone shows nothing"
        deleted = run_cli(settings, "verify", "--against-topic")
        assert deleted.returncode == 1, deleted.stdout
        assert f"entry {signed + 1}, published on the journal topic, is missing from the database" in deleted.stdout
    finally:
        await engine.dispose()


async def test_a6r48_a6r21_checkpoints_signed_before_a_key_rotation_verify_with_the_retired_key_and_no_later_one(
    service_settings, database_url
):
    """The journal's signing seed is rotated: the ledger publishes the retired public key, with the
    last tree size it signed, beside the new one, and `verify` trusts both, so the checkpoints
    signed before still verify. Without the retired key, they do not (a signature by an unknown
    key). A checkpoint signed with the retired seed over a later tree size (a seed retired because
    it leaked, used on a rewritten journal) is refused."""
    old_seed, new_seed = "seed before the rotation", "seed after the rotation"
    engine = db.create_engine(database_url, "ledger")
    try:
        async with running_ledger(service_settings, journal_signing_seed=old_seed) as before:
            acc = await make_history(before, 60)
            (old_key,) = (await before.get("/journal/keys"))["keys"]
        async with engine.connect() as conn:
            last = await conn.scalar(text("SELECT max(sequence) FROM journal"))
        retired = [{**old_key, "last_tree_size": last}]
        async with running_ledger(
            service_settings, journal_signing_seed=new_seed, journal_retired_keys=retired
        ) as after:
            for _ in range(60):
                await after.ok(transfer(acc["gha_holding"], acc["che_holding"], 1))
            published = (await after.get("/journal/keys"))["keys"]
        assert len(published) == 2 and retired[0] in published
        async with engine.connect() as conn:
            kids = set((await conn.execute(text("SELECT signature->>'kid' FROM journal_checkpoints"))).scalars())
            stored = await conn.execute(text("SELECT entry_hash FROM journal ORDER BY sequence"))
            hashes = [bytes(h) for h in stored.scalars()]
            sizes = set((await conn.execute(text("SELECT tree_size FROM journal_checkpoints"))).scalars())
        assert kids == {k["kid"] for k in published}, "checkpoints signed with each key"
        settings = service_settings("ledger")
        seed = {"REGISTRY_JOURNAL_SIGNING_SEED": new_seed}
        without = run_cli(settings, "verify", **seed)
        assert without.returncode == 1 and "signature invalid" in without.stdout, without.stdout
        trusted = {**seed, "REGISTRY_JOURNAL_RETIRED_KEYS": json.dumps(retired)}
        verified = run_cli(settings, "verify", **trusted)
        assert verified.returncode == 0, verified.stdout

        # The retired seed signs a checkpoint over entries recorded after the rotation.
        size = next(n for n in range(len(hashes), last, -1) if n not in sizes)
        old_signer = service_settings("ledger", LedgerSettings, journal_signing_seed=old_seed).journal_signer()
        late = sign_checkpoint(old_signer, size, merkle_root(hashes[:size]), datetime.now(UTC))
        async with engine.begin() as conn:
            await LedgerRepository(conn).add_checkpoint(late)
        refused = run_cli(settings, "verify", **trusted)
        assert refused.returncode == 1, refused.stdout
        reason = f"checkpoint {size}: signed by key {old_key['kid']!r}, retired after entry {last}"
        assert f"journal INVALID at entry {size}: {reason}" in refused.stdout, refused.stdout
    finally:
        await engine.dispose()


@pytest.mark.timeout(1200)
async def test_a6r48_replay_of_10000_transactions_from_table_and_topic_reproduces_the_live_digest(
    service_settings, infra, database_url, tmp_path
):
    """The Done-when of the ledger issue: 10,000 transactions, rebuilt from the journal alone. The
    ledger runs as its own process, so the history is made on both cores."""
    settings = service_settings("ledger")
    engine = db.create_engine(database_url, "ledger")
    try:
        async with ledger_process(service_settings, database_url, tmp_path) as ledger:
            await make_history(ledger, HISTORY, concurrency=16)
            async with engine.connect() as conn:
                assert await conn.scalar(text("SELECT count(*) FROM transactions")) >= int(
                    os.environ.get("REPLAY_N", "10000")
                )
            # While the ledger runs: its relay publishes the journal topic, and stops when it does.
            await _all_published(engine)
    finally:
        await engine.dispose()
    for source in ([], ["--from-topic"]):
        replayed, rebuilt, live = replay_into_fresh_database(settings, infra, *source)
        assert replayed.returncode == 0, replayed.stdout + replayed.stderr
        assert int(replayed.stdout.split()[1]) >= HISTORY
        assert rebuilt == live


async def test_a6r48_replay_of_a_running_ledger_compares_the_state_of_one_instant(ledger, service_settings, infra):
    """Replay read the journal, then took the live digest after replaying it: a ledger recording
    meanwhile made the two differ with nothing wrong. The live digest and the journal replayed now
    come from one snapshot of the live database (from the topic: up to that snapshot's newest entry,
    waiting for the relay to publish it)."""
    acc = await make_history(ledger, 40)
    settings = service_settings("ledger")
    stop = asyncio.Event()
    recorded = 0

    async def keep_recording() -> None:
        nonlocal recorded
        while not stop.is_set():
            await ledger.ok(transfer(acc["gha_holding"], acc["che_holding"], 1))
            recorded += 1

    recording = asyncio.create_task(keep_recording())
    try:
        for source in ([], ["--from-topic"]):
            before = recorded
            replayed, rebuilt, live = await asyncio.to_thread(replay_into_fresh_database, settings, infra, *source)
            assert replayed.returncode == 0, replayed.stdout + replayed.stderr
            assert rebuilt == live
            assert recorded > before, "transfers were recorded during the replay"
    finally:
        stop.set()
        await recording


async def test_a6r48_replay_exposes_live_state_that_the_journal_does_not_explain(
    ledger, service_settings, infra, database_url
):
    await make_history(ledger, 20)
    settings = service_settings("ledger")
    engine = db.create_engine(database_url, "ledger")
    try:
        async with engine.begin() as conn:
            # Units silently made in the proxy account, which this history never uses: a block
            # record beyond every serial issued, and its holding. (A holding moved to another
            # account without a block record would be refused by the database itself.)
            await conn.execute(
                text(
                    "INSERT INTO unit_blocks (id, issuance_id, first_serial, last_serial, account_number, "
                    "created_tx) SELECT 999999, issuance_id, last_serial + 1000, last_serial + 1009, "
                    "(SELECT number FROM accounts WHERE type = 'proxy'), created_tx FROM unit_blocks "
                    "ORDER BY last_serial DESC LIMIT 1"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO holdings (block_id, account_number, scope_id, issuance_id, first_serial, "
                    "last_serial) SELECT b.id, b.account_number, i.scope_id, b.issuance_id, b.first_serial, "
                    "b.last_serial FROM unit_blocks b JOIN issuances i ON i.id = b.issuance_id WHERE b.id = 999999"
                )
            )
            # An account's opening date moved back (the table has no trigger: statuses change in place).
            await conn.execute(
                text("UPDATE accounts SET opened_at = opened_at - interval '1 year' WHERE type = 'proxy'")
            )
    finally:
        await engine.dispose()
    replayed, rebuilt, live = replay_into_fresh_database(settings, infra)
    assert replayed.returncode == 1
    assert rebuilt != live
    # The block the journal does not explain is named, in the history and in the holdings, and the
    # account whose opening date it does not explain.
    differing = [line for line in replayed.stdout.splitlines() if " differs: " in line]
    assert [line.split(":")[0] for line in differing] == ["accounts", "holdings", "unit_blocks"], replayed.stdout
    assert all("replayed None; live [999999, " in line for line in differing[1:]), replayed.stdout


async def test_a6r42_a6r48_replay_with_a_section_suspension_in_the_history_reproduces_the_live_digest(
    ledger, service_settings, infra
):
    """Decisions taken while a section was suspended, refusals included, come out the same."""
    acc = await setup_registry(ledger)
    await issue(ledger, acc["issuance"], 100)
    await ledger.ok(section_status("GHA", "suspended"))
    refused = await ledger.propose(transfer(acc["issuance"], acc["gha_holding"], 5), grants=GHA_ADMIN, subject="sam")
    assert refused.json()["error"]["code"] == "section_suspended", refused.text
    await ledger.ok(transfer(acc["issuance"], acc["gha_holding"], 5))
    await ledger.ok(section_status("GHA", "active"))
    await ledger.ok(transfer(acc["issuance"], acc["gha_holding"], 5), grants=GHA_ADMIN, subject="sam")
    await ledger.ok(section_status("GHA", "suspended"))
    replayed, rebuilt, live = replay_into_fresh_database(service_settings("ledger"), infra)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert rebuilt == live
    printed = run_cli(service_settings("ledger"), "digest")
    assert (printed.returncode, printed.stdout.strip()) == (0, live), "`digest` prints the live state's digest"


async def test_a6r39_a6r48_entries_recorded_under_an_older_built_in_rule_set_replay_under_it(
    ledger, service_settings, infra, database_url, monkeypatch
):
    """A journal begun before section suspension existed (rule set 1) and continued after the
    upgrade replays under today's code: each entry is decided again under the rule set it names."""
    monkeypatch.setattr(builtin_rules, "RULESET", 1)
    acc = await setup_registry(ledger)
    await issue(ledger, acc["issuance"], 100)
    await ledger.ok(transfer(acc["issuance"], acc["gha_holding"], 5))
    monkeypatch.setattr(builtin_rules, "RULESET", 2)
    await ledger.ok(transfer(acc["issuance"], acc["gha_holding"], 7))
    engine = db.create_engine(database_url, "ledger")
    try:
        async with engine.connect() as conn:
            bodies = [
                row.body
                for row in await conn.execute(
                    text("SELECT body FROM journal WHERE body->'command'->>'kind' = 'transfer_units' ORDER BY sequence")
                )
            ]
    finally:
        await engine.dispose()
    old, new = (json.loads(b) if isinstance(b, str) else b for b in bodies)
    assert SECTION_STATUS.ref not in old["rules_applied"] and "builtin_ruleset" not in old
    assert SECTION_STATUS.ref in new["rules_applied"] and new["builtin_ruleset"] == 2
    replayed, rebuilt, live = replay_into_fresh_database(service_settings("ledger"), infra)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert rebuilt == live


async def test_a6r54_a6r39_units_brought_in_with_the_shared_key_before_rule_set_3_replay_as_recorded(
    ledger, service_settings, infra, database_url, monkeypatch
):
    """Before rule set 3 any registry service token brought units in; a journal holding such an
    entry still replays after the upgrade, while a new one is refused and the gateway's own key
    (recorded in the entry's identity) does it."""

    def incoming(first: int) -> dict[str, object]:
        foreign = {**SCOPE, "issuing_party": "CHE"}
        block = {"scope": foreign, "first": first, "last": first + 9, "first_transferring_party": "CHE"}
        kind = "external_transfer_in"
        return {
            "kind": kind,
            "origin_registry": "CHE01",
            "origin_account": "C",
            "destination": acc["che_holding"],
            "blocks": [block],
        }

    monkeypatch.setattr(builtin_rules, "RULESET", 2)
    acc = await setup_registry(ledger)
    await ledger.ok(incoming(1), grants=SERVICE, subject="service:web")
    monkeypatch.setattr(builtin_rules, "RULESET", 3)
    refused = await ledger.propose(incoming(11), grants=SERVICE, subject="service:web")
    assert refused.status_code == 403, refused.text
    await ledger.ok(incoming(11), **AS_GATEWAY)
    assert await ledger.balance(acc["che_holding"]) == 20
    engine = db.create_engine(database_url, "ledger")
    try:
        async with engine.connect() as conn:
            identities = (
                (
                    await conn.execute(
                        text(
                            "SELECT body->'identity' FROM journal "
                            "WHERE body->'command'->>'kind' = 'external_transfer_in' ORDER BY sequence"
                        )
                    )
                )
                .scalars()
                .all()
            )
    finally:
        await engine.dispose()
    assert [i.get("service") for i in identities] == [None, None, "interop-gateway"]
    replayed, rebuilt, live = replay_into_fresh_database(service_settings("ledger"), infra)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert rebuilt == live


async def test_a6r48_replay_of_a_journal_that_is_not_the_live_one_diverges(ledger, database_url) -> None:
    """A replay source chained consistently but differing from the live journal (a topic written by
    someone else) is refused even where the state digest would not tell the two apart."""
    await make_history(ledger, 5)
    engine = db.create_engine(database_url, "ledger")
    try:
        async with engine.connect() as conn:
            count, head = (
                await conn.execute(text("SELECT sequence, entry_hash FROM journal ORDER BY sequence DESC LIMIT 1"))
            ).one()
        cli.require_live_head(ReplayReport(count, bytes(head).hex()), bytes(head).hex())
        with pytest.raises(ReplayDiverged) as diverged:
            cli.require_live_head(ReplayReport(count, "00" * 32), bytes(head).hex())
        assert diverged.value.sequence == count
    finally:
        await engine.dispose()


def nomenclature_v2(directory: Path, dropped_activity_type: str) -> str:
    """A later nomenclature version in `directory`: version 1 less one activity type (A6R-57)."""
    data = json.loads(
        files("registry_contracts.nomenclatures").joinpath("registry-nomenclatures.v1.json").read_text("utf-8")
    )
    data["version"], data["effective_from"] = 2, "2026-01-01"
    data["activity_types"] = [a for a in data["activity_types"] if a["code"] != dropped_activity_type]
    (directory / "registry-nomenclatures.v2.json").write_text(json.dumps(data), encoding="utf-8")
    return str(directory)


async def journal_bodies(database_url: str, *kinds: str) -> list[dict[str, Any]]:
    engine = db.create_engine(database_url, "ledger")
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT body FROM journal WHERE kind = ANY(:kinds) ORDER BY sequence"), {"kinds": list(kinds)}
            )
            return [json.loads(b) if isinstance(b, str) else b for b in rows.scalars()]
    finally:
        await engine.dispose()


def issuance(account: str, *activity_types: str) -> dict[str, Any]:
    return {
        "kind": "issue_units",
        "account": account,
        "scope": SCOPE,
        "quantity": 10,
        "first_transferring_party": "GHA",
        "activity_types": list(activity_types),
    }


async def test_a6r48_a6r57_issuances_name_their_nomenclature_version_and_older_entries_replay_as_they_were(
    ledger, service_settings, infra, database_url, monkeypatch
):
    """Rule set 4: an entry that generates units, recorded or refused, names the nomenclature version
    its codes were judged against; a transfer's entry does not. Entries recorded before (rule set 3)
    name none, keep their bytes, and replay as version 1."""
    monkeypatch.setattr(builtin_rules, "RULESET", 3)
    acc = await setup_registry(ledger)
    await ledger.ok(issuance(acc["issuance"], "fuel_switch"))
    monkeypatch.setattr(builtin_rules, "RULESET", 4)
    await ledger.ok(issuance(acc["issuance"], "fuel_switch"))
    refused = await ledger.propose(issuance(acc["issuance"], "astrology"))
    assert refused.json()["error"]["code"] == "unknown_code", refused.text
    await ledger.ok(transfer(acc["issuance"], acc["gha_holding"], 5))
    old, new, rejected = await journal_bodies(database_url, "issue_units")
    assert old["builtin_ruleset"] == 3 and "nomenclature_version" not in old
    assert new["builtin_ruleset"] == 4 and new["nomenclature_version"] == 1
    assert rejected["outcome"] == "rejected" and rejected["nomenclature_version"] == 1
    (moved,) = await journal_bodies(database_url, "transfer_units")
    assert "nomenclature_version" not in moved
    replayed, rebuilt, live = replay_into_fresh_database(service_settings("ledger"), infra)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert rebuilt == live


async def test_a6r48_a6r57_replay_judges_each_issuance_against_the_nomenclature_version_it_names(
    service_settings, infra, database_url, tmp_path
):
    """Units issued under version 1 with an activity type that version 2 dropped: the ledger moved
    to version 2 refuses that code from then on, and a replay by a build whose latest version is 2
    still accepts the earlier issuance, reproducing the live digest."""
    directory = nomenclature_v2(tmp_path, "fuel_switch")
    async with running_ledger(service_settings) as ledger:
        acc = await setup_registry(ledger)
        await ledger.ok(issuance(acc["issuance"], "fuel_switch"))
        await ledger.ok(transfer(acc["issuance"], acc["gha_holding"], 5))
    async with running_ledger(service_settings, nomenclature_dir=directory) as ledger:
        refused = await ledger.propose(issuance(acc["issuance"], "fuel_switch"))
        assert refused.json()["error"]["code"] == "unknown_code", refused.text
        await ledger.ok(issuance(acc["issuance"], "energy_efficiency"))
    versions = [b["nomenclature_version"] for b in await journal_bodies(database_url, "issue_units")]
    assert versions == [1, 2, 2]
    replayed, rebuilt, live = replay_into_fresh_database(
        service_settings("ledger"), infra, REGISTRY_NOMENCLATURE_DIR=directory
    )
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert rebuilt == live


async def test_a6r48_a6r57_a_nomenclature_version_not_at_hand_is_refused_by_replay_and_at_start(
    service_settings, infra, database_url, tmp_path
):
    """A journal naming a version this build does not have: replay refuses, naming the version, and
    a ledger whose latest version is older than the journal's will not start (a downgrade)."""
    directory = nomenclature_v2(tmp_path, "fuel_switch")
    async with running_ledger(service_settings, nomenclature_dir=directory) as ledger:
        acc = await setup_registry(ledger)
        await ledger.ok(issuance(acc["issuance"], "energy_efficiency"))
    replayed, _, _ = replay_into_fresh_database(service_settings("ledger"), infra)
    assert replayed.returncode == 1
    assert "replay REFUSED at entry" in replayed.stdout, replayed.stdout + replayed.stderr
    assert "nomenclature version 2" in replayed.stdout and "REGISTRY_NOMENCLATURE_DIR" in replayed.stdout
    engine = db.create_engine(database_url, "ledger")
    try:
        await refuse_nomenclature_downgrade(engine, NomenclatureVersions(directory))
        with pytest.raises(NomenclatureDowngrade, match="nomenclature version 2, but the latest at hand is version 1"):
            await refuse_nomenclature_downgrade(engine, NomenclatureVersions())
    finally:
        await engine.dispose()


async def test_a6r48_the_bench_seed_is_sealed_as_the_writer_seals_and_the_ledger_starts_on_it(
    service_settings, database_url
):
    """`make bench` writes its blocks with SQL under one synthetic journal entry. The writer refuses
    a tail it did not seal, so the seed seals its entry with the journal key the bench's ledger runs
    with; the ledger then starts on it and serves the blocks. (`verify` and replay refuse the entry,
    which holds no command: the bench's database is throwaway.)"""
    async with running_ledger(service_settings) as ledger:
        acc = await setup_registry(ledger)
    holders = [acc["gha_holding"], acc["che_holding"]]
    dsn = database_url.replace("postgresql+psycopg://", "postgresql://")
    seeded = await asyncio.to_thread(
        seed_blocks, dsn, issuance_account=acc["issuance"], accounts=holders, blocks=40, min_block=1, max_block=5
    )
    async with running_ledger(service_settings) as ledger:
        assert (await ledger.http.get(f"{ledger.base_url}/ready")).status_code == 200
        assert sum([await ledger.balance(a) for a in holders]) == seeded.units


async def test_a6r48_a6r21_a_journal_recorded_before_the_seals_is_taken_and_sealed_from_then_on(
    service_settings, database_url
):
    """A registry upgraded to the seals (migration 0010) holds entries no writer sealed, some of
    them perhaps written by an earlier build still leading while this one migrated: the writer takes
    them, seals from its first batch on, and `verify` holds the seals from the first one."""
    settings = service_settings("ledger")
    async with running_ledger(service_settings, checkpoint_seconds=3600.0) as ledger:
        acc = await make_history(ledger, 10)
    engine = db.create_engine(database_url, "ledger")
    try:
        # As the journal stood before the seals: none on any entry, and no start recorded.
        async with engine.begin() as conn:
            await conn.execute(text("ALTER TABLE journal DISABLE TRIGGER journal_immutable"))
            await conn.execute(text("ALTER TABLE journal_sealed_from DISABLE TRIGGER journal_sealed_from_immutable"))
            await conn.execute(text("UPDATE journal SET seal = NULL"))
            await conn.execute(text("DELETE FROM journal_sealed_from"))
            await conn.execute(text("ALTER TABLE journal ENABLE TRIGGER journal_immutable"))
            await conn.execute(text("ALTER TABLE journal_sealed_from ENABLE TRIGGER journal_sealed_from_immutable"))
            legacy = await conn.scalar(text("SELECT max(sequence) FROM journal"))
        assert run_cli(settings, "verify").returncode == 0, "entries before the first seal need none"
        async with running_ledger(service_settings, checkpoint_seconds=3600.0) as ledger:
            assert (await ledger.http.get(f"{ledger.base_url}/ready")).status_code == 200
            await ledger.ok(transfer(acc["gha_holding"], acc["che_holding"], 1))
        async with engine.connect() as conn:
            sealed = list((await conn.execute(text("SELECT sequence FROM journal WHERE seal IS NOT NULL"))).scalars())
        assert sealed == [legacy + 1], "sealed from the writer's first batch on"
        assert run_cli(settings, "verify").returncode == 0
        # From then on, an unsealed entry after it is refused, as anywhere else: the writer will not start on it.
        async with engine.begin() as conn:
            await _slip_in_entry(conn)
        async with running_ledger(service_settings) as ledger:
            refused = await ledger.propose(transfer(acc["gha_holding"], acc["che_holding"], 1))
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "journal_not_vouched", refused.text
    finally:
        await engine.dispose()
