"""Ledger aggregates: accounts (A6R-41) and serial-numbered unit blocks (A6R-40).

Plain frozen dataclasses: records are immutable (A6R-55), so a change is a new value. Each
checks its invariants on construction and raises ValueError (MalformedRange for serials).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum

from ledger.domain.errors import MalformedRange, RangeNotHeld

_ISO3 = re.compile(r"[A-Z]{3}")
# Serials are stored as PostgreSQL int8range [first, last + 1), so last + 1 must fit in int8.
MAX_SERIAL = 2**63 - 2


class Role(StrEnum):
    """Who initiates an action; `system` is the registry itself (e.g. an incoming transfer)."""

    REGISTRY_ADMINISTRATOR = "registry_administrator"
    SECTION_ADMINISTRATOR = "section_administrator"
    ACCOUNT_HOLDER = "account_holder"
    SYSTEM = "system"


class AccountType(StrEnum):
    """A6R-41's minimum account types; use is split by dedication (A6R-45: NDC or OIMP)."""

    ISSUANCE = "issuance"
    HOLDING = "holding"
    USE_NDC = "use_ndc"
    USE_OIMP = "use_oimp"
    CANCELLATION = "cancellation"
    ADMINISTRATIVE_CANCELLATION = "administrative_cancellation"
    ADMINISTRATIVE_HOLDING = "administrative_holding"
    PROXY = "proxy"


class AccountStatus(StrEnum):
    INITIAL = "initial"
    ACTIVE = "active"
    RESTRICTED = "restricted"
    SUSPENDED = "suspended"
    FROZEN = "frozen"
    TERMINATED = "terminated"


def _require_text(value: object, field: str) -> None:
    if not isinstance(value, str) or not value or value != value.strip():
        raise ValueError(f"{field} must be non-empty text without surrounding spaces, got {value!r}")


def _require_iso3(value: object, field: str) -> None:
    if not isinstance(value, str) or not _ISO3.fullmatch(value):
        raise ValueError(f"{field} must be an ISO 3166-1 alpha-3 code, got {value!r}")


@dataclass(frozen=True, slots=True)
class Account:
    """An account (A6R-41). `party` is the section's ISO3, None for registry service accounts."""

    number: str
    holder: str
    party: str | None
    cooperative_approach: str | None
    type: AccountType
    status: AccountStatus = AccountStatus.INITIAL

    def __post_init__(self) -> None:
        _require_text(self.number, "number")
        _require_text(self.holder, "holder")
        if self.party is not None:
            _require_iso3(self.party, "party")
        if self.cooperative_approach is not None:
            _require_text(self.cooperative_approach, "cooperative_approach")
        # A6R-54: the proxy account is common to the whole registry, not a Party's.
        if self.type is AccountType.PROXY and self.party is not None:
            raise ValueError("a proxy account belongs to no Party-specific section")


@dataclass(frozen=True, slots=True)
class SerialScope:
    """The space in which serial numbers are unique (A6R-40)."""

    originating_registry: str
    issuing_party: str
    activity_id: str
    vintage: int
    metric: str

    def __post_init__(self) -> None:
        _require_text(self.originating_registry, "originating_registry")
        _require_iso3(self.issuing_party, "issuing_party")
        _require_text(self.activity_id, "activity_id")
        _require_text(self.metric, "metric")
        if not 1000 <= self.vintage <= 9999:
            raise ValueError(f"vintage must be a four-digit year, got {self.vintage}")


@dataclass(frozen=True, slots=True)
class UnitBlock:
    """Consecutive serials first..last (inclusive) of one scope, held in one account (A6R-40).

    The metadata is what the AEF asks of every block. Units mirroring another registry carry
    that registry's id and their first/last id there; the two ranges have the same length and
    run in parallel, so a split cuts both at the same offsets.
    """

    block_id: str
    scope: SerialScope
    first: int
    last: int
    account: str
    cooperative_approach: str | None
    first_transferring_party: str
    sectors: tuple[str, ...] = ()
    activity_types: tuple[str, ...] = ()
    underlying_registry: str | None = None
    underlying_first: int | None = None
    underlying_last: int | None = None

    def __post_init__(self) -> None:
        _require_text(self.block_id, "block_id")
        _require_text(self.account, "account")
        _require_iso3(self.first_transferring_party, "first_transferring_party")
        serials = (self.first, self.last)
        if {type(s) for s in serials} != {int} or not 0 <= self.first <= self.last <= MAX_SERIAL:
            raise MalformedRange(f"block serials must be integers, 0 <= first <= last <= {MAX_SERIAL}")
        if self.underlying_first is None or self.underlying_last is None:
            if (self.underlying_registry, self.underlying_first, self.underlying_last) != (None, None, None):
                raise ValueError("underlying registry, first and last go together")
        else:
            _require_text(self.underlying_registry, "underlying_registry")
            if self.underlying_last - self.underlying_first != self.last - self.first:
                raise MalformedRange("the underlying range must have the block's length")

    @property
    def quantity(self) -> int:
        return self.last - self.first + 1

    def split(self, first: int, last: int, new_id: Callable[[], str]) -> tuple["UnitBlock", tuple["UnitBlock", ...]]:
        """Explicit splitting (A6R-52): cut first..last out; return (taken piece, remainders).

        The block is split into 2 pieces when the range shares an edge with it, else 3; a range
        equal to the whole block returns the block itself and no remainder. The range must lie
        wholly within the block (RangeNotHeld otherwise). `new_id` names each new piece, in
        serial order, so the caller decides how block ids are minted.
        """
        if first > last:
            raise MalformedRange(f"range ({first}, {last}) has first > last")
        if first < self.first or last > self.last:
            raise RangeNotHeld(f"range ({first}, {last}) is not within block {self.block_id}")
        if (first, last) == (self.first, self.last):
            return self, ()
        head = self._piece(self.first, first - 1, new_id) if first > self.first else None
        taken = self._piece(first, last, new_id)
        tail = self._piece(last + 1, self.last, new_id) if last < self.last else None
        return taken, tuple(piece for piece in (head, tail) if piece is not None)

    def _piece(self, first: int, last: int, new_id: Callable[[], str]) -> "UnitBlock":
        underlying_first = underlying_last = None
        if self.underlying_first is not None:
            underlying_first = self.underlying_first + (first - self.first)
            underlying_last = self.underlying_first + (last - self.first)
        return replace(
            self,
            block_id=new_id(),
            first=first,
            last=last,
            underlying_first=underlying_first,
            underlying_last=underlying_last,
        )
