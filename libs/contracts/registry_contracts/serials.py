"""Serial numbers of units (A6R-40): scopes, ranges, and the human-readable form.

Serial numbers are integers from 1 to 2**53 - 1, stored as PostgreSQL int8. JSON numbers are
exact only up to 2**53 - 1 (RFC 8785, which the journal's hashes are computed over, and every
JavaScript client), and nine quadrillion serials per scope is far beyond any registry's need.
Serials count units from 1, so a block's quantity is last - first + 1 and no unit is numbered 0.

The human-readable serial is dash-joined in A6R-40's order:
cooperative approach - originating registry - first-transferring Party - serial - vintage,
e.g. CA0001-CHE01-GHA-1000-2024. A block is shown as its first and last serial joined by
"..", e.g. CA0001-CHE01-GHA-1000-2024..CA0001-CHE01-GHA-1999-2024. Parsing accepts only
the canonical text, so parse and format are exact inverses.

Only formats are checked here; whether a Party, registry or approach exists is reference
data (registry_contracts.nomenclatures) for the caller to check.
"""

import re
from dataclasses import dataclass, replace

from registry_contracts.nomenclatures.codes import is_cooperative_approach_id, is_party_registry_id

MIN_SERIAL = 1
MAX_SERIAL = 2**53 - 1  # exact in JSON (see above)
MIN_VINTAGE, MAX_VINTAGE = 1000, 9999  # a four-digit calendar year, as the human-readable serial shows it
# The vintages the registry records units of (the ledger's commands, the web's forms): the format
# above allows more, but a mitigation outcome before 1990 or after 2100 is a typing error.
RECORDED_VINTAGES = (1990, 2100)
BLOCK_SEPARATOR = ".."

_ISO3 = re.compile(r"[A-Z]{3}")
_SERIAL_TEXT = re.compile(r"[1-9][0-9]{0,15}")  # no sign, no leading zero, at most 16 digits
_VINTAGE_TEXT = re.compile(r"[1-9][0-9]{3}")
_ACTIVITY_ID = re.compile(r"[\x21-\x7e]{1,100}")  # printable ASCII, no spaces


