"""The second factor as signing in and the step-up prompt both ask for it (A6R-6): an authenticator
code, a recovery code or a security key's answer; and the security key ceremony's options that
static/webauthn.js fetches (sign-in, step-up, adding a key)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.responses import JSONResponse

from web.adapters.backends import ServiceError
from web.domain.forms import json_field
from web.service_layer.messages import ACTION, field_errors

FACTOR_FIELDS = {"invalid_second_factor": "code", "code": "code"}


def second_factor_body(form: dict[str, str]) -> dict[str, Any]:
    method = form.get("method", "totp")
    if method == "webauthn":
        return {"method": method, "credential": json_field(form.get("credential") or "{}")}
    return {"method": method if method in ("totp", "recovery_code") else "totp", "code": form.get("code", "")}


async def confirm_factor(
    form: dict[str, str],
    send: Callable[[dict[str, Any]], Awaitable[Any]],
    *,
    missing: str,
    passthrough: tuple[str, ...] = (),
) -> tuple[Any, dict[str, str]]:
    """identity's answer to the factor the form gives, sent by `send`, or {form field: problem}.
    Refusals whose code is in `passthrough` are the caller's to handle, and raised."""
    if form.get("method", "totp") != "webauthn" and not form.get("code"):
        return None, {"code": missing}
    try:
        return await send(second_factor_body(form)), {}
    except ServiceError as exc:
        if exc.code in passthrough:
            raise
        return None, field_errors(exc, FACTOR_FIELDS)
    except ValueError:
        return None, {ACTION: "The security key's answer could not be read; try again."}


async def ceremony_options(fetch: Callable[[], Awaitable[Any]]) -> JSONResponse:
    """identity's WebAuthn options as JSON for the page's script; a refusal as {"error"} with 409."""
    try:
        options = await fetch()
    except ServiceError as exc:
        return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, status_code=409)
    return JSONResponse(options)
