"""Replay (A6R-48): rebuild the registry from its journal alone, through the same handlers.

Each journal entry holds the complete command, the identity that proposed it, and the instant it
was recorded. Fed back through the writer in order into an empty database, they must produce the
same outcomes and the same hash chain, entry by entry; any difference stops the replay at that
entry. The caller then compares the state digests of the rebuilt and the live database.

One kind of entry is recorded again rather than decided again: a refusal made when the command was
proposed to the rules service (`refused_at: proposal`). It was decided against the units that other
proposals held while they awaited their verdicts, a state the journal does not keep, and a refusal
changes no holding.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from ledger.domain.journal import JournalEntry, entry_difference
from ledger.service_layer.commands import AnyCommand
from ledger.service_layer.context import Proposal, principal_from_identity
from ledger.service_layer.writer import JournalNotVouched, LedgerWriter, Outcome
from registry_contracts.envelope import validation_reason
from registry_platform.auth import Grant

_COMMAND = TypeAdapter(AnyCommand)
# The entries replay wrote, from the first sequence to the last (both included).
Replayed = Callable[[int, int], AsyncIterator[JournalEntry]]


class ReplayDiverged(Exception):
    def __init__(self, sequence: int, problem: str) -> None:
        super().__init__(f"entry {sequence}: {problem}")
        self.sequence, self.problem = sequence, problem


class UnreadableEntry(ReplayDiverged):
    """An entry that holds no proposal this ledger could have recorded: a journal (or topic)
    written by someone else, chained consistently."""


class ReplayImpossible(ReplayDiverged):
    """An entry needs reference data this build does not have: it cannot be decided again."""


@dataclass(frozen=True)
class ReplayReport:
    entries: int
    head_hash: str


class _IdentityShape(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    subject: str
    actor: str | None = None
    grants: list[dict[str, Any]] = []
    service: str | None = None


class _EntryShape(BaseModel):
    """What every entry the writer records holds, as far as replay and `verify` read it."""

    model_config = ConfigDict(extra="allow", strict=True)
    transaction_id: str = Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
    command: dict[str, Any]
    identity: _IdentityShape
    outcome: str
    result: dict[str, Any]
    rules_applied: list[str]
    verdict: dict[str, Any] | None = None
    builtin_ruleset: int = 1
    nomenclature_version: int = 1
    refused_at: Literal["proposal"] | None = None
    request_hash: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    requested: dict[str, Any] | None = None


_ENTRY = TypeAdapter(_EntryShape)
# The grants as `principal_from_identity` builds them: no field the Grant does not have.
_GRANTS = TypeAdapter(list[Grant], config=ConfigDict(extra="forbid"))


def proposal_of(entry: JournalEntry) -> Proposal:
    """The proposal an entry records, as the writer decided it. UnreadableEntry if the entry holds
    none (a journal or topic written by someone else): its shape is checked first, so anything
    raised after that is a defect of this build, not the entry's."""
    body = entry.body
    _checked(entry, "", _ENTRY, body)
    _checked(entry, "identity.grants.", _GRANTS, body["identity"].get("grants", []))
    command = _checked(entry, "", _COMMAND, body["command"])
    if body.get("refused_at") == "proposal" and "error" not in body["result"]:
        raise UnreadableEntry(entry.sequence, "the entry holds a refusal at proposal without its error")
    return Proposal(
        transaction_id=uuid.UUID(body["transaction_id"]),
        command=command,
        principal=principal_from_identity(body["identity"]),
        proposed_at=entry.recorded_at,
        # The verdict the live ledger decided with: replay applies the same rule versions and
        # supplementary operations without asking the rules service (A6R-39).
        verdict=body.get("verdict"),
        # Entries of the first built-in rule set do not name it.
        ruleset=body.get("builtin_ruleset", 1),
        # Entries before rule set 4 do not name it: they were judged against version 1, the only one then.
        nomenclature_version=body.get("nomenclature_version", 1),
        refused_at_proposal=(
            {"error": body["result"]["error"], "rules_applied": body["rules_applied"]}
            if body.get("refused_at") == "proposal"
            else None
        ),
        request_digest=bytes.fromhex(body["request_hash"]) if "request_hash" in body else None,
        requested=_checked(entry, "requested.", _COMMAND, body["requested"]) if "requested" in body else None,
    )