class MalformedSerial(ValueError):
    """A serial number, range or human-readable serial that is not valid; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _check_serial(value: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_SERIAL <= value <= MAX_SERIAL:
        raise MalformedSerial(f"{what} {value!r} must be a whole number from {MIN_SERIAL} to {MAX_SERIAL}")


def _check_vintage(value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_VINTAGE <= value <= MAX_VINTAGE:
        raise MalformedSerial(f"vintage {value!r} must be a four-digit calendar year, e.g. 2024")


def _check_registry(value: str, what: str) -> None:
    if not isinstance(value, str) or not is_party_registry_id(value):
        raise MalformedSerial(f"{what} {value!r} must be 3 capital letters and 2 digits, e.g. CHE01")


def _check_party(value: str, what: str) -> None:
    if not isinstance(value, str) or not _ISO3.fullmatch(value):
        raise MalformedSerial(f"{what} {value!r} must be an ISO 3166-1 alpha-3 code in capitals, e.g. GHA")


@dataclass(frozen=True)
class SerialScope:
    """Serials are unique within a scope; blocks of one scope never overlap."""

    originating_registry: str
    issuing_party: str
    activity_id: str
    vintage: int
    metric: str

    def __post_init__(self) -> None:
        _check_registry(self.originating_registry, "originating registry")
        _check_party(self.issuing_party, "issuing Party")
        if not isinstance(self.activity_id, str) or not _ACTIVITY_ID.fullmatch(self.activity_id):
            raise MalformedSerial(f"activity id {self.activity_id!r} must be 1-100 printable ASCII characters")
        _check_vintage(self.vintage)
        if not isinstance(self.metric, str) or not self.metric:
            raise MalformedSerial("metric must be a non-empty metric code, e.g. tCO2e")


@dataclass(frozen=True, order=True)
class SerialRange:
    """The consecutive serials first..last, both included."""

    first: int
    last: int

    def __post_init__(self) -> None:
        _check_serial(self.first, "first serial")
        _check_serial(self.last, "last serial")
        if self.first > self.last:
            raise MalformedSerial(f"first serial {self.first} is after last serial {self.last}")

    @property
    def quantity(self) -> int:
        return self.last - self.first + 1

    def contains(self, serial: int) -> bool:
        return self.first <= serial <= self.last

    def overlaps(self, other: "SerialRange") -> bool:
        return self.first <= other.last and other.first <= self.last

    def split(self, first: int, last: int) -> tuple["SerialRange", ...]:
        """Cut out first..last: the 1 to 3 pieces that partition this range, in serial order."""
        piece = SerialRange(first, last)
        if not (self.first <= piece.first and piece.last <= self.last):
            raise MalformedSerial(f"serials {first}..{last} are not all within {self.first}..{self.last}")
        before = (SerialRange(self.first, first - 1),) if first > self.first else ()
        after = (SerialRange(last + 1, self.last),) if last < self.last else ()
        return (*before, piece, *after)


@dataclass(frozen=True)
class HumanSerial:
    """The human-readable identity of one unit (A6R-40)."""

    cooperative_approach: str
    originating_registry: str
    first_transferring_party: str
    serial: int
    vintage: int

    def __post_init__(self) -> None:
        if not isinstance(self.cooperative_approach, str) or not is_cooperative_approach_id(self.cooperative_approach):
            raise MalformedSerial(
                f"cooperative approach {self.cooperative_approach!r} must be CA and 4 digits, e.g. CA0001"
            )
        _check_registry(self.originating_registry, "originating registry")
        _check_party(self.first_transferring_party, "first-transferring Party")
        _check_serial(self.serial, "serial")
        _check_vintage(self.vintage)

    def __str__(self) -> str:
        return format_serial(self)


@dataclass(frozen=True)
class HumanBlock:
    """A unit block as people see it: its first and last serial (A6R-40)."""

    cooperative_approach: str
    originating_registry: str
    first_transferring_party: str
    serials: SerialRange
    vintage: int

    @property
    def first(self) -> HumanSerial:
        return self._unit(self.serials.first)

    @property
    def last(self) -> HumanSerial:
        return self._unit(self.serials.last)

    def _unit(self, serial: int) -> HumanSerial:
        return HumanSerial(
            self.cooperative_approach,
            self.originating_registry,
            self.first_transferring_party,
            serial,
            self.vintage,
        )

    def __post_init__(self) -> None:
        if not isinstance(self.serials, SerialRange):
            raise MalformedSerial(f"serials must be a SerialRange, got {type(self.serials).__name__}")
        self._unit(self.serials.first)  # validates the fields shared by every unit of the block

    def __str__(self) -> str:
        return format_block(self)


def format_serial(unit: HumanSerial) -> str:
    return "-".join(
        (
            unit.cooperative_approach,
            unit.originating_registry,
            unit.first_transferring_party,
            str(unit.serial),
            str(unit.vintage),
        )
    )


def parse_serial(text: str) -> HumanSerial:
    """The inverse of format_serial; anything but the canonical text raises MalformedSerial."""
    if not isinstance(text, str):
        raise MalformedSerial(f"a serial is text, got {type(text).__name__}")
    fields = text.split("-")
    if len(fields) != 5:
        raise MalformedSerial(
            f"{text!r} has {len(fields)} dash-separated fields; expected 5: "
            "cooperative approach-registry-Party-serial-vintage, e.g. CA0001-CHE01-GHA-1000-2024"
        )
    approach, registry, party, serial, vintage = fields
    if not _SERIAL_TEXT.fullmatch(serial):
        raise MalformedSerial(
            f"serial {serial!r} in {text!r} must be digits without sign, spaces or leading zeros, at most {MAX_SERIAL}"
        )
    if not _VINTAGE_TEXT.fullmatch(vintage):
        raise MalformedSerial(f"vintage {vintage!r} in {text!r} must be a four-digit year, e.g. 2024")
    return HumanSerial(approach, registry, party, int(serial), int(vintage))


def format_block(block: HumanBlock) -> str:
    return f"{format_serial(block.first)}{BLOCK_SEPARATOR}{format_serial(block.last)}"


def parse_block(text: str) -> HumanBlock:
    """The inverse of format_block; anything but the canonical text raises MalformedSerial."""
    if not isinstance(text, str) or text.count(BLOCK_SEPARATOR) != 1:
        raise MalformedSerial(f"{text!r} is not a block: give its first and last serial joined by {BLOCK_SEPARATOR!r}")
    first_text, last_text = text.split(BLOCK_SEPARATOR)
    first, last = parse_serial(first_text), parse_serial(last_text)
    if replace(last, serial=first.serial) != first:
        raise MalformedSerial(
            f"{text!r}: both ends of a block must have the same approach, registry, Party and vintage"
        )
    return HumanBlock(
        first.cooperative_approach,
        first.originating_registry,
        first.first_transferring_party,
        SerialRange(first.serial, last.serial),
        first.vintage,
    )
