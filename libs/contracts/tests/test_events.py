"""The registry of event types and payload validation (A6R-48: the journal and transactions as events)."""

from datetime import UTC, datetime
from typing import Any

import pytest

from registry_contracts.envelope import MalformedEvent
from registry_contracts.events import (
    EVENT_TYPES,
    UnknownEventType,
    event_type,
    payload_model,
    validate_payload,
)
from registry_contracts.events.ledger import JournalEntryAppended, TransactionRecorded
from registry_contracts.events.platform import ServiceStarted

JOURNAL_ENTRY: dict[str, Any] = {
    "sequence": 7,
    "entry_hash": "ab" * 32,
    "previous_hash": "cd" * 32,
    "kind": "transaction",
    "recorded_at": "2024-05-01T08:30:15Z",
    "body": {"transaction_id": "T-1"},
}


def test_a6r48_required_event_types_are_registered() -> None:
    assert {
        ("platform.ServiceStarted", 1),
        ("platform.ServiceHeartbeat", 1),
        ("ledger.JournalEntryAppended", 1),
        ("ledger.TransactionRecorded", 1),
        ("ledger.TransactionRejected", 1),
        ("ledger.AccountStatusChanged", 1),
    } <= set(EVENT_TYPES)
    assert payload_model("ledger.TransactionRecorded", 1) is TransactionRecorded


def test_a6r48_valid_payload_returns_the_model() -> None:
    entry = validate_payload("ledger.JournalEntryAppended", 1, JOURNAL_ENTRY)
    assert isinstance(entry, JournalEntryAppended)
    assert entry.recorded_at == datetime(2024, 5, 1, 8, 30, 15, tzinfo=UTC)


def test_a6r48_in_process_values_validate_like_wire_values() -> None:
    """A producer may pass datetimes; they are checked as they will travel."""
    started = validate_payload(
        "platform.ServiceStarted",
        1,
        {"service": "ledger", "instance_id": "i-1", "version": "0.1.0", "started_at": datetime.now(UTC)},
    )
    assert isinstance(started, ServiceStarted)


def test_a6r48_unknown_type_and_version_are_distinguished() -> None:
    with pytest.raises(UnknownEventType, match="no version of this type"):
        validate_payload("ledger.Nonexistent", 1, {})
    with pytest.raises(UnknownEventType, match=r"known versions: \[1\]"):
        validate_payload("ledger.JournalEntryAppended", 2, JOURNAL_ENTRY)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"sequence": "7"}, "sequence"),
        ({"sequence": -1}, "sequence"),
        ({"entry_hash": "AB" * 32}, "entry_hash"),
        ({"recorded_at": "2024-05-01T08:30:15"}, "recorded_at"),
        ({"unexpected": 1}, "unexpected"),
        ({"kind": ""}, "kind"),
    ],
)
def test_a6r48_malformed_payload_names_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(MalformedEvent, match=f"ledger.JournalEntryAppended v1 payload: {field}"):
        validate_payload("ledger.JournalEntryAppended", 1, JOURNAL_ENTRY | change)


def test_a6r48_missing_field_is_reported() -> None:
    payload = {k: v for k, v in JOURNAL_ENTRY.items() if k != "previous_hash"}
    with pytest.raises(MalformedEvent, match="previous_hash: Field required"):
        validate_payload("ledger.JournalEntryAppended", 1, payload)


def test_a6r48_a_type_version_cannot_be_registered_twice() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        event_type("platform.ServiceStarted", 1)(ServiceStarted)
