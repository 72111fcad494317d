"""The ledger's side of the proposal-verdict saga with the rules service (issue 5, A6R-38, A6R-47).

A unit transaction is first *proposed*: the writer runs it inside a savepoint to learn exactly which
serials it would issue or move, rolls it back, stores the resolved command and publishes
`rules.ProposalSubmitted`. The rules service answers with `rules.VerdictGiven`. The writer then
*decides*: a denial is recorded as a rejection naming the rules; an acceptance runs the resolved
command and the verdict's supplementary operations in one transaction, so both or neither are
recorded. The journal entry keeps the verdict, and with it the rule versions applied (A6R-39), so a
replay applies the same supplementary operations without asking the rules service again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter

from ledger.domain.errors import DomainError
from ledger.domain.model import Account
from ledger.service_layer import commands as c
from ledger.service_layer.configuration import Conflict
from ledger.service_layer.context import Proposal, ScopeKey, TxContext
from registry_contracts.timestamps import iso_utc

SAGA_KINDS = frozenset(
    {"issue_units", "transfer_units", "corrective_transfer", "external_transfer_out", "external_transfer_in"}
)
# Commands that only move existing units: a proposal of one can be worked out without writing.
MOVING_KINDS = frozenset({"transfer_units", "corrective_transfer", "external_transfer_out"})
COMMAND: TypeAdapter[Any] = TypeAdapter(c.AnyCommand)
PROPOSALS_TOPIC = "ledger.proposals"
VERDICTS_TOPIC = "rules.verdicts"
_KIND = {
    "issue_units": "issuance",
    "transfer_units": "transfer",
    "corrective_transfer": "correction",
    "external_transfer_out": "external_transfer_out",
    "external_transfer_in": "external_transfer_in",
}


@dataclass(frozen=True)
class ProposalRow:
    """A proposal awaiting its verdict, as the `proposals` table keeps it."""

    id: uuid.UUID
    request_hash: bytes
    command: dict[str, Any]
    requested: dict[str, Any] | None
    identity: dict[str, Any]
    proposed_at: datetime
    deadline: datetime
    reserved: dict[str, Any]
    proposal_digest: str | None


def proposal_fields(row: Any) -> dict[str, Any]:
    """What the writer's seal over a proposal awaiting its verdict covers (ledger.domain.journal),
    from a ProposalRow or the row as the database keeps it: a ledger restarted meanwhile decides it
    from that row."""
    return {
        "id": str(row.id),
        "request_hash": bytes(row.request_hash).hex(),
        "command": row.command,
        "requested": row.requested,
        "identity": row.identity,
        "proposed_at": iso_utc(row.proposed_at),
        "deadline": iso_utc(row.deadline),
        "reserved": row.reserved,
        "proposal_digest": row.proposal_digest,
    }


def resolved(command: Any, result: dict[str, Any]) -> Any:
    """The command with every choice the registry made spelled out: explicit ranges for an implicit
    selection, the first serial of an issuance. Executing it later moves exactly these units."""
    if isinstance(command, c.IssueUnits):
        return command.model_copy(update={"first_serial": result["blocks"][0]["first"]})
    units = getattr(command, "units", None)
    if units is not None and units.selection is not None:
        require_nameable(len(result["blocks"]))
        ranges = [
            c.SerialRangeRef(scope=c.SerialScope(**b["scope"]), first=b["first"], last=b["last"])
            for b in result["blocks"]
        ]
        return command.model_copy(update={"units": c.Units(ranges=ranges)})
    return command


def require_nameable(blocks: int) -> None:
    """A selection the resolved command can name: at most MAX_RANGES ranges, one per block taken."""
    if blocks > c.MAX_RANGES:
        raise DomainError(
            f"this transfer would move {blocks:,} blocks, more than {c.MAX_RANGES:,}; "
            "transfer fewer units or name serial ranges",
            code="too_many_blocks",
        )


def _account(account: Account | None) -> dict[str, Any] | None:
    if account is None:
        return None
    return {
        "number": account.number,
        "type": str(account.type),
        "status": str(account.status),
        "section": account.party,
        "cooperative_approach": account.cooperative_approach,
        "holder": account.holder,
    }


def proposal_payload(ctx: TxContext, result: dict[str, Any], metadata: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """The `rules.ProposalSubmitted` payload: everything a rule may look at (issue 5, item 4)."""
    proposal, command = ctx.proposal, ctx.proposal.command
    source = result.get("source")
    destination = result.get("destination") or result.get("account")
    units = []
    for block in result["blocks"]:
        meta = metadata.get(block["block_id"], {})
        units.append(
            {
                "scope": block["scope"],
                "first": block["first"],
                "last": block["last"],
                "cooperative_approach": meta.get("cooperative_approach"),
                "first_transferring_party": meta.get("first_transferring_party"),
                "sectors": meta.get("sectors", []),
                "activity_types": meta.get("activity_types", []),
            }
        )
    external = None
    if isinstance(command, c.ExternalTransferOut):
        external = {"registry": command.destination_registry, "account": command.destination_account}
    elif isinstance(command, c.ExternalTransferIn):
        external = {"registry": command.origin_registry, "account": command.origin_account}
    return {
        "transaction_id": str(proposal.transaction_id),
        "kind": _KIND[command.kind],
        "command": command.kind,
        "quantity": sum(b["quantity"] for b in result["blocks"]),
        "units": units,
        "source": _account(ctx.account(source)) if source and command.kind != "issue_units" else None,
        "destination": _account(ctx.account(destination)) if destination else None,
        "initiator": proposal.principal.initiator,
        "on_behalf_of": proposal.principal.on_behalf_of,
        "initiator_grants": [{k: v for k, v in g.claim().items() if k != "id"} for g in proposal.principal.grants],
        "corrects": getattr(command, "corrects", None),
        "external": external,
        "descriptors": [],
        "proposed_at": proposal.proposed_at.isoformat(),
    }


def denial(verdict: dict[str, Any]) -> tuple[str, str, str]:
    """The rule references, code and message a denied proposal is rejected with: the first denial's
    code (e.g. quantity_above_cap), every denying rule version, every message."""
    denials = verdict.get("denials") or [{"rule": "rules", "version": 1, "code": "denied_by_rule", "message": "denied"}]
    refs = ", ".join(f"{d['rule']}@v{d['version']}" for d in denials)
    return refs, denials[0]["code"], "; ".join(d["message"] for d in denials)


def take_highest(moved: list[dict[str, Any]], quantity: int) -> tuple[list[c.SerialRangeRef], list[dict[str, Any]]]:
    """`quantity` units out of the ranges the main operation moved, highest serials first, as the
    verdict's supplementary operations specify (`units: moved_units`); and what remains for the
    next operation. Returns None-free ranges or raises when the transaction moved too few."""
    taken: list[c.SerialRangeRef] = []
    remaining: list[dict[str, Any]] = []
    for block in sorted(moved, key=lambda b: (b["last"], b["first"]), reverse=True):
        n = min(quantity, block["last"] - block["first"] + 1)
        if n:
            scope = c.SerialScope(**block["scope"])
            taken.append(c.SerialRangeRef(scope=scope, first=block["last"] - n + 1, last=block["last"]))
            quantity -= n
        if block["last"] - n >= block["first"]:
            remaining.append({**block, "last": block["last"] - n})
    if quantity:
        raise ValueError("the supplementary operations take more units than the transaction moved")
    return taken, remaining


def is_pending_kind(proposal: Proposal) -> bool:
    return proposal.verdict is None and proposal.command.kind in SAGA_KINDS


def rule_refs(verdict: dict[str, Any]) -> list[str]:
    """The rule versions a verdict applied, as the journal names rules (A6R-39)."""
    return [f"{r['rule']}@v{r['version']}" for r in verdict.get("rules", [])]


def broken_refs(verdict: dict[str, Any]) -> list[str]:
    return [f"{d['rule']}@v{d['version']}" for d in verdict.get("broken_rules", [])]


def _ledger_denial(rule: str, code: str, message: str, proposed_at: datetime) -> dict[str, Any]:
    """A denial the ledger gives itself, shaped as the rules service's verdicts are, naming when the
    proposal was made as they do (A6R-48 a)."""
    return {
        "outcome": "deny",
        "rules": [],
        "denials": [{"rule": rule, "version": 1, "code": code, "message": message}],
        "broken_rules": [],
        "supplementary_operations": [],
        "proposed_at": proposed_at.isoformat(),
    }


def deadline_verdict(seconds: float, proposed_at: datetime, late: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ledger's own denial of a proposal the rules service did not answer in time, with the
    verdict that came after the deadline if one did: the journal keeps all it received (A6R-48 f)."""
    if late is None:
        message = f"the rules service gave no verdict within {seconds:g} s; propose it again under a new transaction id"
    else:
        message = (
            f"the rules service's verdict came after the {seconds:g} s the ledger waits for one, and is "
            "kept here unapplied; propose it again under a new transaction id"
        )
    verdict = _ledger_denial("ledger.saga.deadline", "no_verdict", message, proposed_at)
    return verdict if late is None else {**verdict, "late_verdict": late}


