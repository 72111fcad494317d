"""The browser-facing protections (issue 7, item 1): CSP and the other headers, CSRF tokens, and
the visible focus the style sheet gives every control."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.responses import Response

from web.entrypoints.security import (
    CSP,
    apply_security_headers,
    cookie_name,
    csrf_cookie_expiry,
    csrf_presented,
    csrf_valid,
    new_csrf_cookie,
    set_csrf_cookie,
    set_session_cookie,
)


def test_csp_is_strict() -> None:
    directives = dict(d.split(" ", 1) for d in CSP.split("; "))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert directives["form-action"] == "'self'"
    assert "unsafe-inline" not in CSP and "unsafe-eval" not in CSP and "http" not in CSP


def test_every_response_gets_the_headers_and_pages_are_not_cached() -> None:
    page = apply_security_headers(Response("x"))
    assert page.headers["content-security-policy"] == CSP
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert "cache-control" not in apply_security_headers(Response("x"), cacheable=True).headers


def test_csrf_token_comes_from_the_header_or_the_form_field() -> None:
    assert csrf_presented({"x-csrf-token": "h"}, {"csrf_token": "f"}) == "h"
    assert csrf_presented({}, {"csrf_token": "f"}) == "f"
    assert csrf_presented({}, {}) is None
    assert csrf_presented({}, None) is None


def test_csrf_check_needs_a_session_token_and_the_same_token() -> None:
    assert csrf_valid("secret-token", "secret-token")
    assert not csrf_valid("secret-token", "other-token")
    assert not csrf_valid(None, "secret-token")
    assert not csrf_valid("secret-token", None)
    assert not csrf_valid("", "")


def test_session_cookie_is_httponly_samesite_and_secure_with_host_prefix() -> None:
    response = Response("x")
    set_session_cookie(response, "abc", secure=True)
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-registry-session=abc;")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" in cookie and "Path=/" in cookie
    assert "Domain" not in cookie
    plain = Response("x")
    set_session_cookie(plain, "abc", secure=False)
    assert plain.headers["set-cookie"].startswith("registry-session=abc;")
    assert "Secure" not in plain.headers["set-cookie"]
    assert cookie_name(False) == "registry-session"


def test_a6r51_the_anonymous_csrf_cookie_has_the_session_cookies_flags_and_an_expiry() -> None:
    response = Response("x")
    set_csrf_cookie(response, "1.n", secure=True, max_age=7200)
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-registry-csrf=1.n;")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" in cookie and "Path=/" in cookie
    assert "Max-Age=7200" in cookie and "Domain" not in cookie
    made = new_csrf_cookie(1000.5, 7200)
    assert csrf_cookie_expiry(made) == 8200 and made != new_csrf_cookie(1000.5, 7200)
    for junk in (None, "", "8200", "8200.short", "x8200." + "n" * 43, "\uff18\uff12." + "n" * 43, "1." + "n" * 100):
        assert csrf_cookie_expiry(junk) is None, junk


def test_focus_is_always_visible_in_the_style_sheet() -> None:
    """WCAG 2.4.7: every focusable element gets a focus ring; where links drop the outline they get
    a background and an underline bar instead, never nothing."""
    css = (Path(__file__).resolve().parents[2] / "web" / "static" / "registry.css").read_text()
    rules = dict(re.findall(r"^([^{}\n]*:focus-visible[^{}\n]*)\{([^}]*)\}", css, re.MULTILINE))
    assert rules.get(":focus-visible ", "").count("outline: 3px solid") == 1
    for selector, body in rules.items():
        assert "outline: none" not in body or ("background" in body and "box-shadow" in body), selector
