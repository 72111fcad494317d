"""An account's page (A6R-41) shown again after the ledger refused a status change."""

from __future__ import annotations

import re

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
