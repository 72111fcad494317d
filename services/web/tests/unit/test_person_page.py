"""A person's page (A6R-3, A6R-12, A6R-43, A6R-49, A6R-50) shown again after a refusal: every form
keeps what the administrator sent, so nothing has to be typed twice."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from registry_platform.auth import REGISTRY_ADMINISTRATOR
from web.adapters.backends import ServiceError
from web.domain.people_forms import new_person_problems, not_done
from web.entrypoints.templating import render

from .conftest import signed_in_browser

USER = {"id": "0b5c0d1e-7f7a-4c39-9c59-3d8c2b8e4a10", "email": "ama@gha.example", "name": "Ama Owusu"}
SENT = {
    "role": "approach_observer",
    "section": "Ghana",
    "account": "GHA-1001",
    "cooperative_approach": "CA01",
    "document_type": "passport",
    "issuing_country": "GHA",
    "document_number": "P1234567",
    "access_reason": "Holder asked for it",
    "anonymisation_reason": "Her request, case 77",
    "irreversible": "yes",
    "reason": "Support case 12",
}


class Fields(HTMLParser):
    """What a browser would send from the page as shown: each named field's value (the chosen
    option of a select; a checkbox's value only when it is checked)."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "input" and a.get("type") != "hidden" and a.get("name"):
            if a.get("type") != "checkbox" or "checked" in a:
                self.values[str(a["name"])] = a.get("value") or ""
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select and "selected" in a:
            self.values[self._select] = a.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def shown(**context: Any) -> dict[str, str]:
    html = render(
        "user.html",
        {
            "title": USER["name"],
            "user": {**USER, "verification": "unverified", "access": "active"},
            "grants": [],
            "roles": ["section_administrator", "approach_observer"],
            "errors": {},
            "values": {},
            "may_verify": True,
            "may_anonymise": True,
            "may_impersonate": True,
            **context,
        },
    )
    fields = Fields()
    fields.feed(html)
    return fields.values


def test_a_refused_form_comes_back_with_every_field_as_it_was_sent() -> None:
    refusal = {"section": "A section is a Party's three-letter code, e.g. GHA."}
    assert shown(errors=refusal, values={**SENT, "csrf_token": "t"}) == SENT


def test_the_page_first_shows_its_forms_empty_and_erasure_unconfirmed() -> None:
    assert shown() == dict.fromkeys(SENT.keys() - {"role", "irreversible"}, "")


def added(values: dict[str, str]) -> dict[str, str]:
    html = render(
        "users.html",
        {"title": "People and access", "users": [], "params": {}, "values": values, "errors": {},
         "roles": ["section_user"], "may_verify": True},
    )  # fmt: skip
    fields = Fields()
    fields.feed(html)
    return fields.values


def test_a6r3_adding_a_person_shows_the_checks_ticked_first_and_as_sent_after_a_refusal() -> None:
    """The "I checked this person's identity document" box comes back unticked when it was sent
    unticked: a refusal must not make the administrator attest to a check they did not make."""
    first = added({"role": "", "verified": "yes", "send_activation": "yes"})
    assert first["verified"] == "yes" and first["send_activation"] == "yes"
    refused = added({"name": "Kofi Mensah", "csrf_token": "t"})
    assert refused["name"] == "Kofi Mensah" and "verified" not in refused and "send_activation" not in refused


def test_a_refusal_of_no_field_is_shown_by_the_form_that_was_sent_only() -> None:
    """The page's summary names every refusal; the Grant form repeats one only when it was the
    form sent, so a refused verification does not appear to be a refused grant."""
    refusal = {"_action": "Identity refused the change: the person was erased."}
    context = {"title": USER["name"], "user": {**USER, "verification": "unverified", "access": "active"},
               "grants": [], "roles": ["section_user"], "errors": refusal, "may_verify": True}  # fmt: skip
    verification = render("user.html", {**context, "values": {"document_type": "passport"}})
    assert verification.count(refusal["_action"]) == 1
    grant = render("user.html", {**context, "values": {"role": "section_user"}})
    assert grant.count(refusal["_action"]) == 2


PERSON = {
    "email": "ama@gha.example",
    "name": "Ama Owusu",
    "date_of_birth": "1990-01-01",
    "nationality": "GHA",
    "phone": "+233 20 000 0000",
}


def test_a6r3_adding_a_person_with_the_identity_check_ticked_needs_the_document_checked() -> None:
    """The box is ticked when the form is first shown: sent with the document left empty, the
    person was recorded as verified with no document, and identity's duplicate-person check (by
    document number) was skipped."""
    ticked = {**PERSON, "verified": "yes"}
    assert set(new_person_problems(ticked, verifying=True)) == {"document_type", "issuing_country", "document_number"}
    document = {"document_type": "passport", "issuing_country": "GHA", "document_number": "P1"}
    assert new_person_problems({**ticked, **document}, verifying=True) == {}
    assert new_person_problems(PERSON, verifying=False) == {}
    assert set(new_person_problems({}, verifying=False)) == set(PERSON)


def test_a6r3_a_step_of_adding_a_person_refused_names_the_steps_left_undone() -> None:
    user = "/users/0b5c0d1e-7f7a-4c39-9c59-3d8c2b8e4a10"
    left = not_done(["/grants", f"{user}/activations"])
    assert "role was not granted" in left and "no activation was sent" in left
    assert not_done([]) == ""


GRANTS = [
    {"id": "5d1c7c1e-0000-4000-8000-000000000001", "role": "section_user", "section": "GHA", "status": "active",
     "granted_at": "2026-01-01T00:00:00+00:00"},
    {"id": "5d1c7c1e-0000-4000-8000-000000000002", "role": "account_viewer", "account": "GHA-1", "status": "active",
     "granted_at": "2026-01-01T00:00:00+00:00"},
]  # fmt: skip
REFUSAL = "This authorization was suspended by a higher level; only that level or above may change it."


class Identity:
    """Identity as the person's page sees it, refusing every change of an authorization."""

    async def call(self, service: str, method: str, path: str, **_: Any) -> Any:
        if method == "POST" and path.startswith("/grants/"):
            raise ServiceError(403, "suspended_by_higher_level", REFUSAL, {}, "identity")
        if path == "/grants":
            return {"items": GRANTS, "next": None}
        return {**USER, "verification": "verified", "access": "active"}


async def test_a6r51_a_refused_authorization_change_comes_back_with_the_change_chosen_in_its_row() -> None:
    """Before, the refusal was a message above a page showing each row's first choice (Suspend):
    Apply again suspended a grant the administrator had chosen to revoke."""
    refused = GRANTS[1]["id"]
    async with signed_in_browser(Identity(), REGISTRY_ADMINISTRATOR) as (http, session):
        response = await http.post(
            f"/grants/{refused}/change",
            data={"csrf_token": session.csrf, "user_id": USER["id"], "action": "revoke"},
        )
    assert response.status_code == 400, response.text
    table = response.text.split("<tbody>")[1].split("</tbody>")[0]
    rows = {g["id"]: row for row in table.split("<tr>") for g in GRANTS if f"/grants/{g['id']}/" in row}
    assert '<option value="revoke" selected>' in rows[refused]
    assert REFUSAL in rows[refused], "the refusal is shown in the row it refused"
    other = rows[GRANTS[0]["id"]]
    assert "selected" not in other and REFUSAL not in other
