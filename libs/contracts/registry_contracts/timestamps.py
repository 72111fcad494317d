"""Timezone-aware UTC timestamps, the only kind the registry stores or sends."""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime


def as_utc(value: datetime) -> datetime:
    """The same instant in UTC; a naive datetime is refused because its instant is unknown."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()}: give a timezone-aware UTC datetime")
    return value.astimezone(UTC)


def iso_utc(value: datetime) -> str:
    """ISO-8601 in UTC with a 'Z' suffix, the same text Pydantic writes for a UTC datetime."""
    return as_utc(value).isoformat().removesuffix("+00:00") + "Z"


# Offsets are accepted on input and normalised, so equal instants compare and hash equal.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(as_utc)]
