"""An account's page (A6R-41) shown again after the ledger refused a status change."""

from __future__ import annotations

import re
from typing import Any

from registry_platform.auth import ACCOUNT_INITIATOR
from web.adapters.backends import ServiceError
from web.entrypoints.templating import render


class _Page:
    def may(self, *_: object) -> bool:
        return False


def _chosen_status(values: dict[str, str]) -> list[str]:
    html = render(
        "account.html",
        {
            "title": "Account GHA-1",
            "account": {"number": "GHA-1", "holder": "Ama", "type": "holding", "status": "active", "section": "GHA"},
            "blocks": [],
            "at": None,
            "params": {},
            "statuses": ["restricted", "suspended", "terminated"],
            "status_tx": "tx",
            "errors": {"action": "The ledger refused the change."} if values else {},
            "values": values,
            "page": _Page(),
        },
    )
    return re.findall(r'<option value="(\w+)" selected>', html)


def test_a6r41_a_refused_status_change_comes_back_with_the_status_that_was_chosen() -> None:
    """Before, the list came back at its first status: sent again, it applied one nobody chose."""
    assert _chosen_status({"status": "terminated", "reason": "closing"}) == ["terminated"]
    assert _chosen_status({}) == []


async def test_a6r48_an_instant_not_final_yet_is_said_at_its_field_and_the_current_holdings_shown() -> None:
    """Before, the ledger's 422 instant_not_yet_final (an `at` in the future) was an error page."""
    from .test_downloads import ACCOUNT, BLOCKS, signed_in_app

    refusal = ServiceError(422, "instant_not_yet_final", "'at' is later than the latest instant whose record is final.")
    http, ledger = signed_in_app([ACCOUNT_INITIATOR], {f"/accounts/{ACCOUNT}/blocks": BLOCKS[:2]})
    answer = ledger.call

    async def call(service: str, method: str, path: str, **kwargs: Any) -> Any:
        if path.endswith("/blocks") and "at" in (kwargs.get("params") or {}):
            ledger.calls.append((path, dict(kwargs["params"])))
            raise refusal
        return await answer(service, method, path, **kwargs)

    ledger.call = call  # type: ignore[method-assign]
    async with http:
        response = await http.get(f"/accounts/{ACCOUNT}?at=2999-01-01T00:00:00")
    assert response.status_code == 200, response.text
    assert "is later than the latest instant whose record is final" in response.text
    blocks = [p for path, p in ledger.calls if path.endswith("/blocks")]
    assert [p.get("at") for p in blocks] == ["2999-01-01T00:00:00+00:00", None]
