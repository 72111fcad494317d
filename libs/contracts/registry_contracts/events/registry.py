"""Registry of event payload models, keyed by (type, schema_version)."""

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import to_json

from registry_contracts.envelope import MalformedEvent, validation_reason


class EventPayload(BaseModel):
    """Base of every payload model: immutable, and any unknown field is an error, not ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class UnknownEventType(LookupError):
    """No payload model is registered for this (type, schema_version)."""


P = TypeVar("P", bound=EventPayload)

# A new schema_version of a type is a new entry; old versions stay so old events still validate.
EVENT_TYPES: dict[tuple[str, int], type[EventPayload]] = {}


def event_type(name: str, schema_version: int) -> Callable[[type[P]], type[P]]:
    """Class decorator registering a payload model under its event type name and schema version."""

    def register(model: type[P]) -> type[P]:
        if (name, schema_version) in EVENT_TYPES:
            raise ValueError(f"event type {name} v{schema_version} is registered twice")
        EVENT_TYPES[(name, schema_version)] = model
        return model

    return register


def payload_model(type: str, schema_version: int) -> type[EventPayload]:
    try:
        return EVENT_TYPES[(type, schema_version)]
    except KeyError:
        known = sorted(v for (t, v) in EVENT_TYPES if t == type)
        hint = f"known versions: {known}" if known else "no version of this type is known"
        raise UnknownEventType(f"unknown event type {type} v{schema_version} ({hint})") from None


def validate_payload(type: str, schema_version: int, payload: Mapping[str, Any]) -> EventPayload:
    """Validate a payload as it would arrive over the wire; raises UnknownEventType or MalformedEvent."""
    model = payload_model(type, schema_version)
    try:
        # Through JSON and strict, so a producer-side check accepts exactly what consumers will.
        return model.model_validate_json(to_json(payload), strict=True)
    except ValidationError as exc:
        raise MalformedEvent(f"invalid {type} v{schema_version} payload: {validation_reason(exc)}") from exc
