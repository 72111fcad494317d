"""Reading the ledger's transactions for people: which accounts one touches, how many units it
moved, which blocks (with their A6R-40 metadata), and a day-by-day summary (A6R-30 b)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

SCOPE_KEYS = ("originating_registry", "issuing_party", "activity_id", "vintage", "metric")


def _parts(tx: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    command = tx.get("command") or {}
    result = tx.get("result") or {}
    return command, result if isinstance(result, dict) else {}


def requested_quantity(command: dict[str, Any]) -> int | None:
    units = command.get("units") or {}
    if units.get("selection"):
        return int(units["selection"]["quantity"])
    if units.get("ranges"):
        return sum(int(r["last"]) - int(r["first"]) + 1 for r in units["ranges"])
    if command.get("quantity"):
        return int(command["quantity"])
    return None


def summary(tx: dict[str, Any]) -> dict[str, Any]:
    """Source, destination (or account) and quantity: the result's when recorded, else the request's."""
    command, result = _parts(tx)
    quantity = result.get("quantity") if tx.get("outcome") == "recorded" else None
    return {
        "source": result.get("source") or command.get("source"),
        "destination": result.get("destination") or command.get("destination"),
        "account": result.get("account") or command.get("account"),
        "quantity": quantity if quantity is not None else requested_quantity(command),
        "blocks": result.get("blocks") or [],
    }


def same_scope(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(a.get(k) == b.get(k) for k in SCOPE_KEYS)


def enrich(moved: list[dict[str, Any]], held: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Moved blocks carry only their scope and serials; the block they came from carries the
    cooperative approach and first-transferring Party the human-readable serial needs (A6R-40)."""
    out = []
    for block in moved:
        scope = block.get("scope") or {}
        origin = next(
            (
                h
                for h in held
                if same_scope(h.get("scope") or {}, scope)
                and h["first"] <= block["first"]
                and block["last"] <= h["last"]
            ),
            None,
        )
        extra = {}
        if origin is not None:
            extra = {k: origin.get(k) for k in ("cooperative_approach", "first_transferring_party")}
        out.append({**block, **extra, "serials": None})
    return out


def daily(transactions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per UTC day: transactions by kind and outcome, and the units issued and moved."""
    days: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"kinds": defaultdict(lambda: [0, 0]), "issued": 0, "moved": 0}
    )
    for tx in transactions:
        day = str(tx.get("recorded_at") or "")[:10]
        if not day:
            continue
        entry = days[day]
        counts = entry["kinds"][tx["kind"]]
        counts[0 if tx.get("outcome") == "recorded" else 1] += 1
        if tx.get("outcome") == "recorded":
            quantity = summary(tx)["quantity"] or 0
            entry["issued" if tx["kind"] == "issue_units" else "moved"] += quantity
    return [
        {
            "day": day,
            "kinds": sorted((k, v[0], v[1]) for k, v in entry["kinds"].items()),
            "recorded": sum(v[0] for v in entry["kinds"].values()),
            "rejected": sum(v[1] for v in entry["kinds"].values()),
            "issued": entry["issued"],
            "moved": entry["moved"],
        }
        for day, entry in sorted(days.items(), reverse=True)
    ]
