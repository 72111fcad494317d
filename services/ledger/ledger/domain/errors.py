"""Domain refusals. Each carries a machine-readable `code` that the API maps to a 4xx answer."""


class DomainError(Exception):
    """Base of every refusal raised by the ledger domain."""

    code: str = "domain_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidQuantity(DomainError, ValueError):
    """A quantity of units that is not a positive integer."""

    code = "invalid_quantity"


class MalformedRange(DomainError, ValueError):
    """A serial range that is not a pair of integers with first <= last (A6R-40)."""

    code = "malformed_range"


class OverlappingRanges(DomainError, ValueError):
    """Two serial ranges that share a serial where every unit must be counted once (A6R-40)."""

    code = "overlapping_range"


class RangeNotHeld(DomainError):
    """An explicit range that is not wholly inside the block it should be cut from (A6R-52)."""

    code = "range_not_held"


class InsufficientUnits(DomainError):
    """The eligible blocks hold fewer units than requested (A6R-52)."""

    code = "insufficient_units"

    def __init__(self, held: int, requested: int) -> None:
        super().__init__(f"eligible blocks hold {held} units, {requested} requested")
        self.held = held
        self.requested = requested


class StatusChangeRefused(DomainError):
    """An account status change that A6R-41 does not allow."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


class RuleRefused(DomainError):
    """A transaction refused by a built-in rule (A6R-37); `rule` is the versioned rule id."""

    def __init__(self, rule: str, code: str, message: str) -> None:
        super().__init__(message, code=code)
        self.rule = rule
