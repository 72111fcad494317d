"""The descriptors in force for a proposal's units, from the descriptors service (issue 6, item 4)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from registry_contracts.events.rules import UnitDescriptors, UnitRange
from registry_platform.auth import ServiceTokens
from registry_platform.inbox import RetryLater


class DescriptorsClient:
    def __init__(self, base_url: str, tokens: ServiceTokens, timeout: float = 5.0) -> None:
        self._url = f"{base_url.rstrip('/')}/descriptors/in-force"
        self._tokens = tokens
        self._timeout = timeout

    async def in_force(self, units: list[UnitRange], at: datetime) -> list[UnitDescriptors]:
        """Every serial of `units`, split at descriptor boundaries. A proposal must not be judged
        without them, so an unreachable service means: try again later (the ledger's deadline
        rejects the proposal if that takes too long)."""
        body: dict[str, Any] = {
            "at": at.isoformat(),
            "units": [
                {
                    "scope": u.scope.model_dump(),
                    "first": u.first,
                    "last": u.last,
                    "cooperative_approach": u.cooperative_approach,
                }
                for u in units
            ],
        }
        headers = {"Authorization": f"Bearer {self._tokens.bearer()}"}
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as http:
                response = await http.post(self._url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise RetryLater(f"the descriptors service did not answer: {exc}") from exc
        if response.status_code >= 500:
            raise RetryLater(f"the descriptors service answered {response.status_code}")
        response.raise_for_status()
        return [UnitDescriptors.model_validate(d) for d in response.json()["descriptors"]]
