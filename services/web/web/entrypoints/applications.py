"""Account opening (A6R-41, A6R-56): users apply, section administrators approve or reject the
pending applications the ledger lists; on approval the web can activate the account and give the
applicant the account holder role on it. A section's administrators also open its issuance,
holding and cancellation accounts directly from the same form."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from registry_platform.auth import ACCOUNT_INITIATOR, SECTION_ADMINISTRATOR, SECTION_USER
from web.adapters.backends import ServiceError
from web.domain.forms import missing
from web.entrypoints.page import Page
from web.entrypoints.pipeline import PageRoute, signed_in
from web.service_layer.messages import ACTION, field_errors

router = APIRouter(route_class=PageRoute)
APPLICABLE_TYPES = ("holding", "issuance", "use_ndc", "use_oimp", "cancellation")
APPLY_FIELDS = {
    "holder": "holder",
    "section": "section",
    "unknown_section": "section",
    "type": "type",
    "cooperative_approach": "cooperative_approach",
    "party_not_in_approach": "cooperative_approach",
    "unknown_cooperative_approach": "cooperative_approach",
}


def _step_id(base: str, step: str) -> str:
    """Each step of a multi-step action gets an id derived from the form's: a repeat (after a
    step-up, or a double click) gets the ledger's first answer instead of a second transaction."""
    try:
        return str(uuid.uuid5(uuid.UUID(base), step))
    except ValueError:
        return str(uuid.uuid4())


async def _apply_page(
    page: Page, values: dict[str, str], status: int = 200, errors: dict[str, str] | None = None
) -> Response:
    sections = await page.call("ledger", "GET", "/sections")
    if not page.may("sections.manage"):
        allowed = {g.section for g in page.grants if g.role in (SECTION_USER, SECTION_ADMINISTRATOR)}
        sections = [s for s in sections if s["party"] in allowed]
    approaches = await page.call("ledger", "GET", "/cooperative-approaches")
    # The signed-in person is the first guess at the holder; not while impersonating, when that
    # person is the administrator.
    me = (page.session.data.get("me") or {}) if page.session and not page.impersonation else {}
    values.setdefault("holder", me.get("name", ""))
    # Every showing of the form is a new transaction: the ledger records a refused one under its id.
    values = {**values, "transaction_id": str(uuid.uuid4())}
    return page.render(
        "apply.html",
        status=status,
        title="Apply for an account",
        sections=sections,
        approaches=approaches,
        types=APPLICABLE_TYPES,
        may_open=page.may("applications.decide"),
        values=values,
        errors=errors or {},
    )


@router.get("/applications/new", response_class=HTMLResponse, dependencies=[signed_in("apply")])
async def application_form(request: Request) -> Response:
    page = Page.of(request)
    return await _apply_page(page, {"section": request.query_params.get("section", ""), "type": "holding"})


@router.post("/applications", response_class=HTMLResponse, dependencies=[signed_in("apply")])
async def apply(request: Request) -> Response:
    page = Page.of(request)
    form = await page.form()
    errors = missing(
        form,
        {
            "holder": "Give the account holder's name.",
            "section": "Choose the section.",
            "type": "Choose the type of account.",
        },
    )
    # A section's administrators open its issuance, holding and cancellation accounts directly
    # (A6R-56 a): the ledger judges whether this person may, for this section and type.
    opening = form.get("open") == "now"
    if not errors:
        command = {
            "kind": "open_account" if opening else "apply_for_account",
            "holder": form["holder"],
            "section": form["section"],
            "type": form["type"],
            "cooperative_approach": form.get("cooperative_approach") or None,
        }
        try:
            _, answer = await page.propose(command, form.get("transaction_id"))
        except ServiceError as exc:
            errors = field_errors(exc, APPLY_FIELDS)
        else:
            if opening:
                page.flash(f"Account {answer['account']} was opened (status: {answer['status']}).", "success")
                return page.redirect(f"/accounts/{answer['account']}")
            if page.may("applications.decide", form["section"]):
                page.flash(
                    "The application is recorded; another administrator of the section or a registry "
                    "administrator approves it.",
                    "success",
                )
                return page.redirect(f"/applications?section={form['section']}")
            page.flash(
                f"Your application for a {form['type']} account in {form['section']} was sent. "
                "The section's administrators decide on it.",
                "success",
            )
            return page.redirect("/home")
    return await _apply_page(page, form, status=400, errors=errors)


