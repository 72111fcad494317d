"""Descriptors as people see and issue them (A6R-30 descriptor review, A6R-45 authorizations).

An authorization is issued for a serial range typed in A6R-40's human-readable form (its
cooperative approach, originating registry, vintage and serials), with the activity and metric
that complete the unit scope; the issuing Party is the section's. The units' pages link to the
descriptor review of their serials through `review_url`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from registry_contracts.serials import MalformedSerial, parse_block, parse_serial
from web.domain.transactions import SCOPE_KEYS

DEDICATIONS = (
    ("ndc", "NDC use"),
    ("oimp", "Other international mitigation purposes (OIMP)"),
    ("ndc_oimp", "Both NDC use and OIMP"),
)
OIMP_TRIGGERS = (
    ("authorization", "This authorization"),
    ("issuance", "The issuance of the units"),
    ("use_or_cancellation", "Their use or cancellation"),
)
# Refusal codes and request fields of the descriptors service -> the form's fields.
AUTHORIZATION_FIELDS = {
    "unknown_cooperative_approach": "cooperative_approach",
    "party_not_in_approach": "cooperative_approach",
    "cooperative_approach": "cooperative_approach",
    "dedication": "dedication",
    "oimp_first_transfer": "oimp_first_transfer",
    "marker_needs_units": "oimp_first_transfer",
    "unknown_units": "range",
    "not_party_units": "range",
    "malformed_range": "range",
    "overlapping_units": "range",
    "first": "range",
    "last": "range",
    "vintage": "range",
    "originating_registry": "range",
    "activity_id": "activity_id",
    "metric": "metric",
}


def review_url(block: dict[str, Any]) -> str:
    """The descriptor review of a block's (or a piece's) serials."""
    scope = block.get("scope") or {}
    query = {k: scope.get(k) for k in SCOPE_KEYS} | {"first": block.get("first"), "last": block.get("last")}
    return "/descriptors/units?" + urlencode({k: v for k, v in query.items() if v not in (None, "")})


def _serials(text: str) -> tuple[dict[str, Any], str | None]:
    """{cooperative_approach, originating_registry, vintage, first, last} of a typed range or serial."""
    try:
        if ".." in text:
            block = parse_block(text)
            return {
                "cooperative_approach": block.cooperative_approach,
                "originating_registry": block.originating_registry,
                "vintage": block.vintage,
                "first": block.serials.first,
                "last": block.serials.last,
            }, None
        unit = parse_serial(text)
    except MalformedSerial as exc:
        return {}, f"This is not a serial range: {exc.reason}"
    return {
        "cooperative_approach": unit.cooperative_approach,
        "originating_registry": unit.originating_registry,
        "vintage": unit.vintage,
        "first": unit.serial,
        "last": unit.serial,
    }, None


def authorization_request(form: dict[str, str], party: str) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The descriptors service's AuthorizationIn for the form, or {field: problem}."""
    errors: dict[str, str] = {}
    dedication = form.get("dedication", "")
    if dedication not in dict(DEDICATIONS):
        errors["dedication"] = "Choose what the units are authorized for."
    trigger = form.get("oimp_first_transfer") or None
    if dedication in ("oimp", "ndc_oimp") and trigger not in dict(OIMP_TRIGGERS):
        errors["oimp_first_transfer"] = "For OIMP, choose what constitutes the first transfer."
    if not form.get("activity_id"):
        errors["activity_id"] = "Give the activity the units were issued for."
    serials: dict[str, Any] = {}
    if not form.get("range"):
        errors["range"] = "Type the serial range, e.g. CA0001-INT01-GHA-1-2024..CA0001-INT01-GHA-1000-2024."
    else:
        serials, problem = _serials(form["range"])
        if problem:
            errors["range"] = problem
        elif form.get("cooperative_approach") and serials["cooperative_approach"] != form["cooperative_approach"]:
            errors["range"] = f"These serials are of cooperative approach {serials['cooperative_approach']}."
    approach = form.get("cooperative_approach") or serials.get("cooperative_approach")
    if not approach:
        errors["cooperative_approach"] = "Choose the cooperative approach."
    if errors:
        return None, errors
    scope = {
        "originating_registry": serials["originating_registry"],
        "issuing_party": party,
        "activity_id": form["activity_id"],
        "vintage": serials["vintage"],
        "metric": form.get("metric") or "tCO2e",
    }
    return {
        "issuing_party": party,
        "cooperative_approach": approach,
        "dedication": dedication,
        "oimp_first_transfer": trigger if dedication != "ndc" else None,
        "units": [{"scope": scope, "first": serials["first"], "last": serials["last"]}],
    }, {}


def described(descriptor: dict[str, Any]) -> dict[str, Any]:
    """What a descriptor's row shows: its dedication, first-transfer choice or basis, and units."""
    document = descriptor.get("document") or {}
    authorization = document.get("authorization") or {}
    first_transfer = document.get("first_transfer") or {}
    conditions = authorization.get("conditions")
    return {
        "dedication": dict(DEDICATIONS).get(authorization.get("dedication", ""), ""),
        "oimp_first_transfer": dict(OIMP_TRIGGERS).get(authorization.get("oimp_first_transfer") or "", ""),
        "basis": (first_transfer.get("basis") or "").replace("_", " "),
        "conditions": {k: v for k, v in (conditions or {}).items() if v not in (None, "")},
        "units": descriptor.get("units") or authorization.get("units") or first_transfer.get("units") or [],
    }
