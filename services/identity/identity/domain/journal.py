"""Identity's own log (A6R-48, A6R-49): one hash chain over every identity operation.

Each entry's hash links it to the one before (registry_contracts.chain), so that an altered,
removed or reordered entry breaks every later hash. Entries name users by id and never carry
personal data or secrets: the profile history (which anonymisation may tombstone) holds the
personal data, and entries reference its versions, so anonymising a profile leaves every log
entry, and so the chain, intact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from registry_contracts.chain import Chain, Link

# The entry nests beside the previous hash here, unlike the ledger's and rules' flat journals.
CHAIN = Chain("a6r-identity-log", previous_key="previous", content_key="entry")


@dataclass(frozen=True)
class Entry:
    sequence: int
    at: datetime
    kind: str
    actor: str
    on_behalf_of: str | None
    subject: str | None
    data: dict[str, Any]

    def body(self) -> dict[str, Any]:
        return {
            "sequence": self.sequence,
            "at": self.at.astimezone(UTC).isoformat(timespec="microseconds"),
            "kind": self.kind,
            "actor": self.actor,
            "on_behalf_of": self.on_behalf_of,
            "subject": self.subject,
            "data": self.data,
        }

    def link(self, stored_hash: bytes) -> Link:
        return Link(self.sequence, self.body(), stored_hash)
