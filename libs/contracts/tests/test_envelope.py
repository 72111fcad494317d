"""The event envelope: events carrying the journal and transactions must be exact and unambiguous (A6R-48)."""

import json
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from registry_contracts.envelope import EventEnvelope, MalformedEvent
from registry_contracts.ids import new_event_id

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def envelope(**overrides: Any) -> EventEnvelope:
    fields: dict[str, Any] = {
        "type": "ledger.AccountStatusChanged",
        "schema_version": 1,
        "occurred_at": datetime(2024, 5, 1, 8, 30, 15, 250000, tzinfo=UTC),
        "producer": "ledger",
        "correlation_id": uuid.uuid4(),
        "causation_id": new_event_id(),
        "traceparent": TRACEPARENT,
        "tracestate": "vendor=abc",
        "key": "CHE-100-1",
        "payload": {"account_number": "CHE-100-1", "quantity": 5, "nested": {"b": [1, None], "a": "é"}},
    }
    return EventEnvelope(**{**fields, **overrides})


def test_a6r48_event_id_is_a_fresh_uuidv7() -> None:
    first, second = new_event_id(), new_event_id()
    assert first.version == 7 and first != second
    assert envelope().event_id.version == 7


def test_a6r48_event_ids_sort_in_creation_order_and_keep_to_the_clock() -> None:
    """Thousands of ids within a few milliseconds: each greater than the one before, all
    distinct, RFC 9562 version and variant, and their timestamps no further ahead of the clock
    than 4,096 ids per millisecond can push them."""
    ids = [new_event_id() for _ in range(20_000)]
    after_ms = time.time_ns() // 1_000_000
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert ids[-1].int >> 80 <= after_ms + len(ids) // 4096


def test_a6r48_envelope_roundtrip_through_bytes() -> None:
    original = envelope()
    data = original.to_bytes()
    assert EventEnvelope.from_bytes(data) == original
    assert EventEnvelope.from_bytes(data).to_bytes() == data


def test_a6r48_wire_form_is_canonical_json() -> None:
    data = envelope().to_bytes()
    decoded = json.loads(data)
    assert list(decoded) == sorted(decoded)
    assert b" " not in data
    assert decoded["occurred_at"] == "2024-05-01T08:30:15.250000Z"


def test_a6r48_offsets_are_normalised_to_utc() -> None:
    local = datetime(2024, 5, 1, 10, 30, tzinfo=timezone(timedelta(hours=2)))
    assert envelope(occurred_at=local).occurred_at == datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
    assert envelope(occurred_at=local).occurred_at.utcoffset() == timedelta(0)


def test_a6r48_naive_datetime_is_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        envelope(occurred_at=datetime(2024, 5, 1, 8, 30))
    data = json.loads(envelope().to_bytes())
    data["occurred_at"] = "2024-05-01T08:30:15"
    with pytest.raises(MalformedEvent, match="occurred_at"):
        EventEnvelope.from_bytes(json.dumps(data).encode())


def test_a6r48_extra_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        envelope(priority="high")
    data = json.loads(envelope().to_bytes()) | {"priority": "high"}
    with pytest.raises(MalformedEvent, match="priority"):
        EventEnvelope.from_bytes(json.dumps(data).encode())


@pytest.mark.parametrize("data", [b"", b"{", b"\xff\xfe", b"[]", b"null", b'{"type": "ledger.X"}'])
def test_a6r48_bad_json_raises_malformed_event(data: bytes) -> None:
    with pytest.raises(MalformedEvent) as caught:
        EventEnvelope.from_bytes(data)
    assert caught.value.reason.startswith("invalid event envelope: ")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("schema_version", "1"),
        ("schema_version", 0),
        ("event_id", str(uuid.uuid4())),
        ("type", "TransferRecorded"),
        ("producer", "Ledger Service"),
        ("traceparent", "not-a-traceparent"),
        ("key", ""),
    ],
)
def test_a6r48_invalid_fields_name_the_field(field: str, value: Any) -> None:
    data = json.loads(envelope().to_bytes()) | {field: value}
    with pytest.raises(MalformedEvent, match=field):
        EventEnvelope.from_bytes(json.dumps(data).encode())


def test_a6r48_envelope_is_immutable() -> None:
    with pytest.raises(ValidationError, match="frozen"):
        envelope().key = "other"
