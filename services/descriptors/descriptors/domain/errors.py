"""Refusals of the descriptors domain, each with a machine-readable code and an HTTP status."""

from __future__ import annotations

from typing import Any


class DescriptorError(Exception):
    """A request the registry refuses; the entrypoints turn it into a RegistryError."""

    status = 422

    def __init__(self, code: str, message: str, *, status: int | None = None, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        if status is not None:
            self.status = status


class NotFound(DescriptorError):
    status = 404


class Conflict(DescriptorError):
    status = 409


class Forbidden(DescriptorError):
    status = 403


class Unavailable(ConnectionError):
    """A service this one depends on cannot answer now; inbox handlers retry in place (OSError)."""
