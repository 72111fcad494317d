"""Descriptor records (A6R-45) as the domain sees them: immutable values, no I/O.

A descriptor covers serial ranges of one or more scopes. An authorization covers either specific
units (ranges) or a set of conditions; a first-transfer marker always covers specific units. Every
descriptor has a creation instant and an applicability instant (domain.applicability), and may
supersede one earlier descriptor: a descriptor is never recalled, only replaced (A6R-55).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

SCOPE_FIELDS = ("originating_registry", "issuing_party", "activity_id", "vintage", "metric")


class Kind(StrEnum):
    AUTHORIZATION = "authorization"
    FIRST_TRANSFER = "first_transfer"


class Dedication(StrEnum):
    """What an authorization allows the units to be used for (A6R-45)."""

    NDC = "ndc"
    OIMP = "oimp"
    BOTH = "ndc_oimp"

    @property
    def includes_oimp(self) -> bool:
        return self is not Dedication.NDC


class OimpTrigger(StrEnum):
    """For OIMP, the event the authorizing Party chose as the first transfer."""

    AUTHORIZATION = "authorization"
    ISSUANCE = "issuance"
    USE_OR_CANCELLATION = "use_or_cancellation"


class Basis(StrEnum):
    """Why a first-transfer marker was created."""

    INTERNATIONAL_TRANSFER = "international_transfer"
    EXTERNAL_TRANSFER = "external_transfer"
    OIMP_AUTHORIZATION = "oimp_authorization"
    OIMP_ISSUANCE = "oimp_issuance"
    OIMP_USE_OR_CANCELLATION = "oimp_use_or_cancellation"
    REISSUE = "reissue"


@dataclass(frozen=True, order=True)
class Scope:
    """What identifies a serial range (A6R-40)."""

    originating_registry: str
    issuing_party: str
    activity_id: str
    vintage: int
    metric: str

    def as_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in SCOPE_FIELDS}

    @classmethod
    def of(cls, data: Any) -> Scope:
        """From a mapping (an event's scope) or an object with the fields (a SerialScope, a row)."""
        values = {f: (data[f] if isinstance(data, Mapping) else getattr(data, f)) for f in SCOPE_FIELDS}
        return cls(str(values["originating_registry"]), str(values["issuing_party"]), str(values["activity_id"]),
                   int(values["vintage"]), str(values["metric"]))  # fmt: skip


@dataclass(frozen=True, order=True)
class UnitRange:
    scope: Scope
    first: int
    last: int

    def __post_init__(self) -> None:
        if not 1 <= self.first <= self.last:
            raise ValueError(f"a serial range runs from first to last >= first >= 1, got {self.first}..{self.last}")

    @property
    def quantity(self) -> int:
        return self.last - self.first + 1

    def view(self) -> dict[str, Any]:
        return {"scope": self.scope.as_dict(), "first": self.first, "last": self.last}


def merge(ranges: list[UnitRange]) -> list[UnitRange]:
    """The same serials as few ranges as possible: touching ranges of a scope joined, in order."""
    out: list[UnitRange] = []
    for r in sorted(ranges):
        if out and out[-1].scope == r.scope and out[-1].last + 1 >= r.first:
            out[-1] = UnitRange(r.scope, out[-1].first, max(out[-1].last, r.last))
        else:
            out.append(r)
    return out


@dataclass(frozen=True)
class Conditions:
    """The units an authorization covers without naming them: those of the authorizing Party that
    meet every condition given (A6R-45)."""

    cooperative_approach: str | None = None
    activity_id: str | None = None
    vintage_from: int | None = None
    vintage_to: int | None = None
    metric: str | None = None
    quantity_cap: int | None = None

    def matches(self, party: str, scope: Scope, approach: str | None) -> bool:
        """Whether units of `scope`, issued under `approach` (None: not known), meet the conditions."""
        return (
            scope.issuing_party == party
            and (self.activity_id is None or scope.activity_id == self.activity_id)
            and (self.metric is None or scope.metric == self.metric)
            and (self.vintage_from is None or scope.vintage >= self.vintage_from)
            and (self.vintage_to is None or scope.vintage <= self.vintage_to)
            and (self.cooperative_approach is None or approach == self.cooperative_approach)
        )


@dataclass(frozen=True)
class Descriptor:
    """What in-force selection needs to know of one descriptor."""

    id: str
    kind: Kind
    issuing_party: str
    created_at: datetime
    applicable_from: datetime
    supersedes: str | None = None
    dedication: Dedication | None = None
    oimp_trigger: OimpTrigger | None = None
    transferred_at: datetime | None = None
    transaction_id: str | None = None
    basis: Basis | None = None
    # When a peer's descriptor was stored here (None: this registry's own).
    received_at: datetime | None = None

    def order_key(self) -> tuple[datetime, datetime, str]:
        """Among overlapping authorizations the latest applicable wins; among markers the latest
        created ('the latest first transfer marker by date is applicable', A6R-55)."""
        if self.kind is Kind.AUTHORIZATION:
            return (self.applicable_from, self.created_at, self.id)
        return (self.created_at, self.applicable_from, self.id)


@dataclass(frozen=True)
class Covering:
    """Descriptor `descriptor` covers serials first..last (of the scope being looked at)."""

    descriptor: Descriptor
    first: int
    last: int


@dataclass(frozen=True)
class Supersession:
    """Descriptor `superseder`, applicable from `applicable_from`, replaces descriptor `superseded`."""

    superseder: str
    superseded: str
    applicable_from: datetime
    created_at: datetime
