"""The cost at the large scale against the small one, measured side by side.

Each scale's own measurements run minutes apart, and the shared machine's speed drifts by a third
within minutes: their ratio says as much about the drift as about the live-block count. Here both
ledgers run at once and take turns in short closed loops, 1 client then all clients, in the order
small-large-large-small and back, so each pair of measurements is seconds apart; the report takes
the median of the pairs' ratios.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from bench.ledger_load import closed_loop


@dataclass(frozen=True)
class Ledger:
    """One scale's running ledger and the accounts its transfers go between."""

    base_url: str
    holding: list[str]


async def measure(
    ledgers: dict[str, Ledger], *, rounds: int, seconds: float, clients: int, max_quantity: int
) -> dict[str, Any]:
    (small, large) = ledgers
    measured: list[dict[str, Any]] = []
    for n in range(rounds):
        order = [small, large] if n % 2 == 0 else [large, small]
        row: dict[str, Any] = {}
        for load, count in (("one", 1), ("many", clients)):
            for name in order if load == "one" else reversed(order):
                ledger = ledgers[name]
                result = await closed_loop(
                    ledger.base_url, ledger.holding, clients=count, seconds=seconds, max_quantity=max_quantity
                )
                row.setdefault(name, {})[load] = result.summary()
        measured.append(row)
    return summarise(measured, small, large, seconds=seconds, clients=clients)


def summarise(
    measured: list[dict[str, Any]], small: str, large: str, *, seconds: float, clients: int
) -> dict[str, Any]:
    """Each round's ratios (large over small for the 1-client mean latency, small over large for
    the all-clients throughput: both > 1 when the large scale costs more) and their medians."""
    latency = [r[large]["one"]["mean_ms"] / r[small]["one"]["mean_ms"] for r in measured]
    throughput = [r[small]["many"]["transfers_per_s"] / r[large]["many"]["transfers_per_s"] for r in measured]
    return {
        "small": small,
        "large": large,
        "seconds": seconds,
        "clients": clients,
        "rounds": measured,
        "latency_ratios": [round(x, 3) for x in latency],
        "throughput_ratios": [round(x, 3) for x in throughput],
        "latency_ratio": round(statistics.median(latency), 3),
        "throughput_ratio": round(statistics.median(throughput), 3),
    }
