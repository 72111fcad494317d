"""The envelope around every event on the bus (ARCHITECTURE section 2)."""

import uuid
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from registry_contracts.canonical import canonical_json
from registry_contracts.ids import new_event_id
from registry_contracts.timestamps import UtcDatetime


class MalformedEvent(ValueError):
    """An event that can never be processed as it stands; `reason` says what is wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def validation_reason(exc: ValidationError) -> str:
    """One readable line per problem, naming the field, instead of Pydantic's multi-line dump."""
    problems = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "(whole document)"
        problems.append(f"{where}: {error['msg']}")
    return "; ".join(problems)


EventType = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*\.[A-Z][A-Za-z0-9]*$", examples=["ledger.TransferRecorded"])]
ServiceName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$", examples=["ledger", "interop-gateway"])]
# W3C Trace Context headers, carried so a trace follows the event across services.
TraceParent = Annotated[str, Field(pattern=r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")]
TraceState = Annotated[str, Field(max_length=512)]
AggregateKey = Annotated[str, Field(min_length=1, description="Aggregate id; the Kafka key, ordering its events")]


class EventEnvelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: uuid.UUID = Field(default_factory=new_event_id)
    type: EventType
    schema_version: Annotated[int, Field(ge=1)]
    occurred_at: UtcDatetime
    producer: ServiceName
    correlation_id: uuid.UUID
    causation_id: uuid.UUID | None = None
    traceparent: TraceParent | None = None
    tracestate: TraceState | None = None
    key: AggregateKey
    payload: dict[str, Any]

    @field_validator("event_id")
    @classmethod
    def _event_id_is_v7(cls, value: uuid.UUID) -> uuid.UUID:
        # v7 ids sort by time; a v4 id here means a producer bypassed new_event_id().
        if value.version != 7:
            raise ValueError(f"event_id must be a UUIDv7, got version {value.version}")
        return value

    def to_bytes(self) -> bytes:
        """Canonical JSON (RFC 8785), so equal envelopes are byte-identical on the wire. The
        payload goes as it is (canonical JSON writes its values as Pydantic would) rather than
        through a copy by `model_dump`, which cost more than the rest of the envelope."""
        return canonical_json({**self.model_dump(mode="json", exclude={"payload"}), "payload": self.payload})

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """Parse an envelope from the wire; raises MalformedEvent on bad JSON or an invalid envelope."""
        try:
            # strict: no "5" -> 5 coercions; the producer must send the declared JSON types.
            return cls.model_validate_json(data, strict=True)
        except ValidationError as exc:
            raise MalformedEvent(f"invalid event envelope: {validation_reason(exc)}") from exc
