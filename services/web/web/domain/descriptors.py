"""Descriptors as people see and issue them (A6R-30 descriptor review, A6R-45 authorizations).

An authorization covers either specific units, a serial range typed in A6R-40's human-readable form
(its cooperative approach, originating registry, vintage and serials) with the activity and metric
that complete the unit scope, or the units that meet conditions as they are issued (activity,
vintage range, metric, issued under the approach, at most a quantity). It may supersede an earlier
authorization of the Party. The issuing Party is the section's. The units' pages link to the
descriptor review of their serials through `review_url`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from registry_contracts.serials import MalformedSerial, parse_block, parse_serial
from web.domain.formatting import parse_whole, utc_text
from web.domain.forms import is_digits, is_uuid, missing
from web.domain.transactions import SCOPE_KEYS

DEDICATIONS = (
    ("ndc", "NDC use"),
    ("oimp", "Other international mitigation purposes (OIMP)"),
    ("ndc_oimp", "Both NDC use and OIMP"),
)
COVERS = (
    ("units", "Specific units: a serial range"),
    ("conditions", "The units that meet conditions, as they are issued"),
)
CONDITION_FIELDS = ("activity_id", "vintage_from", "vintage_to", "metric", "quantity_cap")
OIMP_TRIGGERS = (
    ("authorization", "This authorization"),
    ("issuance", "The issuance of the units"),
    ("use_or_cancellation", "Their use or cancellation"),
)
# The descriptors listing's parameters for authorizations, newest first: the Party's latest acts
# matter most, and a correction sits above what it corrects.
AUTHORIZATIONS_NEWEST_FIRST = {"kind": "authorization", "sort": "-sequence"}
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
    "units_or_conditions": "covers",
    "vintage_from": "vintage_from",
    "vintage_to": "vintage_to",
    "malformed_conditions": "vintage_to",
    "quantity_cap": "quantity_cap",
    "supersedes": "supersedes",
    "unknown_descriptor": "supersedes",
    "already_superseded": "supersedes",
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


def _year(form: dict[str, str], name: str, errors: dict[str, str]) -> int | None:
    text = form.get(name, "")
    if text and not (is_digits(text) and len(text) == 4):
        errors[name] = "Give a year of four digits, e.g. 2024, or leave it empty."
        return None
    return int(text) if text else None


def _conditions(form: dict[str, str], approach: str | None, errors: dict[str, str]) -> dict[str, Any]:
    """The AuthorizationConditions of the form; problems go next to their fields."""
    vintage_from, vintage_to = _year(form, "vintage_from", errors), _year(form, "vintage_to", errors)
    if vintage_from is not None and vintage_to is not None and vintage_from > vintage_to:
        errors["vintage_to"] = f"The last vintage is before the first ({vintage_from})."
    cap = parse_whole(form.get("quantity_cap"))
    if form.get("quantity_cap") and (cap is None or cap < 1):
        errors["quantity_cap"] = "Give a whole number of units, e.g. 10,000, or leave it empty."
    conditions = {
        "activity_id": form.get("activity_id") or None,
        "vintage_from": vintage_from,
        "vintage_to": vintage_to,
        "metric": form.get("metric") or None,
        "quantity_cap": cap,
    }
    if not any(conditions[k] is not None for k in CONDITION_FIELDS) and not form.get("approach_units"):
        errors["covers"] = "Name at least one condition, or choose specific units."
    return {**conditions, "cooperative_approach": approach if form.get("approach_units") else None}


def _units(form: dict[str, str], party: str, errors: dict[str, str]) -> tuple[list[dict[str, Any]], str | None]:
    """The DescriptorUnits of the typed serial range, and the approach its serials name."""
    problems = missing(
        form,
        {
            "activity_id": "Give the activity the units were issued for.",
            "range": "Type the serial range, e.g. CA0001-INT01-GHA-1-2024..CA0001-INT01-GHA-1000-2024.",
        },
    )
    errors.update(problems)
    if "range" in problems:
        return [], None
    serials, problem = _serials(form["range"])
    if problem:
        errors["range"] = problem
        return [], None
    if form.get("cooperative_approach") and serials["cooperative_approach"] != form["cooperative_approach"]:
        errors["range"] = f"These serials are of cooperative approach {serials['cooperative_approach']}."
    scope = {
        "originating_registry": serials["originating_registry"],
        "issuing_party": party,
        "activity_id": form.get("activity_id", ""),
        "vintage": serials["vintage"],
        "metric": form.get("metric") or "tCO2e",
    }
    return [{"scope": scope, "first": serials["first"], "last": serials["last"]}], serials["cooperative_approach"]


def authorization_request(form: dict[str, str], party: str) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The descriptors service's AuthorizationIn for the form, or {field: problem}."""
    errors: dict[str, str] = {}
    dedication = form.get("dedication", "")
    if dedication not in dict(DEDICATIONS):
        errors["dedication"] = "Choose what the units are authorized for."
    trigger = form.get("oimp_first_transfer") or None
    if dedication in ("oimp", "ndc_oimp") and trigger not in dict(OIMP_TRIGGERS):
        errors["oimp_first_transfer"] = "For OIMP, choose what constitutes the first transfer."
    covers = form.get("covers") or "units"
    approach = form.get("cooperative_approach") or None
    units: list[dict[str, Any]] = []
    conditions = None
    if covers == "units":
        units, named = _units(form, party, errors)
        approach = approach or named
    elif covers == "conditions":
        conditions = _conditions(form, approach, errors)
    else:
        errors["covers"] = "Choose what the authorization covers."
    if not approach:
        errors["cooperative_approach"] = "Choose the cooperative approach."
    supersedes = form.get("supersedes") or None
    if supersedes is not None and not is_uuid(supersedes):
        errors["supersedes"] = "Choose the authorization to supersede from the list."
    if errors:
        return None, errors
    return {
        "issuing_party": party,
        "cooperative_approach": approach,
        "dedication": dedication,
        "oimp_first_transfer": trigger if dedication != "ndc" else None,
        "units": units,
        "conditions": conditions,
        "supersedes": supersedes,
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
        "conditions": {
            k: conditions[k]
            for k in ("cooperative_approach", *CONDITION_FIELDS)
            if conditions and conditions.get(k) not in (None, "")
        },
        "units": descriptor.get("units") or authorization.get("units") or first_transfer.get("units") or [],
    }


def listed(items: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Authorizations with what their rows show: when the one each supersedes was issued, if it is in
    the same listing, and whether another supersedes it (the descriptors service says, on any page)."""
    issued = {d["descriptor_id"]: d.get("created_at") for d in items}
    return [
        (
            d,
            {
                **described(d),
                "supersedes_issued": issued.get(d.get("supersedes") or ""),
                "superseded": bool(d.get("superseded_by")),
                # From when: a successor not yet applicable leaves this one in force until then.
                "superseded_from": d.get("superseded_from"),
            },
        )
        for d in items
    ]


def supersedable(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(id, label) of the authorizations a new one may supersede: those no other one superseded."""
    options = []
    for d, info in listed(items):
        if info["superseded"]:
            continue
        units = info["units"]
        if units:
            first = units[0]
            covered = f"{first['scope']['activity_id']}, serials {first['first']:,} to {first['last']:,}"
            covered += f" and {len(units) - 1} more ranges" if len(units) > 1 else ""
        else:
            covered = "units meeting conditions: " + ", ".join(
                f"{k.replace('_', ' ')} {v}" for k, v in info["conditions"].items()
            )
        options.append((d["descriptor_id"], f"Issued {utc_text(d.get('created_at'))}: {info['dedication']}, {covered}"))
    return options
