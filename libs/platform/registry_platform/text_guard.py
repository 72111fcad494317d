"""Refuse, at the boundary, text no PostgreSQL column can store: a NUL character (U+0000) anywhere in
a request, and an unpaired UTF-16 surrogate in a JSON body (valid JSON, yet not text: it cannot be
encoded as UTF-8). Left in, either reaches the database and fails there, a 500 the caller cannot act
on; in the ledger, a whole batch of other clients' transactions would fail with it.

A body larger than MAX_BODY_BYTES is refused too (413), before it is read whole: the server sets no
limit of its own, so anyone, signed in or not, could otherwise make a service hold gigabytes.

A plain ASGI middleware: the body is read here and replayed to the application unchanged."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry_platform.errors import error_body

CODE = "invalid_character"
# Far above any request the registry takes (the largest, a descriptor naming 1,000 unit ranges, is
# a few hundred KiB), and below what the outbox can carry as one event (outbox.MAX_EVENT_BYTES).
MAX_BODY_BYTES = 512 * 1024
NUL = "a NUL character (U+0000)"
SURROGATE = "an unpaired surrogate (\\ud800 to \\udfff), which is not text"


def problem_in_url(scope: Scope) -> str | None:
    if "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b""):
        return f"The request's URL contains {NUL}; remove it."
    return None


def _first_bad(value: Any) -> str | None:
    """What is wrong with the first unstorable string in a parsed JSON value, keys included."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                return NUL
            try:
                item.encode()
            except UnicodeEncodeError:
                return SURROGATE
    return None


def problem_in_body(content_type: str, body: bytes) -> str | None:
    if b"\x00" in body:
        return f"The request's body contains {NUL}; remove it."
    if content_type.startswith("application/x-www-form-urlencoded") and b"%00" in body:
        return f"The form contains {NUL}; remove it."
    # JSON carries both only as \u escapes: most bodies have none and cost one search.
    if "json" in content_type and b"\\u" in body:
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError):
            return None  # not JSON, or nested too deep to parse: the application refuses it with its own code
        found = _first_bad(parsed)
        if found is not None:
            return f"The request's body contains {found}; remove it."
    return None


class _TooLarge(Exception):
    pass


def _too_large(limit: int) -> JSONResponse:
    message = f"The request's body is larger than {limit:,} bytes, the most the registry takes; send less."
    return JSONResponse(error_body("request_too_large", message), status_code=413)


class RefuseUnstorableText:
    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = problem_in_url(scope)
        if problem is None and scope["method"] in ("POST", "PUT", "PATCH", "DELETE"):
            headers = dict(scope["headers"])
            declared = headers.get(b"content-length", b"")
            try:
                if declared.isdigit() and int(declared) > self.max_body_bytes:
                    raise _TooLarge
                messages = await _whole_body(receive, self.max_body_bytes)
            except _TooLarge:
                await _too_large(self.max_body_bytes)(scope, receive, send)
                return
            content_type = headers.get(b"content-type", b"").decode("latin-1")
            body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
            problem = problem_in_body(content_type.lower(), body)
            receive = _replay(messages, receive)
        if problem is None:
            await self.app(scope, receive, send)
            return
        await JSONResponse(error_body(CODE, problem), status_code=422)(scope, receive, send)


async def _whole_body(receive: Receive, limit: int) -> list[Message]:
    messages = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        size += len(message.get("body", b""))
        if size > limit:
            raise _TooLarge
        if message["type"] != "http.request" or not message.get("more_body", False):
            return messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed
