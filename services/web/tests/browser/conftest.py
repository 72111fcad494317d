"""The whole registry in this process (real PostgreSQL, broker and services), and Debian's chromium
driven by Playwright, for the web interface's browser tests.

Chromium comes from Debian (`make browser`, part of `make test`); Playwright's own browser builds
are never downloaded. axe-core comes from npm at test time (`npm pack axe-core`) into
tests/browser/vendor/ (git-ignored). Without chromium the browser tests are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest
from sqlalchemy import text

from registry_platform.devstack.stack import SERVICES
from registry_platform.roles import ensure_service_roles, service_database
from registry_platform.service import create_app
from registry_platform.testing.infra import free_port, serve_app, wait_ready
from registry_platform.testing.services import settings_class

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HERE = Path(__file__).resolve().parent
SCREENSHOTS = Path(os.environ.get("REGISTRY_SCREENSHOTS", HERE.parents[3] / ".data" / "screenshots" / "web"))

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@dataclass
class Registry:
    urls: dict[str, str]
    apps: dict[str, Any]
    web: str  # the web UI as the browser reaches it (http://localhost:PORT: WebAuthn needs a domain)

    @property
    def identity(self) -> Any:
        return self.apps["identity"].state.runtime.state["identity"]

    async def outbound(self, user_id: str, purpose: str) -> str:
        """The latest activation link or code identity queued for a user (its mail/SMS gateway's job)."""
        async with self.identity.read() as conn:
            body = await conn.scalar(
                text("SELECT body FROM outbound_messages WHERE user_id = :u AND purpose = :p ORDER BY id DESC LIMIT 1"),
                {"u": user_id, "p": purpose},
            )
        return str(body)

    async def web_sql(self, statement: str) -> list[Any]:
        """A statement on the web service's own tables (sessions), as the web service itself."""
        engine = self.apps["web"].state.runtime.engine
        async with engine.begin() as conn:
            result = await conn.execute(text(statement))
            return list(result.all()) if result.returns_rows else []

    async def user_id(self, email: str) -> str:
        async with self.identity.read() as conn:
            return str(await conn.scalar(text("SELECT id::text FROM users WHERE email = :e"), {"e": email}))


@pytest.fixture
async def registry(infra, database_url, service_settings) -> AsyncIterator[Registry]:  # type: ignore[no-untyped-def]
    """Every service as `serve_all` starts them, with the web told where the others are and
    descriptors where the ledger is (as `make up` does with REGISTRY_<SERVICE>_URL), and identity
    set for a browser on localhost."""
    web_port = free_port()
    web = f"http://localhost:{web_port}"
    modules = [s.module for s in SERVICES]
    ensure_service_roles(infra.admin_dsn(), database_url.rsplit("/", 1)[1], modules)
    overrides: dict[str, dict[str, Any]] = {
        "identity": {
            "argon2_time_cost": 1,
            "argon2_memory_kib": 8192,
            "trusted_proxies": ["127.0.0.1"],
            "activation_url": f"{web}/activate",
            "webauthn_rp_id": "localhost",
            "webauthn_origins": [web],
            # Long enough that a sign-in made with identity's clock set back (to provoke a step-up)
            # still has a live token; refreshing is exercised by expiring the session's copy.
            "access_token_seconds": 900,
        },
        "web": {"grants_refresh_seconds": 0},
    }
    urls: dict[str, str] = {}
    apps: dict[str, Any] = {}
    async with contextlib.AsyncExitStack() as stack:
        # Descriptors asks the ledger, the web all of them: they start after those they need.
        order = {"descriptors": 1, "web": 2}
        for entry in sorted(SERVICES, key=lambda s: (order.get(s.name, 0), s.name != "reporting")):
            values: dict[str, Any] = service_database(database_url, entry.module)
            if entry.name == "web":
                backends = ("reporting", "identity", "ledger", "descriptors")
                values.update({f"{name}_url": urls[name] for name in backends})
            if entry.name == "descriptors":
                values["ledger_url"] = urls["ledger"]
            values.update(overrides.get(entry.name, {}))
            settings = service_settings(entry.name, settings_class(entry.module), **values)
            bootstrap = importlib.import_module(f"{entry.module}.bootstrap")
            build = getattr(bootstrap, "build_app", None)
            app = build(settings) if build is not None else create_app(bootstrap.DEFINITION, settings)
            apps[entry.name] = app
            port = web_port if entry.name == "web" else None
            urls[entry.name] = await stack.enter_async_context(serve_app(app, port))
        for url in urls.values():
            await wait_ready(url, timeout=90)
        yield Registry(urls, apps, web)


@pytest.fixture(scope="session")
def chromium_installed() -> bool:
    return CHROMIUM.exists()


@pytest.fixture(scope="session")
async def browser(chromium_installed: bool) -> AsyncIterator[Any]:
    if not chromium_installed:
        # `make test` installs it where it can (root). A skipped browser test would prove nothing.
        pytest.fail("Debian's chromium is not installed: run `make browser` as root (or `apt-get install chromium`)")
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class Authenticator:
    """A user's authenticator app: each code is for a step no earlier code used (identity accepts
    each step once, and one step either side of now). Within one 30-second window that gives three
    codes while the window's first 20 seconds last, two after; the next waits for the window."""

    secret: str
    last_step: int = -1

    async def code(self) -> str:
        while True:
            now = time.time()
            current = int(now) // 30
            # The previous step is accepted until the next boundary: used only while that is at
            # least 10 s away, so that identity still accepts the code when it checks it.
            earliest = current - 1 if now % 30 < 20 else current
            step = max(self.last_step + 1, earliest)
            if step <= current + 1:
                break
            await asyncio.sleep(1)  # the services run in this event loop: never block it
        self.last_step = step
        return pyotp.TOTP(self.secret).at(step * 30)


# WCAG 2.1 A and AA, as axe-core tags them.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
AXE_RUN = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
  return result.violations.map(v => v.id + ': ' + v.help + ' ' + v.nodes.map(n => n.target.join(' ')).join(' | '));
}"""
OVERFLOWING = """Array.from(document.querySelectorAll('body *'))
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
  .slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id)"""
# Labels, controls, headings and navigation that cover one another (more than 2px both ways).
OVERLAPPING = """(() => {
  const name = e => e.tagName + '.' + e.className + '#' + e.id + ' ' + (e.textContent || '').trim().slice(0, 30);
  const shown = Array.from(document.querySelectorAll(
    'h1, h2, h3, label, input, select, textarea, button, th, legend, caption, .brand, nav a, .flash, .field-error'
  )).filter(e => {
    const r = e.getBoundingClientRect();
    return r.width > 1 && r.height > 1 && !e.closest('.visually-hidden') && getComputedStyle(e).visibility !== 'hidden';
  });
  const found = [];
  for (let i = 0; i < shown.length; i++) {
    for (let j = i + 1; j < shown.length; j++) {
      const a = shown[i], b = shown[j];
      if (a.contains(b) || b.contains(a)) continue;
      const r = a.getBoundingClientRect(), q = b.getBoundingClientRect();
      const w = Math.min(r.right, q.right) - Math.max(r.left, q.left);
      const h = Math.min(r.bottom, q.bottom) - Math.max(r.top, q.top);
      if (w > 2 && h > 2) found.push(name(a) + ' / ' + name(b));
    }
  }
  return found.slice(0, 5);
})()"""
# The page's landmarks (WCAG 1.3.1, 2.4.1): axe's landmark rules are best practice, not WCAG tags.
LANDMARKS = """(() => {
  const count = s => document.querySelectorAll(s).length;
  const problems = [];
  if (count('main#main') !== 1) problems.push('not exactly one main');
  if (count('body > header') !== 1) problems.push('not exactly one banner');
  if (count('body > footer') !== 1) problems.push('not exactly one contentinfo');
  if (count('h1') !== 1) problems.push('not exactly one h1');
  if (!document.querySelector('a.skip-link[href="#main"]')) problems.push('no skip link to main');
  const unlabelled = Array.from(document.querySelectorAll('nav')).filter(n => !n.getAttribute('aria-label'));
  if (unlabelled.length) problems.push('unlabelled nav');
  return problems;
})()"""
# Visible focus (WCAG 2.4.7): the focused element has an outline or the focus ring's shadow.
FOCUS_SHOWN = """(() => {
  const s = getComputedStyle(document.activeElement);
  return s.outlineStyle !== 'none' || s.boxShadow !== 'none';
})()"""


class Person:
    """One person at their own browser (a fresh context: own cookies), who checks every page they
    see: axe-core finds no WCAG 2.1 A/AA violation, the landmarks are there, the CSP reported
    nothing, nothing scrolls sideways."""

    def __init__(self, name: str, page: Any, registry: Registry, axe: str | None) -> None:
        self.name = name
        self.page = page
        self.registry = registry
        self.axe = axe
        self.csp_reports: list[str] = []
        self.audited: list[str] = []
        self.authenticator: Authenticator | None = None
        self.email = ""
        self.password = ""
        self.recovery_codes: list[str] = []
        page.on("console", self._console)
        page.set_default_timeout(10_000)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            self.csp_reports.append(message.text)

    async def goto(self, path: str) -> None:
        await self.page.goto(path if path.startswith("http") else f"{self.registry.web}{path}")
        await self.audit()

    async def audit(self) -> None:
        page = self.page
        await page.wait_for_load_state("domcontentloaded")
        where = page.url.replace(self.registry.web, "")
        assert self.csp_reports == [], f"{self.name} on {where}: CSP reports {self.csp_reports}"
        wide = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert wide <= 0, f"{self.name} on {where}: the page scrolls sideways by {wide}px"
        landmarks = await page.evaluate(LANDMARKS)
        assert landmarks == [], f"{self.name} on {where}: {landmarks}"
        if self.axe is not None:
            if not await page.evaluate("typeof window.axe !== 'undefined'"):
                await page.evaluate(self.axe + "\n;0")
            result = await page.evaluate(AXE_RUN, AXE_TAGS)
            assert result == [], f"{self.name} on {where}: axe-core found {result}"
        self.audited.append(where)

    async def tab_to(self, selector: str, presses: int = 80) -> None:
        """Tab (no mouse, WCAG 2.1.1) from the current focus to the element, whose focus shows (2.4.7)."""
        for _ in range(presses):
            await self.page.keyboard.press("Tab")
            if await self.page.evaluate(f"document.activeElement.matches({selector!r})"):
                assert await self.page.evaluate(FOCUS_SHOWN), f"{self.name}: no visible focus on {selector}"
                return
        raise AssertionError(f"{self.name}: {selector} cannot be reached with the Tab key on {self.page.url}")

    async def type_into(self, selector: str, text: str) -> None:
        await self.tab_to(selector)
        await self.page.keyboard.type(text)

    async def click(self, name: str, role: str = "button") -> None:
        await self.page.get_by_role(role, name=name, exact=True).first.click()
        await self.audit()

    async def fill(self, values: dict[str, str]) -> None:
        for label, value in values.items():
            field = self.page.get_by_label(label, exact=True)
            if not await field.count():
                field = self.page.get_by_label(f"{label} (optional)", exact=True)
            if not await field.count():
                raise AssertionError(f"{self.name}: no field {label!r} on {self.page.url}:\n{await self.main()}")
            await field.fill(value)

    async def main(self) -> str:
        return str(await self.page.locator("main").inner_text())

    async def flash(self) -> str:
        return str(await self.page.locator("#messages").inner_text())

    async def activate(self, link: str, code: str, password: str) -> None:
        """Open the activation link, give the code, enrol the authenticator and choose a password."""
        await self.goto(link)
        await self.fill({"Activation code": code})
        await self.click("Continue")
        secret = (await self.page.locator("#totp-secret").inner_text()).replace(" ", "")
        self.authenticator = Authenticator(secret)
        self.password = password
        await self.fill({"Choose a password": password, "Type the password again": password})
        await self.fill({"6-digit code your authenticator app now shows": await self.authenticator.code()})
        await self.click("Finish activation")
        shown = await self.page.locator("ul.codes li").count()
        assert shown == 10, f"ten recovery codes are shown once: {await self.page.locator('main').inner_text()}"
        self.recovery_codes = [c.strip() for c in await self.page.locator("ul.codes li").all_inner_texts()]

    async def sign_in(self, email: str) -> None:
        assert self.authenticator is not None
        self.email = email
        await self.goto("/sign-in")
        await self.fill({"Email address": email, "Password": self.password})
        await self.click("Continue")
        await self.fill({"6-digit code from your authenticator app": await self.authenticator.code()})
        await self.click("Sign in")
        assert self.page.url.endswith("/home"), await self.flash()

    async def confirm_if_asked(self) -> None:
        """Step-up (RFC 9470): elevated operations want a second factor from the last 5 minutes."""
        if "/step-up" in self.page.url:
            assert self.authenticator is not None
            await self.fill({"6-digit code from your authenticator app": await self.authenticator.code()})
            await self.click("Confirm")
            await self.click("Continue")

    async def screenshots(self, label: str) -> None:
        """The page at 1280x800, 1024x768 and 390x844: saved for review, never scrolling sideways
        (tables scroll inside their own region), nothing covering anything else."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - a test helper, once
        for width, height in ((1280, 800), (1024, 768), (390, 844)):
            await self.page.set_viewport_size({"width": width, "height": height})
            await self.page.evaluate("window.scrollTo(0, 0)")  # the sticky impersonation banner covers what scrolls
            wide = await self.page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            culprits = await self.page.evaluate(OVERFLOWING)
            assert wide <= 0, f"{label} at {width}x{height} scrolls sideways by {wide}px: {culprits}"
            overlaps = await self.page.evaluate(OVERLAPPING)
            assert overlaps == [], f"{label} at {width}x{height}: overlapping {overlaps}"
            await self.page.screenshot(path=str(SCREENSHOTS / f"{label}-{width}x{height}.png"), full_page=True)
        await self.page.set_viewport_size({"width": 1280, "height": 800})


@pytest.fixture
async def people(registry: Registry, browser: Any, axe: str | None) -> AsyncIterator[Any]:
    """A factory of people, each at their own browser context."""
    contexts: list[Any] = []

    async def person(name: str) -> Person:
        context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
        contexts.append(context)
        return Person(name, await context.new_page(), registry, axe)

    yield person
    for context in contexts:
        await context.close()
