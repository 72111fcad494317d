"""Initiating transfers (A6R-56): by serial range or by constraints and quantity, always through a
confirmation step; and the registry administrators' corrective transfers (A6R-55)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from registry_platform.auth import ACCOUNT_APPROVER, ACCOUNT_INITIATOR
from web.adapters.backends import ServiceError
from web.domain.access import HOLDER
from web.domain.forms import missing
from web.domain.transactions import enrich
from web.domain.transfer_form import SELECTION_KEYS, plan_transfer
from web.entrypoints.page import Page
from web.entrypoints.pipeline import PageRoute, signed_in
from web.service_layer.messages import AWAITING_VERDICT, field_errors

router = APIRouter(route_class=PageRoute)
TRANSFER_FIELDS = {
    "insufficient_units": "quantity",
    "range_not_held": "range",
    "unknown_account": "destination",
    "destination": "destination",
    "source": "source",
    "quantity": "quantity",
    "first": "first",
    "last": "last",
}
FORM_KEYS = ("source", "destination", "mode", "range", "block", "first", "last", "quantity", *SELECTION_KEYS)


async def _sources(page: Page) -> list[dict[str, Any]]:
    accounts = await page.collect("ledger", "/accounts", pages=10)
    context = page.context
    if context is not None and context.kind == HOLDER:
        mine = {g.account for g in page.grants if g.role in (ACCOUNT_INITIATOR, ACCOUNT_APPROVER)}
        accounts = [a for a in accounts if a["number"] in mine]
    return [a for a in accounts if a["status"] in ("active", "restricted")]


async def _blocks(page: Page, account: str | None) -> list[dict[str, Any]]:
    if not account:
        return []
    return await page.collect("ledger", f"/accounts/{account}/blocks", pages=10, limit=1000)


async def _form_page(
    page: Page, values: dict[str, str], status: int = 200, errors: dict[str, str] | None = None
) -> Response:
    template = "transfer_fields.html" if page.request.headers.get("hx-request") else "transfer.html"
    return page.render(
        template,
        status=status,
        title="Transfer units",
        sources=await _sources(page),
        blocks=await _blocks(page, values.get("source")),
        values=values,
        errors=errors or {},
    )


@router.get("/transfer", response_class=HTMLResponse, dependencies=[signed_in("transfer")])
async def transfer_form(request: Request) -> Response:
    page = Page.of(request)
    values = {k: v for k, v in request.query_params.items() if k in FORM_KEYS}
    return await _form_page(page, values)


@router.post("/transfer/preview", response_class=HTMLResponse, dependencies=[signed_in("transfer")])
async def transfer_preview(request: Request) -> Response:
    """The confirmation step: exactly which units would move, before anything is proposed."""
    page = Page.of(request)
    form = await page.form()
    plan, errors = plan_transfer(form, await _blocks(page, form.get("source")))
    if plan is not None and plan.mode != "explicit":
        # A6R-52's selection is the ledger's: it says which ranges it would move now.
        try:
            preview = await page.call("ledger", "POST", "/transfers/preview", json=plan.command)
        except ServiceError as exc:
            plan, errors = None, field_errors(exc, TRANSFER_FIELDS)
        else:
            plan.moving = preview["blocks"]
    if plan is None:
        return await _form_page(page, form, status=400, errors=errors)
    fields = {k: form[k] for k in FORM_KEYS if form.get(k)}
    return page.render(
        "transfer_confirm.html",
        title="Confirm the transfer",
        plan=plan,
        fields=fields,
        transaction_id=str(uuid.uuid4()),
    )


@router.post("/transfer", response_class=HTMLResponse, dependencies=[signed_in("transfer")])
async def transfer(request: Request) -> Response:
    page = Page.of(request)
    form = await page.form()
    held = await _blocks(page, form.get("source"))
    plan, errors = plan_transfer(form, held)
    if plan is not None:
        try:
            status, answer = await page.propose(plan.command, form.get("transaction_id") or None)
        except ServiceError as exc:
            errors = field_errors(exc, TRANSFER_FIELDS)
        else:
            tx = answer.get("transaction_id") or form.get("transaction_id")
            if status == 202:
                page.flash(AWAITING_VERDICT.format(what="transfer"), "info")
            else:
                moved = enrich((answer.get("result") or answer).get("blocks", []), held)
                quantity = sum(b["quantity"] for b in moved)
                page.flash(f"Transfer recorded: {quantity:,} units moved to {plan.command['destination']}.", "success")
            return page.redirect(f"/transactions/{tx}")
    return await _form_page(page, form, status=400, errors=errors)


CORRECTION_FIELDS = {
    "corrects": "corrects",
    "unknown_transaction": "corrects",
    "reason": "reason",
    "source": "source",
    "destination": "destination",
    "wrong_destination_type": "destination",
}


@router.get("/corrections", response_class=HTMLResponse, dependencies=[signed_in("corrections")])
async def correction_form(request: Request) -> Response:
    page = Page.of(request)
    values = {"correction": "reversal", "corrects": request.query_params.get("corrects", "")}
    return page.render(
        "corrections.html", title="Corrective transfer", values=values, errors={}, transaction_id=str(uuid.uuid4())
    )


@router.post("/corrections", response_class=HTMLResponse, dependencies=[signed_in("corrections")])
async def correction(request: Request) -> Response:
    """A6R-55: a reversal names the transfer it reverses; administrative cancellation and holding
    name the source, the destination and the units."""
    page = Page.of(request)
    form = await page.form()
    kind = form.get("correction", "reversal")
    command: dict[str, Any] = {"kind": "corrective_transfer", "correction": kind, "reason": form.get("reason", "")}
    errors = missing(form, {"reason": "Give the reason for the correction; it is recorded with it."})
    if kind == "reversal":
        errors.update(missing(form, {"corrects": "Give the id of the transfer to reverse."}))
        command["corrects"] = form.get("corrects")
    else:
        plan, problems = plan_transfer({**form, "mode": "selection"}, await _blocks(page, form.get("source")))
        errors.update(problems)
        if plan is not None:
            command.update(source=form["source"], destination=form["destination"].upper(), units=plan.command["units"])
    if not errors:
        try:
            status, answer = await page.propose(command, form.get("transaction_id") or None)
        except ServiceError as exc:
            errors = field_errors(exc, CORRECTION_FIELDS)
        else:
            if status == 202:
                page.flash(AWAITING_VERDICT.format(what="corrective transfer"), "info")
            else:
                page.flash("The corrective transfer was recorded.", "success")
            return page.redirect(f"/transactions/{answer.get('transaction_id')}")
    return page.render(
        "corrections.html",
        status=400,
        title="Corrective transfer",
        values=form,
        errors=errors,
        # A new transaction: the ledger records a refused one under its id.
        transaction_id=str(uuid.uuid4()),
    )
