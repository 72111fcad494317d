"""The rules configuration journal: every catalogue, binding and suspension change, hash-chained
(A6R-17: suspensions traceable and auditable; A6R-39: which version was in force when), built as
the ledger's journal is (registry_contracts.chain) under its own domain.

The catalogue tables (versions, retirements, bindings, their removals, suspensions) are what
evaluations read, and each of their records restates one journal entry. Checking the journal
(A6R-48) therefore rebuilds those records from the entries and compares them with the tables: a
sound chain says nothing of a table edited beside it. The tables are insert-only by trigger, but a
superuser (or the tables' owner) can disable a trigger or set session_replication_role, and an
INSERT is allowed to anyone who may write them, so the comparison is needed all the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from registry_contracts.chain import Break, Chain, JournalEntry, first_break
from registry_contracts.chain import JournalHead as BaseHead
from registry_contracts.timestamps import iso_utc


class JournalHead(BaseHead):
    chain = Chain("a6r-registry/rules/configuration-entry/v1")


def next_entry(head: tuple[int, bytes] | None, recorded_at: datetime, kind: str, body: dict[str, Any]) -> JournalEntry:
    return (JournalHead(*head) if head is not None else JournalHead()).append(recorded_at, kind, body)


def verify_chain(entries: Iterable[JournalEntry]) -> Break | None:
    return first_break(JournalHead.chain, (e.link() for e in entries))


Record = dict[str, Any]
# Each catalogue table with the columns that name one of its records.
RECORD_KEYS: dict[str, tuple[str, ...]] = {
    "rule_versions": ("rule", "version"),
    "version_retirements": ("journal_sequence",),
    "bindings": ("id",),
    "binding_removals": ("binding_id",),
    "suspensions": ("journal_sequence",),
}


def record_key(table: str, record: Mapping[str, Any]) -> str:
    return "@".join(str(record.get(column)) for column in RECORD_KEYS[table])


def _instant(value: Any) -> Any:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _subject(body: Mapping[str, Any]) -> Any:
    return (body.get("by") or {}).get("subject")


def catalogue_record(entry: JournalEntry) -> tuple[str, Record] | None:
    """The table and record an entry makes, with every column; None for a kind that makes none."""
    b, s = entry.body, entry.sequence
    if entry.kind == "rule_version_added":
        definition = b.get("definition") or {}
        return "rule_versions", {
            "rule": b.get("rule"),
            "version": b.get("version"),
            "kind": definition.get("kind"),
            "definition": b.get("definition"),
            "effective_from": _instant(b.get("effective_from")),
            "retire_at": _instant(b.get("retire_at")),
            "created_by": _subject(b),
            "journal_sequence": s,
        }
    if entry.kind == "rule_version_retired":
        return "version_retirements", {
            "rule": b.get("rule"),
            "version": b.get("version"),
            "retire_at": _instant(b.get("retire_at")),
            "reason": b.get("reason"),
            "journal_sequence": s,
        }
    if entry.kind == "binding_added":
        return "bindings", {
            "id": b.get("id"),
            "rule": b.get("rule"),
            "target_type": b.get("target_type"),
            "target": b.get("target"),
            "params": b.get("params"),
            "by_section_administrator": b.get("by_section_administrator"),
            "created_by": _subject(b),
            "created_at": _instant(b.get("created_at")),
            "journal_sequence": s,
        }
    if entry.kind == "binding_removed":
        return "binding_removals", {"binding_id": b.get("binding_id"), "reason": b.get("reason"), "journal_sequence": s}
    if entry.kind in ("suspended", "reactivated"):
        return "suspensions", {
            "journal_sequence": s,
            "target_type": b.get("target_type"),
            "target": b.get("target"),
            "suspended": entry.kind == "suspended",
            "reason": b.get("reason"),
            "changed_by": _subject(b),
            # The change's one instant (service_layer.configuration._journal).
            "changed_at": entry.recorded_at,
        }
    return None


def _shown(value: Any) -> Any:
    """A value as JSON shows it."""
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, Mapping):
        return {k: _shown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shown(v) for v in value]
    return value


@dataclass(frozen=True)
class Difference:
    """The first catalogue record that is not what the journal says."""

    table: str
    record: str  # its key (RECORD_KEYS), e.g. "cap@2" or a binding id
    field: str | None  # None: the whole record is missing, or no journal entry made it
    journal: Any  # what the journal says (None with no entry)
    stored: Any  # what the table holds (None with no row)
    sequence: int | None  # the journal entry that made the record, or that the row claims
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "record": self.record,
            "field": self.field,
            "journal": _shown(self.journal),
            "stored": _shown(self.stored),
            "journal_sequence": self.sequence,
            "message": self.message,
        }


def first_difference(entries: Iterable[JournalEntry], tables: Mapping[str, Sequence[Record]]) -> Difference | None:
    """Rebuild the catalogue tables from the journal, in its order, and name the first record that
    differs from the stored one (`tables`: each table's rows, every column): a record changed or
    deleted, then a row no entry made, the one claiming the earliest entry first."""
    stored = {table: {record_key(table, row): row for row in tables.get(table, ())} for table in RECORD_KEYS}
    for entry in entries:
        made = catalogue_record(entry)
        if made is None:
            return Difference(
                "configuration_journal",
                str(entry.sequence),
                "kind",
                entry.kind,
                None,
                entry.sequence,
                f"journal entry {entry.sequence} is of kind {entry.kind!r}, which makes no catalogue record",
            )
        table, record = made
        key = record_key(table, record)
        row = stored[table].pop(key, None)
        if row is None:
            return Difference(
                table,
                key,
                None,
                record,
                None,
                entry.sequence,
                f"{table} record {key} is missing: journal entry {entry.sequence} ({entry.kind}) made it",
            )
        for column, value in record.items():
            if row.get(column) != value:
                return Difference(
                    table,
                    key,
                    column,
                    value,
                    row.get(column),
                    entry.sequence,
                    f"{table} record {key}: {column} is {_shown(row.get(column))!r}, but journal entry"
                    f" {entry.sequence} ({entry.kind}) says {_shown(value)!r}",
                )
    extra = [(row.get("journal_sequence") or 0, t, key, row) for t, rows in stored.items() for key, row in rows.items()]
    if not extra:
        return None
    sequence, table, key, row = min(extra, key=lambda found: found[:3])
    return Difference(
        table,
        key,
        None,
        None,
        row,
        sequence,
        f"{table} record {key} was made by no journal entry (it names entry {sequence})",
    )


@dataclass(frozen=True)
class Verification:
    """The journal's check (A6R-48): its hash chain, then the catalogue tables against it."""

    entries: int
    broken: Break | None
    difference: Difference | None

    @property
    def valid(self) -> bool:
        return self.broken is None and self.difference is None

    def to_json(self) -> dict[str, Any]:
        return {
            "entries": self.entries,
            "valid": self.valid,
            "first_broken_sequence": self.broken.sequence if self.broken else None,
            "broken_reason": self.broken.reason if self.broken else None,
            "catalogue_matches": self.difference is None,
            "first_difference": self.difference.to_json() if self.difference else None,
        }
