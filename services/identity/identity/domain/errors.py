"""Refusals of the identity domain, answered as 4xx with a machine-readable code."""

from __future__ import annotations

from typing import Any

from registry_platform.errors import RegistryError


class Refused(RegistryError):
    """A rule of identity refused the request; `status` is the HTTP status the edge answers with."""

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        # A throttled client learns when to retry (RFC 9110 Retry-After).
        headers = {"Retry-After": str(details["retry_after"])} if "retry_after" in details else None
        super().__init__(status, code, message, headers=headers, **details)


def not_found(what: str, ident: object) -> Refused:
    return Refused(404, f"unknown_{what}", f"There is no {what.replace('_', ' ')} {ident} you may see.")


def forbidden(code: str, message: str) -> Refused:
    return Refused(403, code, message)
