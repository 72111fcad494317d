"""Building envelopes for events a service emits, with the current trace context attached."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from registry_contracts.envelope import EventEnvelope
from registry_contracts.events import validate_payload
from registry_platform.telemetry import current_trace_headers


def new_envelope(
    *,
    type: str,
    payload: dict[str, Any],
    key: str,
    producer: str,
    schema_version: int = 1,
    correlation_id: uuid.UUID | None = None,
    causation: EventEnvelope | None = None,
) -> EventEnvelope:
    # Refuse to emit what a consumer would have to park: the payload must match its schema now.
    validate_payload(type, schema_version, payload)
    trace_headers = current_trace_headers()
    envelope_kwargs: dict[str, Any] = {
        "type": type,
        "schema_version": schema_version,
        "occurred_at": datetime.now(UTC),
        "producer": producer,
        "key": key,
        "payload": payload,
        "traceparent": trace_headers.get("traceparent"),
        "tracestate": trace_headers.get("tracestate"),
    }
    if causation is not None:
        envelope_kwargs["correlation_id"] = causation.correlation_id
        envelope_kwargs["causation_id"] = causation.event_id
    else:
        envelope_kwargs["correlation_id"] = correlation_id or uuid.uuid4()
        envelope_kwargs["causation_id"] = None
    return EventEnvelope(**envelope_kwargs)
