"""Forms about people turned into identity's request bodies (A6R-3 verification evidence, A6R-4
contacts for the activation's two channels, A6R-12 grant scopes, A6R-11 a user's own profile)."""

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


def new_person_problems(form: dict[str, str], *, verifying: bool) -> dict[str, str]:
    """What "Add a person" must have before identity is asked: the person's details and, when the
    administrator records the identity check, the document checked (as on the person's page)."""
    problems = missing(
        form,
        {
            "email": "Give the person's email address.",
            "name": "Give the person's name.",
            "date_of_birth": "Give the date of birth.",
            "nationality": "Give the nationality.",
            "phone": "Give a phone number: the activation code is sent there.",
        },
    )
    if verifying:
        problems.update(evidence_problems(form))
    return problems


# What a step of "Add a person" left undone after an earlier one was refused, and where to do it
# on the person's page.
_UNDONE = {
    "grants": "the role was not granted (use “Grant a role” below).",
    "activations": "no activation was sent (use “Send a new activation link and code” below).",
}


def not_done(skipped_paths: list[str]) -> str:
    """The sentence naming the steps skipped (identity paths of the calls not made), or ""."""
    undone = [_UNDONE[path.rsplit("/", 1)[-1]] for path in skipped_paths]
    return f" Not done: {' '.join(undone)}" if undone else ""


def grant_body(user_id: str, form: dict[str, str]) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "role": form["role"],
        "section": (form.get("section") or "").upper() or None,
        "account": form.get("account") or None,
        "cooperative_approach": (form.get("cooperative_approach") or "").upper() or None,
        "reason": form.get("grant_reason") or None,
    }


CONTACT_KINDS = ("email", "phone", "postal")


def _firsts_and_rest(contacts: list[dict[str, str]]) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The first contact of each kind (what the profile form edits) and the others."""
    rest = list(contacts)
    firsts: dict[str, str] = {}
    for kind in CONTACT_KINDS:
        first = next((c for c in rest if c.get("kind") == kind), None)
        if first is not None:
            rest.remove(first)
            firsts[kind] = first.get("value", "")
    return firsts, rest


def profile_fields(profile: dict[str, Any]) -> dict[str, str]:
    """The profile form's values: name, affiliations separated by semicolons, the first contact of each kind."""
    firsts, _ = _firsts_and_rest(profile.get("contacts") or [])
    return {"name": profile.get("name") or "", "affiliations": "; ".join(profile.get("affiliations") or []), **firsts}


def profile_change(form: dict[str, str], profile: dict[str, Any]) -> dict[str, Any]:
    """What the profile form changes (A6R-11), as identity's change request: only what differs from
    `profile`. The form edits the first contact of each kind; any further contacts are kept."""
    change: dict[str, Any] = {}
    if form.get("name") and form["name"] != profile.get("name"):
        change["name"] = form["name"]
    affiliations = [part.strip() for part in form.get("affiliations", "").split(";") if part.strip()]
    if affiliations != list(profile.get("affiliations") or []):
        change["affiliations"] = affiliations
    firsts, rest = _firsts_and_rest(profile.get("contacts") or [])
    wanted = {kind: form[kind] for kind in CONTACT_KINDS if form.get(kind)}
    if wanted != firsts:
        change["contacts"] = [{"kind": kind, "value": value} for kind, value in wanted.items()] + rest
    return change
