"""Descriptor screens (A6R-30, A6R-45): the descriptor review of units (their descriptor history and
what applies to them at an instant), the authorizations of a section, and issuing one."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from web.adapters.backends import ServiceError
from web.domain.descriptors import (
    AUTHORIZATION_FIELDS,
    AUTHORIZATIONS_NEWEST_FIRST,
    COVERS,
    DEDICATIONS,
    OIMP_TRIGGERS,
    authorization_request,
    described,
    listed,
    supersedable,
)
from web.domain.formatting import parse_time
from web.domain.transactions import SCOPE_KEYS
from web.entrypoints.page import Page
from web.entrypoints.pipeline import PageRoute, signed_in
from web.service_layer.messages import field_errors

router = APIRouter(route_class=PageRoute)
UNIT_KEYS = (*SCOPE_KEYS, "first", "last")


@router.get("/descriptors/units", response_class=HTMLResponse, dependencies=[signed_in("descriptors.view")])
async def unit_review(request: Request) -> Response:
    """A unit's or a serial range's descriptors: the history, and the status at an instant."""
    page = Page.of(request)
    q = request.query_params
    units = {k: q.get(k, "") for k in UNIT_KEYS}
    errors: dict[str, str] = {}
    if not all(units[k] for k in (*SCOPE_KEYS, "first")):
        return page.render(
            "error.html",
            status=400,
            title="Which units?",
            message="Open the descriptor review from an account, a transaction or a block.",
        )
    params: dict[str, Any] = dict(units)
    _, at_text = page.instant(params, errors)
    history = await page.call("descriptors", "GET", "/units/history", params=params)
    status = await page.call("descriptors", "GET", "/units/status", params=params)
    return page.render(
        "descriptor_review.html",
        title="Descriptor review",
        units=units,
        at=parse_time(status["at"]),
        at_text=at_text,
        segments=status["descriptors"],
        history=[(d, described(d)) for d in history["items"]],
        errors=errors,
    )


async def _authorizations_page(
    page: Page, section: str | None, status: int = 200, values: dict[str, str] | None = None, **extra: Any
) -> Response:
    params = {
        **AUTHORIZATIONS_NEWEST_FIRST,
        "party": section,
        "after": page.request.query_params.get("after"),
        "limit": 50,
    }
    listing = await page.call("descriptors", "GET", "/descriptors", params=params)
    may_issue = section is not None and page.may("authorizations.issue", section)
    approaches = await page.call("ledger", "GET", "/cooperative-approaches") if may_issue else []
    earlier = (
        await page.collect("descriptors", "/descriptors", {**AUTHORIZATIONS_NEWEST_FIRST, "party": section})
        if may_issue
        else []
    )
    return page.render(
        "authorizations.html",
        status=status,
        title=f"Authorizations of {section}" if section else "Authorizations",
        section=section,
        authorizations=listed(listing["items"]),
        next=listing.get("next"),
        may_issue=may_issue,
        approaches=[(a["id"], f"{a['id']} · {a['name']}") for a in approaches if section in a["parties"]],
        supersedable=supersedable(earlier),
        covers=COVERS,
        dedications=DEDICATIONS,
        triggers=OIMP_TRIGGERS,
        values={"metric": "tCO2e", "covers": "units", "authorization_id": str(uuid.uuid4()), **(values or {})},
        errors=extra.pop("errors", {}),
        **extra,
    )


@router.get("/authorizations", response_class=HTMLResponse, dependencies=[signed_in("descriptors.view")])
async def authorizations(request: Request) -> Response:
    page = Page.of(request)
    section = request.query_params.get("section") or (page.context.section if page.context else None)
    return await _authorizations_page(page, section)


@router.post("/authorizations", response_class=HTMLResponse, dependencies=[signed_in("authorizations.issue")])
async def issue_authorization(request: Request) -> Response:
    """A6R-45, A6R-56: the Party's section administrator authorizes a serial range, or the units that
    meet conditions, for NDC, OIMP or both, possibly superseding an earlier authorization."""
    page = Page.of(request)
    form = await page.form()
    section = form.get("section", "")
    page.require("authorizations.issue", section)
    body, errors = authorization_request(form, section)
    if body is not None:
        authorization_id = form.get("authorization_id") or str(uuid.uuid4())
        try:
            await page.call("descriptors", "PUT", f"/authorizations/{authorization_id}", json=body)
        except ServiceError as exc:
            errors = field_errors(exc, AUTHORIZATION_FIELDS)
        else:
            covered = form["range"] if body["units"] else "the units that meet its conditions"
            page.flash(f"The authorization of {covered} was issued.", "success")
            return page.redirect(f"/authorizations?section={section}")
    return await _authorizations_page(page, section, status=400, values=form, errors=errors)
