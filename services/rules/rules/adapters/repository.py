"""SQL for the catalogue, bindings, suspensions, the configuration journal, evaluation records and
the idempotency keys of creating requests.

Every table here but `idempotency_keys` is insert-only (see migrations/versions/0002_rules.py); the
current state (a version's retirement, a binding's removal, the latest suspension) is read from
the records.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from rules.domain.bindings import Binding
from rules.domain.catalogue import RuleVersion, definition_to_json, version_from_json
from rules.domain.journal import JournalEntry

_CONFIGURATION_LOCK = "hashtextextended('rules-configuration', 0)"
_VERSIONS = """
    SELECT v.rule, v.version, v.definition, v.effective_from,
           LEAST(v.retire_at, (SELECT min(r.retire_at) FROM version_retirements r
                               WHERE r.rule = v.rule AND r.version = v.version)) AS retire_at
    FROM rule_versions v
"""
_BINDINGS = """
    SELECT b.id, b.rule, b.target_type, b.target, b.params, b.by_section_administrator, b.created_at,
           b.created_by, b.journal_sequence, (r.binding_id IS NOT NULL) AS removed
    FROM bindings b LEFT JOIN binding_removals r ON r.binding_id = b.id
"""

_CATALOGUE_TABLES = {
    "rule_versions": "SELECT rule, version, kind, definition, effective_from, retire_at, created_by, journal_sequence "
    "FROM rule_versions",
    "version_retirements": "SELECT rule, version, retire_at, reason, journal_sequence FROM version_retirements",
    "bindings": "SELECT CAST(id AS text) AS id, rule, target_type, target, params, by_section_administrator, "
    "created_by, created_at, journal_sequence FROM bindings",
    "binding_removals": "SELECT CAST(binding_id AS text) AS binding_id, reason, journal_sequence FROM binding_removals",
    "suspensions": "SELECT journal_sequence, target_type, target, suspended, reason, changed_by, changed_at "
    "FROM suspensions",
}


@dataclass(frozen=True)
class Evaluation:
    """One evaluated proposal, as stored."""

    proposal: dict[str, Any]
    verdict: dict[str, Any]
    event_id: uuid.UUID
    evaluated_at: datetime


def _version(row: Any) -> RuleVersion:
    return version_from_json(row.rule, row.version, row.definition, row.effective_from, row.retire_at)


def _binding(row: Any) -> Binding:
    return Binding(
        id=str(row.id),
        rule=row.rule,
        target_type=row.target_type,
        target=row.target,
        params=row.params,
        by_section_administrator=row.by_section_administrator,
        created_at=row.created_at,
    )


class Repository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    # -- journal ------------------------------------------------------------------------------

    async def lock_journal(self) -> None:
        """Serialize configuration changes: the journal is one hash chain. Held exclusively, also
        against evaluations (share_journal_lock): see domain.catalogue, the invariant."""
        await self.conn.execute(text(f"SELECT pg_advisory_xact_lock({_CONFIGURATION_LOCK})"))

    async def share_journal_lock(self) -> None:
        """Read the catalogue for evaluations with no configuration change in flight, until this
        transaction ends: a change waits for them, and they for it to be committed and visible."""
        await self.conn.execute(text(f"SELECT pg_advisory_xact_lock_shared({_CONFIGURATION_LOCK})"))

    async def journal_head(self) -> tuple[int, bytes] | None:
        row = (
            await self.conn.execute(
                text("SELECT sequence, entry_hash FROM configuration_journal ORDER BY sequence DESC LIMIT 1")
            )
        ).first()
        return None if row is None else (row.sequence, bytes(row.entry_hash))

    async def head_sequence(self) -> int:
        return int(await self.conn.scalar(text("SELECT COALESCE(max(sequence), 0) FROM configuration_journal")) or 0)

    async def recorded_at(self, sequence: int) -> datetime | None:
        """When the configuration journal's entry `sequence` was recorded (None before the first)."""
        return await self.conn.scalar(
            text("SELECT recorded_at FROM configuration_journal WHERE sequence = :s"), {"s": sequence}
        )

    async def sequence_at(self, instant: datetime) -> int:
        """The last configuration journal entry recorded at or before `instant` (0: none was)."""
        found = await self.conn.scalar(
            text("SELECT COALESCE(max(sequence), 0) FROM configuration_journal WHERE recorded_at <= :at"),
            {"at": instant},
        )
        return int(found or 0)

    async def append_journal(self, e: JournalEntry) -> None:
        await self.conn.execute(
            text(
                "INSERT INTO configuration_journal (sequence, recorded_at, kind, body, previous_hash, entry_hash) "
                "VALUES (:s, :at, :k, CAST(:b AS jsonb), :p, :h)"
            ),
            {
                "s": e.sequence,
                "at": e.recorded_at,
                "k": e.kind,
                "b": json.dumps(e.body),
                "p": e.previous_hash,
                "h": e.entry_hash,
            },
        )

    async def journal(self, *, after: int = 0, limit: int = 1000) -> list[JournalEntry]:
        rows = await self.conn.execute(
            text(
                "SELECT sequence, recorded_at, kind, body, previous_hash, entry_hash FROM configuration_journal "
                "WHERE sequence > :after ORDER BY sequence LIMIT :limit"
            ),
            {"after": after, "limit": limit},
        )
        return [
            JournalEntry(r.sequence, r.recorded_at, r.kind, r.body, bytes(r.previous_hash), bytes(r.entry_hash))
            for r in rows
        ]

    async def catalogue_tables(self) -> dict[str, list[dict[str, Any]]]:
        """Every row of the tables the journal's entries make (domain.journal.catalogue_record),
        each with every column; ids as text."""
        found: dict[str, list[dict[str, Any]]] = {}
        for table, query in _CATALOGUE_TABLES.items():
            found[table] = [dict(row._mapping) for row in await self.conn.execute(text(query))]
        return found

    # -- versions -----------------------------------------------------------------------------

    async def versions(self, rule: str) -> list[RuleVersion]:
        rows = await self.conn.execute(text(_VERSIONS + " WHERE v.rule = :r ORDER BY v.version"), {"r": rule})
        return [_version(r) for r in rows]

    async def all_versions(self) -> dict[str, list[RuleVersion]]:
        found: dict[str, list[RuleVersion]] = {}
        for row in await self.conn.execute(text(_VERSIONS + " ORDER BY v.rule, v.version")):
            found.setdefault(row.rule, []).append(_version(row))
        return found

    async def add_version(self, v: RuleVersion, *, created_by: str, sequence: int) -> None:
        await self.conn.execute(
            text(
                "INSERT INTO rule_versions (rule, version, kind, definition, effective_from, retire_at, created_by, "
                "journal_sequence) VALUES (:r, :v, :k, CAST(:d AS jsonb), :f, :t, :by, :s)"
            ),
            {
                "r": v.rule,
                "v": v.version,
                "k": v.kind,
                "d": json.dumps(definition_to_json(v)),
                "f": v.effective_from,
                "t": v.retire_at,
                "by": created_by,
                "s": sequence,
            },
        )

    async def add_retirement(self, rule: str, version: int, retire_at: datetime, reason: str, sequence: int) -> None:
        await self.conn.execute(
            text(
                "INSERT INTO version_retirements (rule, version, retire_at, reason, journal_sequence) "
                "VALUES (:r, :v, :t, :why, :s)"
            ),
            {"r": rule, "v": version, "t": retire_at, "why": reason, "s": sequence},
        )

    # -- bindings -----------------------------------------------------------------------------

    async def binding(self, binding_id: str) -> tuple[Binding, bool] | None:
        try:
            key = uuid.UUID(binding_id)
        except ValueError:
            return None
        row = (await self.conn.execute(text(_BINDINGS + " WHERE b.id = :id"), {"id": key})).first()
        return None if row is None else (_binding(row), row.removed)

    async def bindings(
        self, *, rule: str | None = None, target_type: str | None = None, target: str | None = None
    ) -> list[dict[str, Any]]:
        rows = await self.conn.execute(
            text(
                _BINDINGS + " WHERE (CAST(:r AS text) IS NULL OR b.rule = :r) "
                "AND (CAST(:tt AS text) IS NULL OR b.target_type = :tt) "
                "AND (CAST(:t AS text) IS NULL OR b.target = :t) ORDER BY b.created_at, b.id"
            ),
            {"r": rule, "tt": target_type, "t": target},
        )
        return [{**vars(_binding(r)), "created_by": r.created_by, "removed": r.removed} for r in rows]

    async def active_bindings(self, as_of: int | None = None) -> list[Binding]:
        """Bindings added and not removed by the journal's entry `as_of` (by its head if None)."""
        rows = await self.conn.execute(
            text(
                "SELECT b.id, b.rule, b.target_type, b.target, b.params, b.by_section_administrator, b.created_at "
                "FROM bindings b WHERE (CAST(:s AS bigint) IS NULL OR b.journal_sequence <= :s) AND NOT EXISTS "
                "(SELECT 1 FROM binding_removals r WHERE r.binding_id = b.id "
                "AND (CAST(:s AS bigint) IS NULL OR r.journal_sequence <= :s)) ORDER BY b.created_at"
            ),
            {"s": as_of},
        )
        return [_binding(r) for r in rows]

    async def add_binding(self, b: Binding, *, created_by: str, sequence: int) -> None:
        await self.conn.execute(
            text(
                "INSERT INTO bindings (id, rule, target_type, target, params, by_section_administrator, created_by, "
                "created_at, journal_sequence) VALUES (:id, :r, :tt, :t, CAST(:p AS jsonb), :sa, :by, :at, :s)"
            ),
            {
                "id": uuid.UUID(b.id),
                "r": b.rule,
                "tt": b.target_type,
                "t": b.target,
                "p": json.dumps(dict(b.params)),
                "sa": b.by_section_administrator,
                "by": created_by,
                "at": b.created_at,
                "s": sequence,
            },
        )

    async def remove_binding(self, binding_id: str, reason: str, sequence: int) -> None:
        await self.conn.execute(
            text("INSERT INTO binding_removals (binding_id, reason, journal_sequence) VALUES (:id, :why, :s)"),
            {"id": uuid.UUID(binding_id), "why": reason, "s": sequence},
        )

    # -- suspensions --------------------------------------------------------------------------

    async def suspension(self, target_type: str, target: str) -> dict[str, Any] | None:
        """The latest suspension record of a rule or binding (suspended or reactivated), if any."""
        row = (
            await self.conn.execute(
                text(
                    "SELECT suspended, reason, changed_by, changed_at, journal_sequence FROM suspensions "
                    "WHERE target_type = :tt AND target = :t ORDER BY journal_sequence DESC LIMIT 1"
                ),
                {"tt": target_type, "t": target},
            )
        ).first()
        return None if row is None else dict(row._mapping)

    async def suspended(self, as_of: int | None = None) -> tuple[frozenset[str], frozenset[str]]:
        """The rules and bindings suspended as of the journal's entry `as_of` (its head if None)."""
        rows = await self.conn.execute(
            text(
                "SELECT DISTINCT ON (target_type, target) target_type, target, suspended FROM suspensions "
                "WHERE CAST(:s AS bigint) IS NULL OR journal_sequence <= :s "
                "ORDER BY target_type, target, journal_sequence DESC"
            ),
            {"s": as_of},
        )
        current = [(r.target_type, r.target) for r in rows if r.suspended]
        return (
            frozenset(t for kind, t in current if kind == "rule"),
            frozenset(t for kind, t in current if kind == "binding"),
        )

    async def add_suspension(
        self, target_type: str, target: str, *, suspended: bool, reason: str, by: str, at: datetime, sequence: int
    ) -> None:
        await self.conn.execute(
            text(
                "INSERT INTO suspensions (journal_sequence, target_type, target, suspended, reason, changed_by, "
                "changed_at) VALUES (:s, :tt, :t, :sus, :why, :by, :at)"
            ),
            {"s": sequence, "tt": target_type, "t": target, "sus": suspended, "why": reason, "by": by, "at": at},
        )

    # -- idempotency keys ----------------------------------------------------------------------

    async def claim_key(self, caller: str, key: str, digest: bytes, at: datetime, expired_before: datetime) -> bool:
        """Claim a key for this transaction (True), or find it claimed (False). A claim another
        open transaction holds is waited for (the primary key): it is read once committed, and
        claimed here only if that transaction rolled back. A key created before `expired_before`
        is claimed afresh, as if it had never been used."""
        claimed = await self.conn.execute(
            text(
                "INSERT INTO idempotency_keys (caller, key, request_digest, created_at) VALUES (:c, :k, :d, :at) "
                "ON CONFLICT (caller, key) DO UPDATE SET request_digest = EXCLUDED.request_digest, status = NULL, "
                "response = NULL, created_at = EXCLUDED.created_at WHERE idempotency_keys.created_at < :expired"
            ),
            {"c": caller, "k": key, "d": digest, "at": at, "expired": expired_before},
        )
        return claimed.rowcount == 1

    async def delete_expired_keys(self, expired_before: datetime, limit: int) -> int:
        """Delete at most `limit` of the oldest keys created before `expired_before`, whoever's.
        Rows another transaction holds are skipped, not waited for: that one is claiming or
        deleting them itself."""
        deleted = await self.conn.execute(
            text(
                "DELETE FROM idempotency_keys k USING (SELECT caller, key FROM idempotency_keys "
                "WHERE created_at < :expired ORDER BY created_at LIMIT :n FOR UPDATE SKIP LOCKED) e "
                "WHERE k.caller = e.caller AND k.key = e.key"
            ),
            {"expired": expired_before, "n": limit},
        )
        return deleted.rowcount or 0

    async def keyed_answer(self, caller: str, key: str) -> tuple[bytes, int, Any]:
        """The digest of the request a committed key named, and the status and body answered."""
        row = (
            await self.conn.execute(
                text("SELECT request_digest, status, response FROM idempotency_keys WHERE caller = :c AND key = :k"),
                {"c": caller, "k": key},
            )
        ).one()
        return bytes(row.request_digest), row.status, row.response

    async def record_answer(self, caller: str, key: str, status: int, body: Any) -> None:
        await self.conn.execute(
            text("UPDATE idempotency_keys SET status = :s, response = CAST(:r AS json) WHERE caller = :c AND key = :k"),
            {"c": caller, "k": key, "s": status, "r": json.dumps(body)},
        )

    # -- evaluations --------------------------------------------------------------------------

    async def evaluation(self, transaction_id: str) -> dict[str, Any] | None:
        row = (
            await self.conn.execute(
                text(
                    "SELECT proposal, verdict, evaluated_at FROM evaluations WHERE transaction_id = :t "
                    "ORDER BY evaluated_at DESC LIMIT 1"
                ),
                {"t": transaction_id},
            )
        ).first()
        return None if row is None else dict(row._mapping)

    async def latest_evaluations(self, transaction_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The latest evaluation of each of these transactions, if any, in one statement."""
        rows = await self.conn.execute(
            text(
                "SELECT DISTINCT ON (transaction_id) transaction_id, proposal, verdict FROM evaluations "
                "WHERE transaction_id = ANY(:t) ORDER BY transaction_id, evaluated_at DESC"
            ),
            {"t": sorted(set(transaction_ids))},
        )
        return {row.transaction_id: {"proposal": row.proposal, "verdict": row.verdict} for row in rows}

    async def add_evaluations(self, evaluations: list[Evaluation]) -> None:
        """Evaluations (proposal, verdict, rule versions: A6R-39), in one statement."""
        if not evaluations:
            return
        rows = [
            {
                "t": e.verdict["transaction_id"],
                "e": e.event_id,
                "p": e.proposal,
                "v": e.verdict,
                "o": e.verdict["outcome"],
                "s": e.verdict["catalogue_sequence"],
                "at": e.evaluated_at,
            }
            for e in evaluations
        ]
        await self.conn.execute(
            text(
                "INSERT INTO evaluations (transaction_id, proposal_event_id, proposal, verdict, outcome, "
                "catalogue_sequence, evaluated_at) SELECT t, e, p, v, o, s, at FROM ROWS FROM (json_to_recordset("
                "CAST(:rows AS json)) AS (t text, e uuid, p jsonb, v jsonb, o text, s bigint, at timestamptz)) "
                "WITH ORDINALITY AS r(t, e, p, v, o, s, at, n) ORDER BY n"
            ),
            {"rows": orjson.dumps(rows).decode()},
        )
