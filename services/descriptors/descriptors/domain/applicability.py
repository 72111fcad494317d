"""When a descriptor starts to apply (A6R-45, A6R-53 example b).

Descriptors apply in the future so that propagation can deliver them to every registry of the
cooperative approach first. A6R-53's example: "no earlier than 00:00 UTC of the next day, but no
earlier than 12 hours after creation". Both bounds hold for every window; a window adds:

- `align_to_midnight` (default, and the reading of issue 6's acceptance test): descriptors apply
  from a 00:00 UTC boundary, the first one satisfying both bounds. Created at 23:00 UTC, the next
  midnight is only 1 h away, so the descriptor applies at 00:00 UTC two days later. A6R-45 calls
  it the "applicability date": whole days, as A6R-53 (a) reconciles registries by day.
- without alignment, a descriptor applies at the later of the two bounds exactly (23:00 -> 11:00
  UTC the next day).

A cooperative approach may configure its own window (e.g. a longer delay for slow peers).

A peer's descriptor applies here at the instant its origin gave it, but never before this registry
stored it (`applies_here_from`): one that arrives late, or back-dated, would otherwise change what
this registry already said was in force at instants past, and the decisions taken on it (A6R-21).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from registry_contracts.timestamps import as_utc

DAY = timedelta(days=1)


@dataclass(frozen=True)
class Window:
    min_delay: timedelta = timedelta(hours=12)
    next_day: bool = True
    align_to_midnight: bool = True

    def __post_init__(self) -> None:
        if self.min_delay < timedelta(0):
            raise ValueError("an applicability delay cannot be negative")


DEFAULT_WINDOW = Window()


def midnight_after(instant: datetime) -> datetime:
    """00:00 UTC of the day after `instant`'s UTC day (strictly later than `instant`)."""
    day = as_utc(instant).date() + DAY
    return datetime.combine(day, time(0), tzinfo=UTC)


def midnight_at_or_after(instant: datetime) -> datetime:
    utc = as_utc(instant)
    start = datetime.combine(utc.date(), time(0), tzinfo=UTC)
    return start if start == utc else start + DAY


def applicable_from(created_at: datetime, window: Window = DEFAULT_WINDOW) -> datetime:
    """The instant from which a descriptor created at `created_at` applies."""
    created = as_utc(created_at)
    earliest = created + window.min_delay
    if window.next_day:
        earliest = max(earliest, midnight_after(created))
    return midnight_at_or_after(earliest) if window.align_to_midnight else earliest


def applies_at(created_at: datetime, at: datetime, window: Window = DEFAULT_WINDOW) -> bool:
    return applicable_from(created_at, window) <= as_utc(at)


def applies_here_from(applicable: datetime, received_at: datetime | None) -> datetime:
    """When a descriptor applies in this registry: from its own applicability instant, and for a
    peer's (received at `received_at`) no earlier than its storage here."""
    return applicable if received_at is None else max(as_utc(applicable), as_utc(received_at))
