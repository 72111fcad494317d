"""Account and transaction reviews (A6R-30): account lists, an account with its blocks (also as they
were at a past instant) and its transactions, status changes (A6R-41), transaction review, and the
registry administrators' daily summary of operations."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from web.adapters.backends import ServiceError
from web.domain import transactions as txs
from web.domain.formatting import day_window, is_day, parse_time
from web.domain.forms import missing
from web.entrypoints.page import Page
from web.entrypoints.pipeline import PageRoute, signed_in
from web.service_layer.messages import field_errors

router = APIRouter(route_class=PageRoute)
# Statuses each administrator may set (A6R-41; the ledger decides, this only narrows the choices).
SECTION_ADMIN_STATUSES = ("active", "restricted", "suspended", "terminated")
REGISTRY_ADMIN_STATUSES = ("active", "restricted", "suspended", "frozen", "terminated")


@router.get("/accounts", response_class=HTMLResponse, dependencies=[signed_in("accounts.view")])
async def accounts(request: Request) -> Response:
    page = Page.of(request)
    q = request.query_params
    params = {k: q.get(k) for k in ("section", "type", "status", "after", "sort")}
    answer = await page.call("ledger", "GET", "/accounts", params={**params, "limit": 50})
    template = "accounts_table.html" if request.headers.get("hx-request") else "accounts.html"
    return page.render(template, title="Accounts", accounts=answer["items"], next=answer.get("next"), filters=params)


async def _account_transactions(page: Page, number: str) -> list[dict[str, Any]]:
    """The account's newest thousand transactions, as the ledger filters them."""
    params = {"account": number, "sort": "-recorded"}
    return await page.collect("ledger", "/transactions", params, pages=1, limit=1000)


def status_choices(page: Page, account: dict[str, Any]) -> list[str]:
    options: tuple[str, ...]
    if page.may("corrections"):  # registry administrators
        options = REGISTRY_ADMIN_STATUSES
    elif account.get("section") and page.may("accounts.status", account["section"]):
        options = () if account["status"] == "frozen" else SECTION_ADMIN_STATUSES
    else:
        return []
    return [s for s in options if s != account["status"]]


async def _account_page(page: Page, number: str, status: int = 200, **extra: Any) -> Response:
    q = page.request.query_params
    account = await page.call("ledger", "GET", f"/accounts/{number}")
    errors: dict[str, str] = dict(extra.pop("errors", {}) or {})
    params: dict[str, Any] = {"limit": 100, "after": q.get("after"), "sort": q.get("sort")}
    at, at_text = page.instant(params, errors)
    try:
        blocks = await page.call("ledger", "GET", f"/accounts/{number}/blocks", params=params)
    except ServiceError as exc:
        if exc.code != "instant_not_yet_final":
            raise
        # An instant whose record is not final yet (in the future): said at the field, now shown.
        errors["at"] = exc.message
        params.pop("at", None)
        at = None
        blocks = await page.call("ledger", "GET", f"/accounts/{number}/blocks", params=params)
    history = await _account_transactions(page, number) if page.may("transactions.view") else []
    return page.render(
        "account.html",
        status=status,
        title=f"Account {number}",
        account=account,
        blocks=blocks["items"],
        next=blocks.get("next"),
        at=at,
        at_text=at_text,
        history=[(t, txs.summary(t)) for t in history[:100]],
        statuses=status_choices(page, account),
        # A new transaction each time: the ledger records a refused change under its id.
        status_tx=str(uuid.uuid4()),
        errors=errors,
        **extra,
    )


@router.get("/accounts/{number}", response_class=HTMLResponse, dependencies=[signed_in("accounts.view")])
async def account(request: Request, number: str) -> Response:
    page = Page.of(request)
    return await _account_page(page, number)


@router.post("/accounts/{number}/status", response_class=HTMLResponse, dependencies=[signed_in("accounts.status")])
async def change_status(request: Request, number: str) -> Response:
    page = Page.of(request)
    form = await page.form()
    errors = missing(form, {"status": "Choose the new status.", "reason": "Give the reason, for the record."})
    if not errors:
        command = {
            "kind": "change_account_status",
            "account": number,
            "status": form["status"],
            "reason": form["reason"],
        }
        try:
            await page.propose(command, form.get("transaction_id") or None)
        except ServiceError as exc:
            errors = field_errors(
                exc, {"status": "status", "reason": "reason", "status_change_not_permitted": "status"}
            )
        else:
            page.flash(f"Account {number} is now {form['status']}.", "success")
            return page.redirect(f"/accounts/{number}")
    return await _account_page(page, number, status=400, errors=errors, values=form)


@router.get("/transactions", response_class=HTMLResponse, dependencies=[signed_in("transactions.view")])
async def transactions(request: Request) -> Response:
    page = Page.of(request)
    q = request.query_params
    params = {"kind": q.get("kind"), "after": q.get("after"), "sort": q.get("sort"), "limit": 50}
    answer = await page.call("ledger", "GET", "/transactions", params=params)
    rows = [(t, txs.summary(t)) for t in answer["items"]]
    return page.render(
        "transactions.html", title="Transactions", rows=rows, next=answer.get("next"), filters={"kind": q.get("kind")}
    )


async def _blocks_before(page: Page, account: str | None, moment: Any) -> list[dict[str, Any]]:
    """The blocks an account held just before a transaction, for the moved blocks' metadata."""
    recorded = parse_time(moment)
    if not account or recorded is None:
        return []
    try:
        before = (recorded - timedelta(microseconds=1)).isoformat()
        answer = await page.call("ledger", "GET", f"/accounts/{account}/blocks", params={"at": before, "limit": 1000})
    except ServiceError:
        return []
    return list(answer["items"])


@router.get(
    "/transactions/{transaction_id}", response_class=HTMLResponse, dependencies=[signed_in("transactions.view")]
)
async def transaction(request: Request, transaction_id: str) -> Response:
    page = Page.of(request)
    tx = await page.call("ledger", "GET", f"/transactions/{transaction_id}")
    info = txs.summary(tx)
    blocks = info["blocks"]
    if blocks and tx["kind"] != "issue_units":
        blocks = txs.enrich(blocks, await _blocks_before(page, info["source"], tx.get("recorded_at")))
    reversible = tx["kind"] in ("transfer_units", "external_transfer_out") and tx["outcome"] == "recorded"
    return page.render(
        "transaction.html",
        title="Transaction",
        tx=tx,
        info=info,
        blocks=blocks,
        reversible=reversible and page.may("corrections"),
    )


def _not_a_day(page: Page) -> Response:
    message = "Give the day as year-month-day, e.g. 2026-11-27."
    return page.render("error.html", status=400, title="Not a day", message=message)


@router.get("/daily-summary", response_class=HTMLResponse, dependencies=[signed_in("daily_summary")])
async def daily_summary(request: Request) -> Response:
    page = Page.of(request)
    day = request.query_params.get("day", "")
    if day and not is_day(day):
        return _not_a_day(page)
    # The days of the newest 50,000 transactions; the chosen day's, whatever its age.
    recent = await page.collect("ledger", "/transactions", {"sort": "-recorded"}, pages=50, limit=1000)
    listed = await page.collect("ledger", "/transactions", day_window(day), pages=50, limit=1000) if day else []
    return page.render(
        "daily_summary.html",
        title="Daily summary of operations",
        days=txs.daily(recent),
        day=day,
        listed=[(t, txs.summary(t)) for t in listed],
    )
