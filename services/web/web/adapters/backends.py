"""HTTP calls to the registry's services on the user's behalf (the backend-for-frontend's only port).

Every service answers refusals as {"error": {"code", "message", "details"}}; they become
`ServiceError`, which pages show in plain language next to the field or action they concern.
"""

from __future__ import annotations

import json as jsonlib
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class ServiceError(Exception):
    """A service refused: its HTTP status, machine-readable code, message and details."""

    status: int
    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    service: str = ""

    def __str__(self) -> str:
        return f"{self.service} {self.status} {self.code}: {self.message}"


class ServiceUnavailable(Exception):
    """A service did not answer (down, starting, or timed out)."""

    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"{service} is not reachable: {reason}")
        self.service = service


def parse_error(service: str, response: httpx.Response) -> ServiceError:
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return ServiceError(
            response.status_code, "http_error", f"{service} answered {response.status_code}.", {}, service
        )
    details = error.get("details") if isinstance(error.get("details"), dict) else {}
    return ServiceError(
        response.status_code,
        str(error.get("code") or "http_error"),
        str(error.get("message") or ""),
        dict(details or {}),
        service,
    )


# The services' HTTP server (uvicorn) closes a connection idle for 5 s. A request sent on a pooled
# connection just as the server closes it gets no answer, and the page said a service "did not
# answer" for a request the service never read. Idle connections are dropped here well before.
IDLE_CONNECTION_SECONDS = 2.0


def backend_client(timeout: float) -> httpx.AsyncClient:
    """The web's one client for the services behind it, its connections pooled."""
    return httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(keepalive_expiry=IDLE_CONNECTION_SECONDS))


def checked_path(service: str, path: str) -> str:
    """A path the web composed with values from the browser (an account number, a user's id): refuse
    one those values would bend into another request (a query, a fragment, a dot segment)."""
    bent = any(c in path for c in "?#\\%") or any(ord(c) < 0x21 for c in path)
    if bent or any(segment in (".", "..") for segment in path.split("/")):
        raise ServiceError(404, "not_found", "There is no such item.", {}, service)
    return path


def encoded_body(service: str, body: Any) -> bytes | None:
    """The JSON request body, encoded as httpx would; a value JSON cannot carry (NaN, Infinity, a
    lone surrogate) is a refusal the page shows, not a 500 from inside httpx."""
    if body is None:
        return None
    try:
        return jsonlib.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except (ValueError, RecursionError) as exc:
        raise ServiceError(
            400, "unsendable_request", "The form holds a value that cannot be sent to the registry.", {}, service
        ) from exc


def _headers(token: str | None, body: bytes | None) -> dict[str, str]:
    headers = {"accept": "application/json"}
    if body is not None:
        headers["content-type"] = "application/json"
    if token:
        headers["authorization"] = f"Bearer {token}"
    return headers


class Backends:
    """Base URLs of the services and one pooled HTTP client for all of them."""

    def __init__(self, urls: dict[str, str], client: httpx.AsyncClient) -> None:
        self.urls = urls
        self.client = client

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        params: dict[str, Any] | None = None,
        client_address: str | None = None,
    ) -> Any:
        """The decoded JSON answer (None when empty); ServiceError on 4xx/5xx answers."""
        body = encoded_body(service, json)
        headers = _headers(token, body)
        if client_address:
            # Identity throttles sign-in failures per client: name the browser, not this service.
            headers["x-forwarded-for"] = client_address
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        try:
            url = f"{self.urls[service]}{checked_path(service, path)}"
            response = await self.client.request(method, url, headers=headers, content=body, params=clean)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(service, type(exc).__name__) from exc
        if response.status_code >= 400:
            if response.status_code in (502, 503, 504) and "error" not in response.text[:200]:
                raise ServiceUnavailable(service, f"HTTP {response.status_code}")
            raise parse_error(service, response)
        if not response.content:
            return None
        return response.json()

    async def call_with_status(
        self, service: str, method: str, path: str, *, token: str | None = None, json: Any = None
    ) -> tuple[int, Any]:
        """Like `call`, with the status code (the ledger answers 201 recorded, 202 proposed)."""
        body = encoded_body(service, json)
        headers = _headers(token, body)
        try:
            url = f"{self.urls[service]}{checked_path(service, path)}"
            response = await self.client.request(method, url, headers=headers, content=body)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(service, type(exc).__name__) from exc
        if response.status_code >= 400:
            raise parse_error(service, response)
        return response.status_code, (response.json() if response.content else None)