def _checked(entry: JournalEntry, where: str, adapter: TypeAdapter[Any], value: Any) -> Any:
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        reason = where + validation_reason(exc)
        raise UnreadableEntry(entry.sequence, f"the entry holds no proposal the ledger records: {reason}") from exc


async def replay(
    writer: LedgerWriter, entries: AsyncIterator[JournalEntry], batch: int = 200, replayed: Replayed | None = None
) -> ReplayReport:
    """Apply `entries` (in sequence order) to the empty database behind `writer`. Where the chain
    replayed differs, `replayed` reads back what was written, to name the first entry that differs."""
    try:
        await writer.load()
    except JournalNotVouched as exc:
        raise ReplayDiverged(0, f"the target database is not empty ({exc})") from exc
    if writer.head.sequence != 0:
        raise ReplayDiverged(writer.head.sequence, "the target database is not empty")
    pending: list[JournalEntry] = []
    count = 0
    async for entry in entries:
        pending.append(entry)
        if len(pending) >= batch:
            count += await _apply(writer, pending, replayed)
            pending = []
    if pending:
        count += await _apply(writer, pending, replayed)
    return ReplayReport(count, writer.head.last_hash.hex())


async def _apply(writer: LedgerWriter, entries: list[JournalEntry], replayed: Replayed | None) -> int:
    proposals = [proposal_of(e) for e in entries]
    have = writer.nomenclatures.versions
    for entry, proposal in zip(entries, proposals, strict=True):
        if proposal.nomenclature_version not in have:
            raise ReplayImpossible(
                entry.sequence,
                f"it was judged against nomenclature version {proposal.nomenclature_version}, which this build "
                f"does not have (versions here: {', '.join(map(str, have))}); set REGISTRY_NOMENCLATURE_DIR to "
                f"a directory holding registry-nomenclatures.v{proposal.nomenclature_version}.json",
            )
    outcomes = await writer.apply(proposals, stamp=False)
    diverged: ReplayDiverged | None = None
    for entry, outcome in zip(entries, outcomes, strict=True):
        if not isinstance(outcome, Outcome) or outcome.replayed:
            diverged = ReplayDiverged(entry.sequence, f"the command was not decided afresh ({outcome!r})")
        elif outcome.journal_sequence != entry.sequence:
            diverged = ReplayDiverged(entry.sequence, f"replayed as entry {outcome.journal_sequence}")
        elif outcome.outcome != entry.body["outcome"] or outcome.result != entry.body["result"]:
            diverged = ReplayDiverged(entry.sequence, f"outcome differs: {outcome.outcome} {outcome.result}")
        if diverged:
            break
    if diverged is None and writer.head.last_hash == entries[-1].entry_hash:
        return len(entries)
    # An entry before the first outcome that differs may differ in its body alone.
    last = diverged.sequence - 1 if diverged else entries[-1].sequence
    earlier = await _first_difference(entries, replayed, last) if last >= entries[0].sequence else None
    raise earlier or diverged or ReplayDiverged(entries[-1].sequence, "the replayed hash chain differs")


async def _first_difference(entries: list[JournalEntry], replayed: Replayed | None, last: int) -> ReplayDiverged | None:
    """The first entry of the batch up to `last` that replay made otherwise than the journal has
    it, and in what (read back from the rebuilt database). The batches before ended on the
    journal's hash, so nothing before this batch differs."""
    if replayed is None:
        return None
    journal = {entry.sequence: entry for entry in entries}
    async for made in replayed(entries[0].sequence, last):
        if what := entry_difference(journal[made.sequence], made):
            return ReplayDiverged(made.sequence, f"the entry replayed differs from the journal's in {what}")
    return None