def unvouched_verdict(proposed_at: datetime) -> dict[str, Any]:
    """The ledger's own denial of a proposal whose row its writer does not vouch for: kept by a
    build before the seals, or sealed with a retired journal key (whose seed may have leaked). The
    journal says so, not that no verdict came."""
    message = (
        "the ledger's record of this proposal carries no seal of its current journal key (kept by an "
        "earlier build, or sealed with a retired key), so it is only ever denied; propose it again under "
        "a new transaction id"
    )
    return _ledger_denial("ledger.saga.unvouched", "proposal_not_vouched", message, proposed_at)


# At most this many ranges are named in a refusal: the rest are counted.
NAMED_RANGES = 10


def units_reserved(clashes: dict[uuid.UUID, list[tuple[str, int, int]]]) -> Conflict:
    """The refusal of a proposal naming serials (scope, first, last) that others awaiting their
    verdict hold. The journal keeps which and by whom (A6R-47); the transaction id is spent, so a
    retry needs a new one."""
    named = [(t, scope, first, last) for t, held in clashes.items() for scope, first, last in held]
    held = "; ".join(f"{first}-{last} of {scope} by {t}" for t, scope, first, last in named[:NAMED_RANGES])
    more = f" and {len(named) - NAMED_RANGES} more ranges" if len(named) > NAMED_RANGES else ""
    message = (
        f"serials are held by transactions awaiting the rules service's verdict (serials {held}{more}); "
        "when they are decided, propose again under a new transaction id"
    )
    return Conflict(message, code="units_reserved")


