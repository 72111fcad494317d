"""System and registry administrators' oversight: the registry administrators (A6R-56 system
administrators), identity's log with the credential issuance log (A6R-50), the ledger's journal (A6R-48), and
impersonation (A6R-43), whose banner every page shows while it lasts."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from registry_platform.auth import REGISTRY_ADMINISTRATOR
from web.adapters.backends import ServiceError
from web.domain.forms import is_digits, is_uuid
from web.domain.identity_log import KINDS, log_query
from web.entrypoints.page import Page
from web.entrypoints.people import user_page
from web.entrypoints.pipeline import PageRoute, signed_in
from web.service_layer import tokens
from web.service_layer.messages import field_errors

router = APIRouter(route_class=PageRoute)


@router.get(
    "/registry-administrators", response_class=HTMLResponse, dependencies=[signed_in("registry_administrators")]
)
async def registry_administrators(request: Request) -> Response:
    page = Page.of(request)
    grants = await page.collect("identity", "/grants", {"role": REGISTRY_ADMINISTRATOR}, pages=10)
    people = {}
    for g in grants:
        if g["user_id"] not in people:
            try:
                people[g["user_id"]] = await page.call("identity", "GET", f"/users/{g['user_id']}")
            except ServiceError:
                people[g["user_id"]] = {"id": g["user_id"]}
    return page.render("registry_administrators.html", title="Registry administrators", grants=grants, people=people)


@router.get("/identity-log", response_class=HTMLResponse, dependencies=[signed_in("identity_log")])
async def identity_log(request: Request) -> Response:
    """Identity's hash-chained log newest first (A6R-48): kind "credential" is the credential
    issuance log (A6R-50); a person's page links to the entries about them."""
    page = Page.of(request)
    query, problems = log_query(request.query_params)
    answer: dict[str, Any] = {"items": [], "next": None}
    if not problems:
        answer = await page.call("identity", "GET", "/log", params=query)
    return page.render(
        "identity_log.html",
        title="Identity log",
        status=400 if problems else 200,
        entries=answer["items"],
        next=answer.get("next"),
        kinds=KINDS,
        errors=problems,
    )


@router.get("/journal", response_class=HTMLResponse, dependencies=[signed_in("journal")])
async def journal(request: Request) -> Response:
    """The ledger's hash-chained journal (A6R-48) from an entry number on, and its latest signed
    checkpoint: what `registry-ledger verify` recomputes."""
    page = Page.of(request)
    after = request.query_params.get("after", "")
    params = {"after": after if is_digits(after) and len(after) < 19 else "0", "limit": 50}
    entries = await page.call("ledger", "GET", "/journal", params=params)
    latest = await page.call("ledger", "GET", "/journal/checkpoints", params={"limit": 1})
    return page.render(
        "journal.html",
        title="Ledger journal",
        entries=entries["items"],
        next=entries.get("next"),
        checkpoint=latest["items"][0] if latest["items"] else None,
    )


@router.post("/impersonation", response_class=HTMLResponse, dependencies=[signed_in("impersonate")])
async def impersonate(request: Request) -> Response:
    """Act for a user with a short-lived token naming you as the actor (RFC 8693 `act`)."""
    page = Page.of(request)
    form = await page.form()
    user_id = form.get("user_id", "")
    if not is_uuid(user_id):
        message = "Choose the user to act for on their page, then give the reason."
        return page.render("error.html", status=400, title="No user chosen", message=message)
    if len(form.get("reason", "")) < 3:
        return await user_page(page, user_id, 400, {"impersonation_reason": "Give the reason; it is recorded."}, form)
    try:
        answer = await page.call(
            "identity", "POST", "/impersonation", json={"user_id": user_id, "reason": form["reason"]}, own=True
        )
    except ServiceError as exc:
        return await user_page(page, user_id, 400, field_errors(exc, {"reason": "impersonation_reason"}), form)
    session = page.user_session()
    claims = await tokens.claims(page.ctx, answer["access_token"])
    session.set(
        "impersonation",
        {
            "access": answer["access_token"],
            "expires_at": time.time() + float(answer.get("expires_in", 120)),
            "expires_iso": datetime.fromtimestamp(time.time() + float(answer.get("expires_in", 120)), UTC).isoformat(),
            "user_id": user_id,
            "label": form.get("label") or user_id,
            "reason": form["reason"],
            **claims,
        },
    )
    session.pop("context")
    # A form kept for after a step-up was the administrator's own; it must not go on the user's token.
    session.pop("step_up")
    page.flash(
        f"You are now acting as {form.get('label') or user_id}. Everything you do is recorded with your name.", "info"
    )
    return page.redirect("/home")


@router.post("/impersonation/end", response_class=HTMLResponse, dependencies=[signed_in()])
async def end_impersonation(request: Request) -> Response:
    page = Page.of(request)
    session = page.user_session()
    imp = session.pop("impersonation")
    session.pop("context")
    session.pop("step_up")
    if imp:
        try:
            await page.ctx.backends.call("identity", "POST", "/sessions/logout", token=imp["access"])
        except Exception:  # noqa: S110 - the token dies within minutes anyway
            pass
        page.flash(f"You stopped acting as {imp.get('label', 'the user')}.", "info")
    return page.redirect("/home")
