"""Live blocks seeded straight into the ledger's tables, bypassing the HTTP path.

A million blocks through the API would take hours, so the bench writes them with SQL, consistent
with what the ledger itself would have written: one synthetic transaction `T` (kind `bench_seed`)
with its own journal entry, hash-chained onto the journal head; a serial scope and one issuance of
serials 1..total; a root block in the issuance account, retired by `T`; and `blocks` child blocks
partitioning 1..total among the holding accounts, each live in `holdings`. The entry carries the
writer's seal, made with the development journal key the bench's ledger runs with. The ledger must be
(re)started afterwards: its writer loads the journal head and id counters at start-up.

Replay cannot re-derive this entry (no ledger command creates a million blocks at once): the bench
database is throwaway.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from pydantic import SecretStr

from ledger.domain.journal import JournalHead, seal
from ledger.settings import LedgerSettings
from registry_contracts.canonical import canonical_json
from registry_contracts.chain import GENESIS_HASH

SCOPE = {
    "originating_registry": "CHE01",
    "issuing_party": "GHA",
    "activity_id": "BENCH-SEED-001",
    "vintage": 2024,
    "metric": "tCO2e",
}


@dataclass(frozen=True)
class SeedResult:
    blocks: int
    units: int
    seconds: float
    transaction_id: str
    journal_sequence: int


def _scalar(conn: psycopg.Connection[Any], sql: str, params: Any = None) -> Any:
    row = conn.execute(sql, params).fetchone()
    assert row is not None
    return row[0]


def seed_blocks(
    dsn: str,
    *,
    issuance_account: str,
    accounts: list[str],
    blocks: int,
    min_block: int,
    max_block: int,
    random_seed: float = 0.42,
) -> SeedResult:
    started = time.monotonic()
    tx = uuid.uuid4()
    with psycopg.connect(dsn, options="-c search_path=ledger") as conn:
        head_row = conn.execute("SELECT sequence, entry_hash FROM journal ORDER BY sequence DESC LIMIT 1").fetchone()
        head = JournalHead() if head_row is None else JournalHead(head_row[0], bytes(head_row[1]))
        assert head_row is not None or head.last_hash == GENESIS_HASH
        root_id = _scalar(conn, "SELECT COALESCE(max(id), 0) + 1 FROM unit_blocks")
        issuance_id = _scalar(conn, "SELECT COALESCE(max(id), 0) + 1 FROM issuances")
        scope_id = _scalar(conn, "SELECT COALESCE(max(id), 0) + 1 FROM serial_scopes")
        conn.execute("SELECT setseed(%s)", (random_seed,))
        conn.execute(
            "CREATE TEMP TABLE seed ON COMMIT DROP AS "
            "SELECT i, size, sum(size) OVER (ORDER BY i) - size + 1 AS first_serial, "
            "sum(size) OVER (ORDER BY i) AS last_serial, (%s::text[])[1 + i %% %s] AS account "
            "FROM (SELECT i, (%s + floor(random() * %s))::bigint AS size FROM generate_series(1, %s) i) s",
            (accounts, len(accounts), min_block, max_block - min_block + 1, blocks),
        )
        total = int(_scalar(conn, "SELECT max(last_serial) FROM seed"))
        now = datetime.now(UTC)
        body = {
            "transaction_id": str(tx),
            "outcome": "recorded",
            "note": "synthetic seed written by `python -m bench` with SQL, bypassing the HTTP path",
            "scope": SCOPE,
            "issuance_account": issuance_account,
            "accounts": accounts,
            "blocks": blocks,
            "first_serial": 1,
            "last_serial": total,
        }
        entry = head.append(now, "bench_seed", body)
        # Sealed as the writer seals a batch's last entry, with the journal key the bench's ledger runs
        # with (REGISTRY_JOURNAL_SIGNING_SEED, else the development seed): it refuses a tail it did not seal.
        journal_seed = os.environ.get("REGISTRY_JOURNAL_SIGNING_SEED")
        settings = LedgerSettings.model_construct(
            **({"journal_signing_seed": SecretStr(journal_seed)} if journal_seed else {})
        )
        sealed = json.dumps(seal(settings.journal_signer(), entry).to_dict())
        conn.execute(
            "INSERT INTO journal (sequence, recorded_at, kind, body, previous_hash, entry_hash, seal) "
            "VALUES (%s, %s, %s, %s::jsonb, %s, %s, %s::jsonb)",
            (entry.sequence, now, entry.kind, json.dumps(body), entry.previous_hash, entry.entry_hash, sealed),
        )
        result = {"blocks": blocks, "units": total}
        conn.execute(
            "INSERT INTO transactions (id, kind, request_hash, outcome, initiator, on_behalf_of, input, result, "
            "journal_sequence, recorded_at) VALUES (%s, 'bench_seed', %s, 'recorded', 'bench', NULL, %s::jsonb, "
            "%s::jsonb, %s, %s)",
            (
                tx,
                hashlib.sha256(canonical_json(body)).digest(),
                json.dumps(body),
                json.dumps(result),
                entry.sequence,
                now,
            ),
        )
        conn.execute(
            "INSERT INTO serial_scopes VALUES (%s, %s, %s, %s, %s, %s)",
            (scope_id, *SCOPE.values()),
        )
        conn.execute(
            "INSERT INTO issuances VALUES (%s, %s, %s, 1, %s, NULL, 'GHA', '{}', '{}', NULL, NULL, NULL)",
            (issuance_id, tx, scope_id, total),
        )
        conn.execute(
            "INSERT INTO unit_blocks VALUES (%s, %s, 1, %s, %s, %s, NULL)",
            (root_id, issuance_id, total, issuance_account, tx),
        )
        conn.execute("INSERT INTO block_retirements VALUES (%s, %s)", (root_id, tx))
        conn.execute(
            "INSERT INTO unit_blocks (id, issuance_id, first_serial, last_serial, account_number, created_tx, "
            "parent_block) SELECT %s + i, %s, first_serial, last_serial, account, %s, %s FROM seed ORDER BY i",
            (root_id, issuance_id, tx, root_id),
        )
        conn.execute(
            "INSERT INTO holdings (block_id, account_number, scope_id, issuance_id, first_serial, last_serial) "
            "SELECT %s + i, account, %s, %s, first_serial, last_serial FROM seed ORDER BY i",
            (root_id, scope_id, issuance_id),
        )
        conn.commit()
        conn.autocommit = True
        # Settle the freshly written tables before measuring: otherwise autovacuum and the next
        # checkpoint flush run in the middle of the measurement and are charged to the ledger.
        conn.execute("VACUUM (ANALYZE)")
        conn.execute("CHECKPOINT")
    return SeedResult(blocks, total, time.monotonic() - started, str(tx), entry.sequence)


def live_blocks(dsn: str, accounts: list[str]) -> tuple[int, int]:
    """Live blocks and units held by `accounts`."""
    with psycopg.connect(dsn, options="-c search_path=ledger") as conn:
        row = conn.execute(
            "SELECT count(*), COALESCE(sum(quantity), 0) FROM holdings WHERE account_number = ANY(%s)", (accounts,)
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])
