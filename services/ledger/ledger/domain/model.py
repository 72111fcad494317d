"""Accounts (A6R-41) and the roles that act on them.

Plain frozen dataclasses: records are immutable (A6R-55), so a change is a new value. An account
checks its invariants on construction and raises ValueError.
"""

import re
from dataclasses import dataclass
from enum import StrEnum

_ISO3 = re.compile(r"[A-Z]{3}")


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


class SectionStatus(StrEnum):
    """A suspended Party-specific section takes no new accounts, and only registry administrators
    initiate unit transactions involving its accounts (issue 7)."""

    ACTIVE = "active"
    SUSPENDED = "suspended"


def require_text(value: object, field: str) -> None:
    """Text the registry keeps as given: non-empty, without surrounding spaces (commands check it too)."""
    if not isinstance(value, str) or not value or value != value.strip():
        raise ValueError(f"{field} must be non-empty text without surrounding spaces, got {value!r}")


def require_section_fits(type: AccountType, party: str | None) -> None:
    # A6R-54: the proxy account is common to the whole registry, not a Party's.
    if type is AccountType.PROXY and party is not None:
        raise ValueError("a proxy account belongs to no Party-specific section")


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
        require_text(self.number, "number")
        require_text(self.holder, "holder")
        if self.party is not None:
            _require_iso3(self.party, "party")
        if self.cooperative_approach is not None:
            require_text(self.cooperative_approach, "cooperative_approach")
        require_section_fits(self.type, self.party)
