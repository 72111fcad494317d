"""Example plugin `first_transfer.v1`: does a transfer constitute the first transfer of its units?

Used by the rule pack's OMGE cancellation. It looks at every unit range and tells which units are
first transferred now, which a CEL expression cannot count across two lists:

- where the proposal carries descriptor records (A6R-45), units without a first-transfer marker in
  force are being first transferred when they leave for another Party's account;
- where it carries none yet (before the descriptors service exists), units whose first
  transferring Party is the source account's section are being first transferred when they move
  to an account of another section or out of the registry.

It fires when some units are first transferred, and the share is taken of those units only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rules.domain.plugins import PluginOutcome

_TRANSFERS = frozenset({"transfer", "external_transfer_out"})


def _overlap(a: Mapping[str, Any], b: Mapping[str, Any]) -> int:
    keys = ("originating_registry", "issuing_party", "activity_id", "vintage", "metric")
    if any(a[k] != b[k] for k in keys):
        return 0
    return max(0, min(a["last"], b["last"]) - max(a["first"], b["first"]) + 1)


class FirstInternationalTransfer:
    params: Mapping[str, str] = {}
    kinds = frozenset({"business"})

    def evaluate(self, proposal: Mapping[str, Any], params: Mapping[str, Any]) -> PluginOutcome:
        if proposal["kind"] not in _TRANSFERS or not proposal["source"]["present"]:
            return PluginOutcome(False)
        source, destination = proposal["source"], proposal["destination"]
        leaves_party = proposal["kind"] == "external_transfer_out" or destination["section"] != source["section"]
        if not leaves_party:
            return PluginOutcome(False)
        descriptors = proposal["descriptors"]
        first = 0
        for unit in proposal["units"]:
            if descriptors:
                marked = sum(_overlap(unit, d) for d in descriptors if d["first_transferred"])
                first += unit["quantity"] - min(marked, unit["quantity"])
            elif unit["first_transferring_party"] in ("", source["section"]):
                first += unit["quantity"]
        return PluginOutcome(first > 0, basis=first or None)
