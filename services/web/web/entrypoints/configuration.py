"""Administrators' registry functions (A6R-56): issuing units into a section's issuance account,
and, for registry administrators, Party-specific sections (created, suspended and reactivated),
cooperative approaches and registry service accounts."""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from web.adapters.backends import ServiceError
from web.domain.formatting import choices, parse_whole
from web.domain.forms import missing
from web.entrypoints.page import Page
from web.entrypoints.pipeline import PageRoute, signed_in
from web.service_layer.messages import AWAITING_VERDICT, field_errors

router = APIRouter(route_class=PageRoute)
ISSUE_FIELDS = {
    "account": "account",
    "originating_registry": "originating_registry",
    "issuing_party": "issuing_party",
    "activity_id": "activity_id",
    "vintage": "vintage",
    "metric": "metric",
    "quantity": "quantity",
    "first_serial": "first_serial",
    "cooperative_approach": "cooperative_approach",
    "first_transferring_party": "first_transferring_party",
    "overlapping_range": "first_serial",
    "account_type_cannot_generate": "account",
    "unknown_code": "originating_registry",
    "unknown_cooperative_approach": "cooperative_approach",
}
SECTION_FIELDS = {"party": "party", "unknown_party": "party", "section_exists": "party", "name": "name"}
# The status form's fields have names of their own: it shares the page with the creation form.
SECTION_STATUS_FIELDS = {
    "party": "section",
    "unknown_section": "section",
    "status": "status",
    "status_unchanged": "status",
    "reason": "reason",
}
APPROACH_FIELDS = {
    "id": "id",
    "cooperative_approach_exists": "id",
    "name": "name",
    "parties": "parties",
    "unknown_party": "parties",
    "duplicate_party": "parties",
}
OPEN_FIELDS = {
    "holder": "holder",
    "type": "type",
    "section": "section",
    "unknown_section": "section",
    "proxy_exists": "type",
    "cooperative_approach": "cooperative_approach",
}


async def _issue_page(
    page: Page, values: dict[str, Any], status: int = 200, errors: dict[str, str] | None = None
) -> Response:
    section = values.get("section") or ""
    params = {"type": "issuance", **({"section": section} if section else {})}
    accounts = await page.collect("ledger", "/accounts", params, pages=5)
    # Every showing of the form is a new transaction: the ledger records a refused one under its id.
    values = {**values, "transaction_id": str(uuid.uuid4())}
    return page.render(
        "issue.html",
        status=status,
        title="Issue units",
        accounts=accounts,
        values=values,
        errors=errors or {},
        approaches=await page.call("ledger", "GET", "/cooperative-approaches"),
        registries=choices("registry"),
        metrics=choices("metric"),
        sectors=choices("sector"),
    )


@router.get("/issue", response_class=HTMLResponse, dependencies=[signed_in("issue")])
async def issue_form(request: Request) -> Response:
    page = Page.of(request)
    section = request.query_params.get("section", "")
    page.require("issue", section or None)
    defaults = {
        "section": section,
        "issuing_party": section,
        "first_transferring_party": section,
        "metric": "tCO2e",
        "originating_registry": "INT01",
    }
    return await _issue_page(page, defaults)


@router.post("/issue", response_class=HTMLResponse, dependencies=[signed_in("issue")])
async def issue(request: Request) -> Response:
    page = Page.of(request)
    form = await page.form()
    page.require("issue", form.get("section") or None)
    quantity, vintage, first = (
        parse_whole(form.get("quantity")),
        parse_whole(form.get("vintage")),
        parse_whole(form.get("first_serial")),
    )
    errors = missing(form, {"account": "Choose the issuance account."})
    if quantity is None or quantity < 1:
        errors["quantity"] = "Give the number of units, a whole number of at least 1."
    if vintage is None:
        errors["vintage"] = "Give the vintage year, e.g. 2024."
    if form.get("first_serial") and (first is None or first < 1):
        errors["first_serial"] = "Give a whole number of at least 1, or leave it empty."
    required = dict.fromkeys(("activity_id", "issuing_party", "first_transferring_party"), "This is required.")
    errors.update(missing(form, required))
    if not errors:
        command = {
            "kind": "issue_units",
            "account": form["account"],
            "scope": {
                "originating_registry": form.get("originating_registry"),
                "issuing_party": form["issuing_party"].upper(),
                "activity_id": form["activity_id"],
                "vintage": vintage,
                "metric": form.get("metric") or "tCO2e",
            },
            "quantity": quantity,
            "first_serial": first,
            "cooperative_approach": form.get("cooperative_approach") or None,
            "first_transferring_party": form["first_transferring_party"].upper(),
            "sectors": await page.form_list("sectors"),
        }
        try:
            status, answer = await page.propose(command, form.get("transaction_id"))
        except ServiceError as exc:
            errors = field_errors(exc, ISSUE_FIELDS)
        else:
            if status == 202:
                page.flash(AWAITING_VERDICT.format(what="issuance"), "info")
            else:
                page.flash(f"{quantity:,} units issued into {form['account']}.", "success")
            return page.redirect(f"/transactions/{answer['transaction_id']}")
    return await _issue_page(page, {**form, "sectors": await page.form_list("sectors")}, status=400, errors=errors)


