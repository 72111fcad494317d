"""The identity log page's filters (A6R-48, A6R-50): which kinds of entry, about whom, from where,
turned into identity's `GET /log` query, newest first."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from web.domain.forms import is_digits, is_uuid

# Identity's entry kinds by their prefix; "credential." is the credential issuance log (A6R-50).
KINDS = (
    ("credential", "Credentials: activations, enrolments, keys, revocations"),
    ("session", "Sign-ins and sessions"),
    ("grant", "Roles granted, suspended, revoked"),
    ("user", "People: creation, verification, access, locks"),
    ("profile", "Profiles and their changes, erasure"),
    ("impersonation", "Impersonation"),
    ("external_system", "External systems"),
)
PAGE_SIZE = 50


def log_query(params: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Identity's query for the page's parameters, and {parameter: problem} for those it cannot use
    (the page then shows the problem instead of a misleading, unfiltered log)."""
    query: dict[str, Any] = {"order": "newest_first", "limit": PAGE_SIZE}
    problems: dict[str, str] = {}
    kind = params.get("kind", "")
    if kind:
        if kind in dict(KINDS):
            query["kind"] = f"{kind}."
        else:
            problems["kind"] = "Choose a kind of entry from the list."
    subject = params.get("subject", "")
    if subject:
        if is_uuid(subject):
            query["subject"] = subject
        else:
            problems["subject"] = "Give the person's id as on their page, e.g. 0b9e…-….-….-….-…"
    cursor = params.get("cursor", "")
    if cursor:
        if is_digits(cursor) and len(cursor) < 19:
            query["cursor"] = int(cursor)
        else:
            problems["cursor"] = "The page link is damaged; start again from the newest entries."
    return query, problems
