"""The welcome dashboards, one per working context (A6R-30): account holders see their balances;
section administrators their section's accounts, holdings, pending applications and authorizations; registry
administrators sections, cooperative approaches, administrative accounts and today's operations;
system administrators the registry administrators and the credential issuance log."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from registry_platform.auth import ACCOUNT_ROLES
from web.domain.access import HOLDER, OBSERVER, REGISTRY, SECTION, SYSTEM
from web.domain.descriptors import AUTHORIZATIONS_NEWEST_FIRST, listed
from web.domain.formatting import day_window
from web.entrypoints.applications import pending_applications
from web.entrypoints.page import Page
from web.entrypoints.pipeline import PageRoute, signed_in
from web.service_layer import tokens

router = APIRouter(route_class=PageRoute)


async def _fresh_grants(page: Page) -> None:
    """Grants change (an approval, a new role): re-read them through a refresh now and then."""
    session = page.user_session()
    auth = session.data.get("auth") or {}
    if page.impersonation is None and time.time() - auth.get("minted_at", 0) > page.ctx.settings.grants_refresh_seconds:
        await tokens.refresh(page.ctx, session, force=True)


def own_accounts(page: Page, section: str | None) -> list[str]:
    return [g.account for g in page.grants if g.role in ACCOUNT_ROLES and g.account and g.section in (None, section)]


async def holder_home(page: Page, section: str) -> dict[str, Any]:
    mine = set(own_accounts(page, section))
    accounts = [a for a in await page.collect("ledger", "/accounts", pages=5) if a["number"] in mine]
    applications = [a for a in await pending_applications(page, section) if a["applicant"] == page.acting.get("sub")]
    return {
        "accounts": accounts,
        "total": sum(a["balance"] for a in accounts),
        "applications": applications,
    }


async def section_home(page: Page, section: str) -> dict[str, Any]:
    accounts = await page.collect("ledger", "/accounts", {"section": section}, pages=10)
    listing = await page.call(
        "descriptors", "GET", "/descriptors", params={**AUTHORIZATIONS_NEWEST_FIRST, "party": section, "limit": 10}
    )
    by_type: Counter[str] = Counter()
    for a in accounts:
        by_type[a["type"]] += a["balance"]
    return {
        "accounts": accounts[:50],
        "account_count": len(accounts),
        "statuses": Counter(a["status"] for a in accounts),
        "holdings": sorted(by_type.items()),
        "total": sum(by_type.values()),
        "applications": await pending_applications(page, section),
        "authorizations": listed(listing["items"]),
    }


async def registry_home(page: Page) -> dict[str, Any]:
    accounts = await page.collect("ledger", "/accounts", pages=10)
    today = datetime.now(UTC).date().isoformat()
    todays = await page.collect("ledger", "/transactions", day_window(today), pages=10, limit=1000)
    return {
        "sections": await page.call("ledger", "GET", "/sections"),
        "approaches": await page.call("ledger", "GET", "/cooperative-approaches"),
        "service_accounts": [a for a in accounts if a.get("section") is None],
        "account_count": len(accounts),
        "today": today,
        "today_counts": sorted(Counter((t["kind"], t["outcome"]) for t in todays).items()),
        "applications": await pending_applications(page, None),
    }


async def system_home(page: Page) -> dict[str, Any]:
    admins = await page.collect("identity", "/grants", {"role": "registry_administrator"}, pages=10)
    recent = await page.call(
        "identity", "GET", "/log", params={"kind": "credential.", "order": "newest_first", "limit": 15}
    )
    return {"admins": admins, "log": recent["items"]}


@router.get("/home", response_class=HTMLResponse, dependencies=[signed_in()])
async def home(request: Request) -> Response:
    page = Page.of(request)
    await _fresh_grants(page)
    context = page.context
    if context is None:
        return page.render("home_none.html", title="Welcome")
    if context.kind == HOLDER and context.section:
        data = await holder_home(page, context.section)
        return page.render("home_holder.html", title="My accounts", **data)
    if context.kind == SECTION and context.section:
        data = await section_home(page, context.section)
        return page.render("home_section.html", title=f"Section {context.section}", **data)
    if context.kind == REGISTRY:
        return page.render("home_registry.html", title="Registry overview", **await registry_home(page))
    if context.kind == SYSTEM:
        return page.render("home_system.html", title="System administration", **await system_home(page))
    assert context.kind == OBSERVER
    accounts = await page.collect("ledger", "/accounts", pages=5)
    mine = [a for a in accounts if a.get("cooperative_approach") == context.approach]
    return page.render(
        "home_holder.html",
        title=f"Cooperative approach {context.approach}",
        accounts=mine,
        total=sum(a["balance"] for a in mine),
        applications=[],
    )
