"""The form registering an external system (A6R-8) turned into identity's request: its name, its
public key, the risk assessment behind the connection, and the one scope the form gives."""

from __future__ import annotations

from typing import Any

from web.domain.forms import json_field, missing

RISK_LEVELS = ("low", "medium", "high")


def registration_problems(form: dict[str, str]) -> dict[str, str]:
    """{field: message} for what the form lacks or cannot be read; identity checks the rest."""
    problems = missing(
        form,
        {
            "name": "Name the system.",
            "public_jwk": "Paste the system's public key (a JWK in JSON).",
            "assessor": "Name who assessed the connection's risk.",
            "assessment_date": "Give the date of the risk assessment.",
        },
    )
    if "public_jwk" not in problems:
        try:
            if not isinstance(json_field(form["public_jwk"]), dict):
                raise ValueError
        except ValueError:
            problems["public_jwk"] = 'The key is not a JSON object such as {"kty": "OKP", "crv": "Ed25519", ...}.'
    if form.get("level") not in RISK_LEVELS:
        problems["level"] = "Choose the risk level: low, medium or high."
    if not any(form.get(f"scope_{part}") for part in ("section", "account", "cooperative_approach")):
        problems["scope_section"] = "Give the section, account or cooperative approach the system works for."
    return problems


def registration_body(form: dict[str, str]) -> dict[str, Any]:
    """Identity's request, for a form without `registration_problems`."""
    scope = {
        "section": (form.get("scope_section") or "").upper() or None,
        "account": form.get("scope_account") or None,
        "cooperative_approach": (form.get("scope_cooperative_approach") or "").upper() or None,
    }
    return {
        "name": form["name"],
        "public_jwk": json_field(form["public_jwk"]),
        "risk_assessment": {
            "assessor": form["assessor"],
            "date": form["assessment_date"],
            "level": form["level"],
            "mitigations": [m.strip() for m in form.get("mitigations", "").split(";") if m.strip()],
        },
        "scopes": [scope],
    }
