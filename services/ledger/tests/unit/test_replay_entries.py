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
    body = {"transaction_id": str(tx), "command": TRANSFER, "identity": IDENTITY, "outcome": "recorded", "result": {}}
    proposal = proposal_of(entry(body))
    assert proposal.transaction_id == tx and proposal.command.kind == "transfer_units"


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"command": TRANSFER, "identity": IDENTITY}, "KeyError('transaction_id')"),
        ({"transaction_id": "not a uuid", "command": TRANSFER, "identity": IDENTITY}, "badly formed hexadecimal"),
        ({"transaction_id": TX, "command": {"kind": "mint_units"}, "identity": IDENTITY}, "'mint_units'"),
        ({"transaction_id": TX, "command": TRANSFER, "identity": "root"}, "the entry holds no"),
        ({"transaction_id": TX, "command": [], "identity": IDENTITY}, "command is none the ledger records"),
    ],
)
def test_a6r48_an_entry_without_a_proposal_the_ledger_records_is_named_at_its_sequence(
    body: dict[str, Any], named: str
) -> None:
    with pytest.raises(UnreadableEntry) as unreadable:
        proposal_of(entry(body))
    assert unreadable.value.sequence == 7
    assert unreadable.value.problem.startswith(("the entry holds no", "the entry's command is none"))
    assert named in unreadable.value.problem
