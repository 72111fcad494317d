"""The browser-facing protections every web response and form gets (issue 7, item 1).

- A strict Content-Security-Policy: scripts, styles, images and connections from this origin only,
  no inline script, no eval, no plugins, no framing, forms posting only here.
- X-Content-Type-Options, Referrer-Policy, a frame-ancestors equivalent for old browsers
  (X-Frame-Options), Cross-Origin-Opener-Policy, a Permissions-Policy, and no caching of pages
  (they show account data).
- CSRF: every form (hidden field `csrf_token`) or script (header `X-CSRF-Token`) sends a token
  back, and every unsafe request must carry the right one. A visitor with a session: the synchronizer
  token kept in the server-side session. A visitor without one (before sign-in): a token bound to
  the CSRF cookie, so anonymous pages store nothing on the server (below).
- The session cookie: HttpOnly, SameSite=Lax, Secure (with the __Host- prefix) except on plain
  http development servers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping

from starlette.responses import Response

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def apply_security_headers(response: Response, *, cacheable: bool = False) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    if not cacheable:
        response.headers["Cache-Control"] = "no-store"
    return response


def csrf_presented(headers: Mapping[str, str], form: Mapping[str, object] | None) -> str | None:
    """The token a request carries: the header (scripts) or the hidden form field."""
    header = headers.get(CSRF_HEADER)
    if header:
        return header
    value = form.get(CSRF_FIELD) if form is not None else None
    return value if isinstance(value, str) and value else None


def csrf_valid(expected: str | None, presented: str | None) -> bool:
    """Constant-time comparison; a request without a session or without a token never passes."""
    if not expected or not presented:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())


# A visitor without a session: the CSRF cookie holds "<expiry>.<random nonce>" and the page's token
# is HMAC-SHA256(key, cookie), with a key derived from the services' secret (WebSettings.csrf_key).
# A POST passes if it carries the cookie, unexpired, and that cookie's token (double submit, bound
# to the nonce): a cross-site page can neither read the token nor compute it for the visitor's
# cookie, and a token goes with its own cookie only. Nothing is stored until a POST that passed
# needs a session (a sign-in or an activation under way); the session then keeps the same token.
def csrf_cookie_token(key: bytes, cookie: str) -> str:
    mac = hmac.new(key, cookie.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def new_csrf_cookie(now: float, lifetime: int) -> str:
    return f"{int(now) + lifetime}.{secrets.token_urlsafe(32)}"


def csrf_cookie_expiry(cookie: str | None) -> int | None:
    """When a well-formed CSRF cookie expires (epoch seconds); None for anything else."""
    if not cookie or len(cookie) > 100:
        return None
    expiry, _, nonce = cookie.partition(".")
    return int(expiry) if expiry.isascii() and expiry.isdigit() and len(nonce) >= 32 else None


def cookie_name(secure: bool) -> str:
    # __Host- cookies are only accepted when Secure, from the same host, for path /.
    return "__Host-registry-session" if secure else "registry-session"


def set_session_cookie(response: Response, session_id: str, *, secure: bool) -> None:
    response.set_cookie(cookie_name(secure), session_id, path="/", secure=secure, httponly=True, samesite="lax")


def clear_session_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(cookie_name(secure), path="/", secure=secure, httponly=True, samesite="lax")


def csrf_cookie_name(secure: bool) -> str:
    return "__Host-registry-csrf" if secure else "registry-csrf"


def set_csrf_cookie(response: Response, cookie: str, *, secure: bool, max_age: int) -> None:
    response.set_cookie(
        csrf_cookie_name(secure), cookie, max_age=max_age, path="/", secure=secure, httponly=True, samesite="lax"
    )