async def pending_applications(page: Page, section: str | None) -> list[dict[str, Any]]:
    """Undecided applications, oldest first: of `section`, or (None) all the user may decide or made."""
    return await page.collect("ledger", "/applications", {"state": "pending", "section": section}, pages=5)


async def _applicant_names(page: Page, applications: list[dict[str, Any]]) -> dict[str, str]:
    """Applicants' names where identity shows them to this administrator; their ids otherwise."""
    names: dict[str, str] = {}
    for applicant in {a["applicant"] for a in applications}:
        try:
            user = await page.call("identity", "GET", f"/users/{applicant}")
        except ServiceError:
            continue
        names[applicant] = user.get("name") or user.get("email") or applicant
    return names


@router.get("/applications", response_class=HTMLResponse, dependencies=[signed_in("applications.decide")])
async def applications(request: Request) -> Response:
    page = Page.of(request)
    return await _applications_page(page)


async def _applications_page(page: Page) -> Response:
    pending = await pending_applications(page, page.request.query_params.get("section"))
    return page.render(
        "applications.html",
        title="Account applications",
        pending=pending,
        names=await _applicant_names(page, pending),
        decision_id=str(uuid.uuid4()),
        # Nobody approves their own application (the ledger refuses it: four eyes, A6R-41).
        me=page.acting.get("sub"),
        # Identity lets a section's administrators grant the account holder role (A6R-14), no one else.
        grant_sections={g.section for g in page.grants if g.role == SECTION_ADMINISTRATOR},
    )


async def _decide(page: Page, application_id: str, form: dict[str, str]) -> tuple[list[str], dict[str, Any], bool]:
    """Decide, then (on approval) activate and grant; the notes say what was done, and whether
    every step was (a refused step after the decision is told, not lost)."""
    approve = form.get("approve") == "yes"
    base = form.get("transaction_id") or str(uuid.uuid4())
    command: dict[str, Any] = {"kind": "decide_application", "application_id": application_id, "approve": approve}
    if form.get("reason"):
        command["reason"] = form["reason"]
    _, answer = await page.propose(command, _step_id(base, f"decide:{application_id}"))
    notes = [f"Application {'approved' if approve else 'rejected'}."]
    try:
        notes += await _after_approval(page, application_id, form, answer, base) if approve else []
    except ServiceError as exc:
        notes.append(f"Not done: {field_errors(exc, {})[ACTION]}")
        return notes, answer, False
    return notes, answer, True


async def _after_approval(
    page: Page, application_id: str, form: dict[str, str], answer: dict[str, Any], base: str
) -> list[str]:
    notes = []
    account = answer.get("account")
    if account and form.get("activate"):
        reason = f"Opened on approval of application {application_id}"
        await page.propose(
            {"kind": "change_account_status", "account": account, "status": "active", "reason": reason},
            _step_id(base, f"activate:{application_id}"),
        )
        notes.append(f"Account {account} is active.")
    applicant = answer.get("applicant")
    if account and form.get("grant_holder") and applicant and applicant != page.acting.get("sub"):
        section = account.split("-", 1)[0]
        await page.call(
            "identity",
            "POST",
            "/grants",
            json={
                "user_id": applicant,
                "role": ACCOUNT_INITIATOR,
                "section": section,
                "account": account,
                "reason": f"Holder of account {account} (application {application_id})",
            },
        )
        notes.append("The applicant may now use the account.")
    return notes


@router.post(
    "/applications/{application_id}/decision",
    response_class=HTMLResponse,
    dependencies=[signed_in("applications.decide")],
)
async def decide(request: Request, application_id: str) -> Response:
    page = Page.of(request)
    form = await page.form()
    try:
        notes, answer, complete = await _decide(page, application_id, form)
    except ServiceError as exc:
        # Said above the list: the application may be gone from it (another administrator decided).
        page.flash(f"Application {application_id} was not decided: {field_errors(exc, {})[ACTION]}", "error")
        return page.redirect("/applications")
    page.flash(" ".join(notes), "success" if complete else "error")
    if answer.get("account"):
        return page.redirect(f"/accounts/{answer['account']}")
    return page.redirect("/applications")