async def _listing(
    page: Page,
    template: str,
    title: str,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
    **extra: Any,
) -> Response:
    # Every showing of the form is a new transaction: the ledger records a refused one under its id.
    values = {**values, "transaction_id": str(uuid.uuid4())}
    return page.render(
        template,
        status=status,
        title=title,
        values=values,
        errors=errors,
        **extra,
        sections=await page.call("ledger", "GET", "/sections"),
        approaches=await page.call("ledger", "GET", "/cooperative-approaches"),
        accounts=[a for a in await page.collect("ledger", "/accounts", pages=10) if a.get("section") is None]
        if template == "service_accounts.html"
        else [],
        account_types=choices("account_type"),
    )


async def _submit(
    page: Page, command: dict[str, Any], fields: dict[str, str], done: str, redirect: str, form: dict[str, str]
) -> tuple[Response | None, dict[str, str]]:
    try:
        _, answer = await page.propose(command, form.get("transaction_id"))
    except ServiceError as exc:
        return None, field_errors(exc, fields)
    page.flash(done.format(**answer), "success")
    return page.redirect(redirect.format(**answer)), {}


async def _sections_page(
    page: Page,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
    status_values: dict[str, Any] | None = None,
    status_errors: dict[str, str] | None = None,
) -> Response:
    """The sections with their statuses, the creation form and the status form, each with its own
    values, problems and transaction id. The status form always gets a new id: the ledger records a
    refused change under its id, and the next try (say, the other status) is another transaction."""
    return await _listing(
        page,
        "sections.html",
        "Party-specific sections",
        values,
        errors,
        status,
        status_values={**(status_values or {}), "transaction_id": str(uuid.uuid4())},
        status_errors=status_errors or {},
    )


@router.get("/sections", response_class=HTMLResponse, dependencies=[signed_in("sections.manage")])
async def sections(request: Request) -> Response:
    page = Page.of(request)
    return await _sections_page(page, {}, {})


@router.post("/sections", response_class=HTMLResponse, dependencies=[signed_in("sections.manage")])
async def create_section(request: Request) -> Response:
    page = Page.of(request)
    form = await page.form()
    command = {"kind": "create_section", "party": form.get("party", "").upper(), "name": form.get("name", "")}
    response, errors = await _submit(page, command, SECTION_FIELDS, "Section {section} was created.", "/sections", form)
    return response or await _sections_page(page, form, errors, 400)


@router.post("/sections/status", response_class=HTMLResponse, dependencies=[signed_in("sections.manage")])
async def change_section_status(request: Request) -> Response:
    """Registry administrators suspend a section and make it active again (issue 7)."""
    page = Page.of(request)
    form = await page.form()
    errors = missing(
        form,
        {
            "section": "Choose the section.",
            "status": "Choose the new status.",
            "reason": "Give the reason, for the record.",
        },
    )
    if not errors:
        command = {
            "kind": "change_section_status",
            "party": form["section"],
            "status": form["status"],
            "reason": form["reason"],
        }
        response, errors = await _submit(
            page, command, SECTION_STATUS_FIELDS, "Section {section} is now {status}.", "/sections", form
        )
        if response is not None:
            return response
    return await _sections_page(page, {}, {}, 400, status_values=form, status_errors=errors)


@router.get("/approaches", response_class=HTMLResponse, dependencies=[signed_in("approaches.manage")])
async def approaches(request: Request) -> Response:
    page = Page.of(request)
    return await _listing(page, "approaches.html", "Cooperative approaches", {}, {})


@router.post("/approaches", response_class=HTMLResponse, dependencies=[signed_in("approaches.manage")])
async def create_approach(request: Request) -> Response:
    page = Page.of(request)
    form = await page.form()
    parties = [p.upper() for p in re.split(r"[\s,;]+", form.get("parties", "")) if p]
    command = {
        "kind": "create_cooperative_approach",
        "id": form.get("id", "").upper(),
        "name": form.get("name", ""),
        "parties": parties,
    }
    response, errors = await _submit(
        page, command, APPROACH_FIELDS, "Cooperative approach {cooperative_approach} was created.", "/approaches", form
    )
    return response or await _listing(page, "approaches.html", "Cooperative approaches", form, errors, 400)


@router.get("/service-accounts", response_class=HTMLResponse, dependencies=[signed_in("service_accounts.open")])
async def service_accounts(request: Request) -> Response:
    page = Page.of(request)
    return await _listing(
        page, "service_accounts.html", "Registry service accounts", {"type": "administrative_holding"}, {}
    )


@router.post("/service-accounts", response_class=HTMLResponse, dependencies=[signed_in("service_accounts.open")])
async def open_service_account(request: Request) -> Response:
    """Registry administrators open accounts directly (A6R-41), e.g. administrative cancellation."""
    page = Page.of(request)
    form = await page.form()
    command = {
        "kind": "open_account",
        "holder": form.get("holder", ""),
        "type": form.get("type", ""),
        "section": form.get("section") or None,
        "cooperative_approach": form.get("cooperative_approach") or None,
    }
    response, errors = await _submit(
        page, command, OPEN_FIELDS, "Account {account} was opened (status: {status}).", "/accounts/{account}", form
    )
    return response or await _listing(page, "service_accounts.html", "Registry service accounts", form, errors, 400)
