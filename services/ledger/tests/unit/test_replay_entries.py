"""An entry that holds no proposal the ledger could have recorded (a journal or topic written by
someone else, chained consistently) is named by `verify` and `replay`, not a crash (A6R-48)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from ledger.domain.journal import JournalHead
from ledger.service_layer.replay import UnreadableEntry, proposal_of

TRANSFER = {
    "kind": "transfer_units",
    "source": "GHA-100001",
    "destination": "CHE-100002",
    "units": {"selection": {"quantity": 5}},
}
TX = str(uuid.uuid4())
IDENTITY = {"subject": "admin", "grants": [{"role": "registry_administrator"}]}


def entry(body: dict[str, Any]) -> Any:
    return JournalHead(6).append(datetime(2026, 5, 1, tzinfo=UTC), "transfer_units", body)


def test_a6r48_an_entry_the_writer_makes_reads_back_as_its_proposal() -> None:
    tx = uuid.uuid4()
    proposal = proposal_of(entry(recorded(transaction_id=str(tx))))
    assert proposal.transaction_id == tx and proposal.command.kind == "transfer_units"


def recorded(**changes: Any) -> dict[str, Any]:
    """A recorded transfer's body with `changes` (a field set to DROP is left out)."""
    body = {
        "transaction_id": TX,
        "command": TRANSFER,
        "identity": IDENTITY,
        "outcome": "recorded",
        "result": {},
        "rules_applied": [],
    }
    return {k: v for k, v in {**body, **changes}.items() if v is not DROP}


DROP = object()


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (recorded(transaction_id=DROP), "transaction_id: Field required"),
        (recorded(transaction_id="not a uuid"), "transaction_id"),
        (recorded(command={"kind": "mint_units"}), "'mint_units'"),
        (recorded(command=[]), "command"),
        (recorded(identity="root"), "identity"),
        (recorded(identity={"subject": "a", "grants": [{"x": 1}]}), "identity.grants.0.role: Field required"),
        (recorded(identity={"subject": "a", "grants": [{"role": "r", "x": 1}]}), "grants.0.x: Unexpected"),
        (recorded(outcome=DROP), "outcome: Field required"),
        (recorded(rules_applied=DROP), "rules_applied: Field required"),
        (recorded(rules_applied=[7]), "rules_applied.0"),
        (recorded(request_hash="zz"), "request_hash"),
        (recorded(refused_at="proposal"), "without its error"),
    ],
)
def test_a6r48_an_entry_without_a_proposal_the_ledger_records_is_named_at_its_sequence(
    body: dict[str, Any], named: str
) -> None:
    with pytest.raises(UnreadableEntry) as unreadable:
        proposal_of(entry(body))
    assert unreadable.value.sequence == 7
    assert unreadable.value.problem.startswith("the entry holds")
    assert named in unreadable.value.problem, unreadable.value.problem


def test_a6r48_a_refusal_at_proposal_replays_with_the_rules_it_names_as_applied() -> None:
    """The rules a proposal passed before it was refused at proposal are in its entry, and replay
    records them again as they stand (the reservations it was refused against are not in the journal)."""
    error = {"code": "units_reserved", "message": "held", "rule": None}
    rules = ["builtin.authorization@1", "builtin.account_type.send@1"]
    body = recorded(outcome="rejected", result={"error": error}, refused_at="proposal", rules_applied=rules)
    assert proposal_of(entry(body)).refused_at_proposal == {"error": error, "rules_applied": rules}
