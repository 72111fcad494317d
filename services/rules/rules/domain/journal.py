"""The rules configuration journal: every catalogue, binding and suspension change, hash-chained
(A6R-17: suspensions traceable and auditable; A6R-39: which version was in force when), built as
the ledger's journal is (registry_contracts.chain) under its own domain.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from registry_contracts.chain import Break, Chain, JournalEntry, first_break
from registry_contracts.chain import JournalHead as BaseHead


class JournalHead(BaseHead):
    chain = Chain("a6r-registry/rules/configuration-entry/v1")


def next_entry(head: tuple[int, bytes] | None, recorded_at: datetime, kind: str, body: dict[str, Any]) -> JournalEntry:
    return (JournalHead(*head) if head is not None else JournalHead()).append(recorded_at, kind, body)


def verify_chain(entries: Iterable[JournalEntry]) -> Break | None:
    return first_break(JournalHead.chain, (e.link() for e in entries))