Range = tuple[int, int, int]  # scope id, first serial, last serial
Generated = tuple[ScopeKey, int, int]  # scope key (the scope may be new), first serial, last serial
Held = tuple[int | ScopeKey, int, int]  # a scope's id (serials moved) or key (generated), first, last


def _overlap(a: Range, b: Range) -> bool:
    return a[0] == b[0] and a[1] <= b[2] and b[1] <= a[2]


@dataclass
class Reservations:
    """What proposals awaiting their verdict were promised: the serials their decision will move,
    and the serials it will generate (an issuance; units new to this registry arriving from
    another). Other proposals select around those serials (implicit), are refused them (explicit
    ranges; the same serials generated twice), and issue past them, so concurrent proposals do not
    all pick the same units and then fail at their decision. Only the single writer holds this; it
    is rebuilt from the pending proposals whenever the writer (re)loads."""

    moved: dict[uuid.UUID, tuple[Range, ...]] = field(default_factory=dict)
    issued: dict[uuid.UUID, tuple[Generated, ...]] = field(default_factory=dict)

    def others(self, tx: uuid.UUID | None) -> tuple[Range, ...]:
        """The serials reserved by proposals other than `tx` (None: by every proposal)."""
        return tuple(r for t, ranges in self.moved.items() if t != tx for r in ranges)

    def serial_floor(self) -> dict[ScopeKey, int]:
        floor: dict[ScopeKey, int] = {}
        for ranges in self.issued.values():
            for key, _, last in ranges:
                floor[key] = max(floor.get(key, 1), last + 1)
        return floor

    def clashes(
        self, tx: uuid.UUID, moved: tuple[Range, ...], issued: tuple[Generated, ...]
    ) -> dict[uuid.UUID, list[Held]]:
        """The other proposals holding serials that `tx` would move or generate, and which serials
        of which scope (its id for serials moved, its key for serials generated), each once."""
        found: dict[uuid.UUID, dict[Held, None]] = {}
        for t, ranges in self.moved.items():
            for a in moved:
                found.setdefault(t, {}).update(
                    ((a[0], max(a[1], b[1]), min(a[2], b[2])), None) for b in ranges if t != tx and _overlap(a, b)
                )
        for t, generated in self.issued.items():
            for key, first, last in issued:
                found.setdefault(t, {}).update(
                    ((key, max(first, lo), min(last, hi)), None)
                    for other, lo, hi in generated
                    if t != tx and key == other and first <= hi and lo <= last
                )
        return {t: list(held) for t, held in sorted(found.items()) if held}

    def hold(self, tx: uuid.UUID, moved: tuple[Range, ...], issued: tuple[Generated, ...]) -> None:
        self.moved[tx] = moved
        if issued:
            self.issued[tx] = issued

    def copy(self) -> Reservations:
        return Reservations(dict(self.moved), dict(self.issued))

    def release(self, tx: uuid.UUID) -> None:
        self.moved.pop(tx, None)
        self.issued.pop(tx, None)

    @staticmethod
    def as_json(moved: tuple[Range, ...], issued: tuple[Generated, ...]) -> dict[str, Any]:
        # Under a key of their own: a build rolled back to reads "issued" as one range or none.
        return {"moved": [list(r) for r in moved], "generated": [[list(k), first, last] for k, first, last in issued]}

    def load(self, rows: list[tuple[uuid.UUID, dict[str, Any]]]) -> None:
        self.moved.clear()
        self.issued.clear()
        for tx, reserved in rows:
            moved = tuple((int(s), int(f), int(l_)) for s, f, l_ in reserved.get("moved", ()))
            generated = reserved.get("generated")
            if generated is None:  # kept by an earlier build: an issuance's one range, or none
                generated = [] if reserved.get("issued") is None else [reserved["issued"]]
            self.hold(tx, moved, tuple(_generated(*r) for r in generated))


def _generated(key: list[Any], first: Any, last: Any) -> Generated:
    registry, party, activity, vintage, metric = key
    return (registry, party, activity, int(vintage), metric), int(first), int(last)
