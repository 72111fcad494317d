"""Data downloads for analysis in office applications and analytical tools (A6R-23): the rows of an
account's holdings and of transactions, the window of recording instants a download covers, and
CSV cells that a spreadsheet shows as text and never evaluates as a formula."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from web.domain import transactions as txs
from web.domain.formatting import is_day

# Excel and LibreOffice take a UTF-8 CSV for one only when it starts with the byte order mark.
BOM = "\ufeff"
# What makes a spreadsheet read a cell as a formula (OWASP's CSV injection list), with the full-width
# forms some East Asian locales fold into them.
FORMULA_STARTS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
_WHOLE_NUMBER = re.compile(r"-?[0-9]+")
MAX_NAME = 120

HOLDINGS_HEADER = (
    "account",
    "block_id",
    "originating_registry",
    "issuing_party",
    "activity_id",
    "vintage",
    "metric",
    "first_serial",
    "last_serial",
    "serials",
    "quantity",
    "cooperative_approach",
    "first_transferring_party",
    "sectors",
    "activity_types",
    "underlying_registry",
    "underlying_first",
    "underlying_last",
)
TRANSACTIONS_HEADER = (
    "transaction_id",
    "journal_sequence",
    "recorded_at",
    "kind",
    "outcome",
    "refusal_code",
    "initiator",
    "on_behalf_of",
    "source",
    "destination",
    "account",
    "quantity",
)


def safe_cell(value: Any) -> str:
    """A cell's text: numbers as they are (a quantity or serial stays a number in the sheet); any
    other text that a spreadsheet would evaluate gets a leading quote, which shows it as text."""
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    text = str(value)
    if _WHOLE_NUMBER.fullmatch(text):
        return text
    # Leading blanks too: some applications drop them before they look for a formula.
    if text[:1] in FORMULA_STARTS or text.lstrip()[:1] in FORMULA_STARTS:
        return "'" + text
    return text


def csv_lines(rows: Iterable[Sequence[Any]]) -> str:
    """Rows as CSV lines (RFC 4180: CRLF, quoted where needed), every cell made safe."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows([safe_cell(v) for v in row] for row in rows)
    return out.getvalue()


def _listed(values: Any) -> Any:
    """A list of codes (sectors, activity types) in one cell."""
    return "; ".join(str(v) for v in values) if isinstance(values, list) else values


def holding_row(account: str, block: Mapping[str, Any]) -> list[Any]:
    """One block as the ledger shows it (A6R-40's serial scope, serials and metadata)."""
    scope = block.get("scope") or {}
    underlying = block.get("underlying") or {}
    return [
        account,
        block.get("block_id"),
        *(scope.get(k) for k in txs.SCOPE_KEYS),
        block.get("first"),
        block.get("last"),
        block.get("serials"),
        block.get("quantity"),
        block.get("cooperative_approach"),
        block.get("first_transferring_party"),
        _listed(block.get("sectors")),
        _listed(block.get("activity_types")),
        underlying.get("registry"),
        underlying.get("first"),
        underlying.get("last"),
    ]


def transaction_row(tx: Mapping[str, Any]) -> list[Any]:
    """One transaction: what it moved is the result's once recorded, the request's otherwise."""
    info = txs.summary(dict(tx))
    result = tx.get("result")
    error = result.get("error") if isinstance(result, dict) else None
    return [
        tx.get("transaction_id"),
        tx.get("journal_sequence"),
        tx.get("recorded_at"),
        tx.get("kind"),
        tx.get("outcome"),
        error.get("code") if isinstance(error, dict) else None,
        tx.get("initiator"),
        tx.get("on_behalf_of"),
        info["source"],
        info["destination"],
        info["account"],
        info["quantity"],
    ]


@dataclass(frozen=True)
class Window:
    """The recording instants a transactions download covers: the ledger's filter and a name for it."""

    params: dict[str, str] = field(default_factory=dict)
    label: str = "all"


class BadWindow(ValueError):
    """A window the download cannot take; the message says what to give instead."""


def _instant(name: str, text: str) -> datetime:
    """An instant with its time zone: one without could mean any of 26 hours, so it is refused."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadWindow(f"Give '{name}' as a date and time with its zone, e.g. 2026-01-31T12:00:00Z.") from None
    if moment.tzinfo is None:
        raise BadWindow(f"Give '{name}' with its time zone, e.g. 2026-01-31T12:00:00Z.")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise BadWindow(f"'{name}' is outside the calendar once in UTC.") from None


def _day(name: str, text: str) -> date:
    if not is_day(text):
        raise BadWindow(f"Give '{name}' as year-month-day, e.g. 2026-11-27.")
    return date.fromisoformat(text)


def _compact(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def window(query: Mapping[str, str]) -> Window:
    """`from` and `to` (days, both included, UTC) or `recorded_from` and `recorded_before` (instants
    with their zone, as the ledger's GET /transactions takes them), not both kinds at once."""
    days = {k: query.get(k, "") for k in ("from", "to")}
    instants = {k: query.get(k, "") for k in ("recorded_from", "recorded_before")}
    if any(days.values()) and any(instants.values()):
        raise BadWindow("Give the window either as days (from, to) or as instants, not both.")
    if any(instants.values()):
        return _instant_window(instants)
    return _day_window(days)


def _instant_window(texts: Mapping[str, str]) -> Window:
    bounds = {k: _instant(k, v) for k, v in texts.items() if v}
    start, end = bounds.get("recorded_from"), bounds.get("recorded_before")
    if start and end and start > end:
        raise BadWindow("The window ends before it starts.")
    params = {k: v.isoformat() for k, v in bounds.items()}
    return Window(params, f"{_compact(start) if start else 'start'}-to-{_compact(end) if end else 'now'}")


def _day_window(texts: Mapping[str, str]) -> Window:
    first = _day("from", texts["from"]) if texts["from"] else None
    last = _day("to", texts["to"]) if texts["to"] else None
    if first and last and first > last:
        raise BadWindow("The first day comes after the last.")
    params = {}
    if first:
        params["recorded_from"] = f"{first.isoformat()}T00:00:00+00:00"
    if last and last < date.max:
        params["recorded_before"] = f"{(last + timedelta(days=1)).isoformat()}T00:00:00+00:00"
    if not (first or last):
        return Window()
    return Window(params, f"{first.isoformat() if first else 'start'}-to-{last.isoformat() if last else 'now'}")


def filename(*parts: str) -> str:
    """A file name made of `parts` that no browser or header can misread (only letters, digits, '.',
    '_' and '-'), short enough for every file system."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", "-".join(parts))
    return name[:MAX_NAME] + ".csv"


def holdings_name(account: str, at: datetime) -> str:
    """Named after the account and the instant the holdings are as of."""
    return filename("holdings", account, _compact(at))
