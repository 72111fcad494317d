"""The ledger's read API, for what its events do not carry: an account's section and type, and the
Parties of a cooperative approach.

The service calls as `registry_service`. Until identity issues credentials to services (private_key_jwt,
issue 4), the token is minted with the development issuer's key, as every service verifies it.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from descriptors.adapters.history import Account
from descriptors.domain.errors import Unavailable
from registry_platform.auth import ServiceTokens


class LedgerClient:
    def __init__(self, base_url: str, tokens: ServiceTokens | None, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._tokens = tokens
        self._timeout = timeout
        self._approaches: tuple[float, dict[str, list[str]]] | None = None

    @property
    def configured(self) -> bool:
        return bool(self.base_url)

    async def _get(self, path: str) -> httpx.Response:
        if self._tokens is None:
            raise Unavailable("no ledger is configured (REGISTRY_LEDGER_URL)")
        try:
            headers = {"Authorization": f"Bearer {self._tokens.bearer()}"}
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                return await client.get(f"{self.base_url}{path}", headers=headers)
        except httpx.HTTPError as exc:
            raise Unavailable(f"the ledger at {self.base_url} did not answer: {exc}") from exc

    async def account(self, number: str) -> Account | None:
        response = await self._get(f"/accounts/{number}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise Unavailable(f"the ledger answered {response.status_code} for account {number}")
        body: dict[str, Any] = response.json()
        return Account(body["number"], body.get("section"), body["type"], body.get("cooperative_approach"))

    async def approaches(self, max_age: float = 60.0) -> dict[str, list[str]]:
        now = time.monotonic()
        if self._approaches is not None and self._approaches[0] > now:
            return self._approaches[1]
        response = await self._get("/cooperative-approaches")
        if response.status_code != 200:
            raise Unavailable(f"the ledger answered {response.status_code} for its cooperative approaches")
        found = {a["id"]: list(a["parties"]) for a in response.json()}
        self._approaches = (now + max_age, found)
        return found
