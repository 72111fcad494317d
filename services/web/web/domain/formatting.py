"""How the registry's values are shown to people (issue 7, item 6).

- quantities with thousands separators (units are integers: 1 unit = 1 tCO2e);
- serial numbers in A6R-40's human-readable form, a block as its first and last serial;
- every time in UTC, inside a <time> element whose datetime attribute lets the page's script show
  the reader's local time on hover.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from markupsafe import Markup, escape

from registry_contracts.nomenclatures import load_default
from registry_contracts.serials import BLOCK_SEPARATOR, HumanBlock, MalformedSerial, SerialRange, format_block
from web.domain.forms import is_digits


def quantity(value: Any) -> str:
    """1234567 -> '1,234,567'; anything that is not an integer is shown as it is."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, str) and is_digits(value.removeprefix("-")):
        return f"{int(value):,}"
    return "" if value is None else str(value)


def parse_whole(text: str | None) -> int | None:
    """A whole number as people type it ('10,000' or '10 000'); None if empty or not one."""
    try:
        return int((text or "").replace(",", "").replace(" ", "")) if text else None
    except ValueError:
        return None


def day_window(day: str) -> dict[str, str]:
    """The ledger's `/transactions` filter for what was recorded on `day` (a valid `is_day`), UTC."""
    start = date.fromisoformat(day)
    window = {"recorded_from": f"{start.isoformat()}T00:00:00Z"}
    if start < date.max:
        window["recorded_before"] = f"{(start + timedelta(days=1)).isoformat()}T00:00:00Z"
    return window


def is_day(text: str) -> bool:
    """Whether `text` is a calendar day written year-month-day (2026-11-27), as the reports take it."""
    try:
        return len(text) == 10 and date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return None  # 0001-01-01 east of UTC, or 9999-12-31 west of it: outside the calendar in UTC


def utc_text(value: Any, *, seconds: bool = False) -> str:
    moment = parse_time(value)
    if moment is None:
        return "" if value is None else str(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def time_element(value: Any) -> Markup:
    """<time datetime="2026-03-01T09:30:00Z" title="...">2026-03-01 09:30 UTC</time>; the title is
    replaced by the reader's local time by static/registry.js."""
    moment = parse_time(value)
    if moment is None:
        return escape("" if value is None else str(value))
    iso = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    full = utc_text(moment, seconds=True)
    return Markup('<time datetime="{}" title="{}">{}</time>').format(iso, full, utc_text(moment))


def block_serials(block: dict[str, Any]) -> str:
    """A block as A6R-40's first..last human-readable serials. Blocks without a cooperative approach
    have no first component; they are shown with the remaining four."""
    human = block.get("serials")
    if isinstance(human, str) and human:
        return human
    scope = block.get("scope") or {}
    first, last = block.get("first"), block.get("last")
    approach = block.get("cooperative_approach")
    party = block.get("first_transferring_party") or scope.get("issuing_party")
    registry, vintage = scope.get("originating_registry"), scope.get("vintage")
    if approach and isinstance(first, int) and isinstance(last, int):
        try:
            return format_block(HumanBlock(approach, registry, party, SerialRange(first, last), vintage))
        except MalformedSerial:
            pass
    parts = [p for p in (registry, party) if p]
    return BLOCK_SEPARATOR.join("-".join([*parts, str(n), str(vintage)]) for n in (first, last))


def scope_text(scope: dict[str, Any]) -> str:
    keys = ("originating_registry", "issuing_party", "activity_id", "vintage", "metric")
    return " · ".join(str(scope[k]) for k in keys if scope.get(k) not in (None, ""))


_NOMENCLATURE = load_default()
_LABELS: dict[str, dict[str, str]] = {
    "account_type": {e.code: e.label for e in _NOMENCLATURE.account_types},
    "account_status": {e.code: e.label for e in _NOMENCLATURE.account_statuses},
    "metric": {e.code: e.label for e in _NOMENCLATURE.metrics},
    "sector": {e.code: e.label for e in _NOMENCLATURE.sectors},
    "activity_type": {e.code: e.label for e in _NOMENCLATURE.activity_types},
    "registry": {e.code: e.label for e in _NOMENCLATURE.registry_ids},
}
ROLE_LABELS = {
    "system_administrator": "System administrator",
    "registry_administrator": "Registry administrator",
    "section_administrator": "Section administrator",
    "section_user": "Section user",
    "account_initiator": "Account holder (initiator)",
    "account_approver": "Account holder (approver)",
    "account_viewer": "Account viewer",
    "approach_observer": "Cooperative approach observer",
    "external_system": "External system",
    "registry_service": "Registry service",
}
KIND_LABELS = {
    "issue_units": "Issuance",
    "transfer_units": "Transfer",
    "corrective_transfer": "Corrective transfer",
    "external_transfer_out": "External transfer out",
    "external_transfer_in": "External transfer in",
    "open_account": "Account opened",
    "apply_for_account": "Account application",
    "decide_application": "Application decision",
    "change_account_status": "Account status change",
    "create_section": "Section created",
    "change_section_status": "Section status change",
    "create_cooperative_approach": "Cooperative approach created",
}
_LABELS["role"] = ROLE_LABELS
_LABELS["kind"] = KIND_LABELS


def label(code: Any, kind: str) -> str:
    """The nomenclature's label for a code ('use_ndc' -> 'Use account (NDC)'), or the code itself."""
    if code is None:
        return ""
    return _LABELS.get(kind, {}).get(str(code), str(code).replace("_", " "))


def choices(kind: str) -> list[tuple[str, str]]:
    return sorted(_LABELS.get(kind, {}).items(), key=lambda item: item[1])
