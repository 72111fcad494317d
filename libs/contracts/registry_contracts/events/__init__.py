"""Event payload models and their registry. Importing this package registers every event type."""

from registry_contracts.events import descriptors, identity, ledger, platform, rules
from registry_contracts.events.registry import (
    EVENT_TYPES,
    EventPayload,
    UnknownEventType,
    event_type,
    payload_model,
    validate_payload,
)

__all__ = [
    "EVENT_TYPES",
    "EventPayload",
    "UnknownEventType",
    "descriptors",
    "event_type",
    "identity",
    "ledger",
    "payload_model",
    "platform",
    "rules",
    "validate_payload",
]
