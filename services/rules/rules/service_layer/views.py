"""How catalogue records look in answers, journal bodies and events (JSON values only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from registry_contracts.timestamps import iso_utc
from rules.domain.bindings import Binding
from rules.domain.catalogue import RuleVersion, definition_to_json, version_in_force
from rules.domain.journal import JournalEntry


def _iso(value: datetime | None) -> str | None:
    return None if value is None else iso_utc(value)


def version(v: RuleVersion, *, retire_at: datetime | None = None) -> dict[str, Any]:
    return {
        "rule": v.rule,
        "version": v.version,
        "ref": v.ref,
        **definition_to_json(v),
        "effective_from": _iso(v.effective_from),
        "retire_at": _iso(retire_at or v.retire_at),
    }


def rule(name: str, versions: list[RuleVersion], suspension: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
    in_force = version_in_force(versions, now)
    return {
        "name": name,
        "kind": versions[0].kind,
        "version_in_force": None if in_force is None else in_force.version,
        "suspended": bool(suspension and suspension["suspended"]),
        "suspension": None if suspension is None else {**suspension, "changed_at": _iso(suspension["changed_at"])},
        "versions": [version(v) for v in versions],
    }


def binding(b: Binding) -> dict[str, Any]:
    return {
        "id": b.id,
        "rule": b.rule,
        "target_type": b.target_type,
        "target": b.target,
        "params": dict(b.params),
        "by_section_administrator": b.by_section_administrator,
        "created_at": _iso(b.created_at),
    }


def journal_entry(e: JournalEntry) -> dict[str, Any]:
    """A journal entry as the rules.ConfigurationChanged payload and the GET /journal item."""
    return {
        "sequence": e.sequence,
        "entry_hash": e.entry_hash.hex(),
        "previous_hash": e.previous_hash.hex(),
        "kind": e.kind,
        "recorded_at": iso_utc(e.recorded_at),
        "body": e.body,
    }
