"""Forms about people turned into identity's request bodies (A6R-3 verification evidence, A6R-4
contacts for the activation's two channels, A6R-12 grant scopes)."""

from __future__ import annotations

from typing import Any

from web.domain.forms import missing


def user_body(form: dict[str, str]) -> dict[str, Any]:
    contacts = [{"kind": "email", "value": form.get("email", "")}]
    if form.get("phone"):
        contacts.append({"kind": "phone", "value": form["phone"]})
    return {
        "email": form.get("email", ""),
        "name": form.get("name", ""),
        "date_of_birth": form.get("date_of_birth", ""),
        "nationality": form.get("nationality", "").upper(),
        "contacts": contacts,
        "affiliations": [form["affiliation"]] if form.get("affiliation") else [],
    }


def evidence(form: dict[str, str]) -> dict[str, Any]:
    return {
        "outcome": "verified",
        "evidence": [
            {
                "type": form.get("evidence_type") or "government_id",
                "document_type": form.get("document_type") or None,
                "issuing_country": (form.get("issuing_country") or "").upper() or None,
                "document_number": form.get("document_number") or None,
            }
        ],
    }


def evidence_problems(form: dict[str, str]) -> dict[str, str]:
    """A verification names the document checked: its type, issuing country and number (A6R-3)."""
    return missing(
        form,
        {
            "document_type": "Give the type of document you checked, e.g. passport.",
            "issuing_country": "Give the country that issued the document, e.g. GHA.",
            "document_number": "Give the number of the document you checked.",
        },
    )


def grant_body(user_id: str, form: dict[str, str]) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "role": form["role"],
        "section": (form.get("section") or "").upper() or None,
        "account": form.get("account") or None,
        "cooperative_approach": (form.get("cooperative_approach") or "").upper() or None,
        "reason": form.get("grant_reason") or None,
    }
