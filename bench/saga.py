"""Proposal to recorded through the whole saga (issue 5): HTTP to the ledger, the proposal through the
outbox and the broker to the rules service, 20 bound rules evaluated, the verdict back through the
broker, and the decision committed, under closed-loop load; with the ledger alone (verdicts off) on
the same kind of data in the same run as the reference.

The rules are the Article 6 pack's deny rules (vintage window, quantity cap) and the same 18
realistic CEL rules `bench.rules_eval` uses, all bound to the registry and none firing, so every
transfer is recorded.
"""

from __future__ import annotations

from typing import Any

import httpx

from bench.config import BenchConfig
from bench.infra import Stack, dsn
from bench.interference import InterferenceMonitor, interference_report
from bench.ledger_load import LedgerHttp, admin_token, closed_loop, open_loop, setup_registry
from bench.report import interference_text
from bench.rules_eval import EXTRA

P99_TARGET_MS = 250.0
UNITS = 200_000
SCOPE = {"originating_registry": "CHE01", "issuing_party": "GHA", "activity_id": "BENCH-SAGA", "vintage": 2024}


async def _fund(base_url: str, accounts: dict[str, str]) -> None:
    """Units in both holding accounts, in small blocks (as the seeded scales have), through the saga."""
    async with LedgerHttp(base_url, connections=1) as ledger:
        await ledger.ok(
            {
                "kind": "issue_units",
                "account": accounts["issuance"],
                "scope": SCOPE,
                "quantity": UNITS,
                "first_transferring_party": "GHA",
            }
        )
        for i in range(40):
            await ledger.ok(
                {
                    "kind": "transfer_units",
                    "source": accounts["issuance"],
                    "destination": accounts["a" if i % 2 else "b"],
                    "units": {"selection": {"quantity": UNITS // 40}},
                }
            )


async def _bind_rules(rules_url: str) -> int:
    headers = {"Authorization": f"Bearer {admin_token()}"}
    async with httpx.AsyncClient(base_url=rules_url, headers=headers, timeout=30) as http:

        async def ok(path: str, body: Any = None) -> Any:
            response = await http.post(path, json=body)
            if response.status_code not in (200, 201):
                raise RuntimeError(f"rules {path}: {response.status_code} {response.text}")
            return response.json()

        await ok("/packs/article6-basic")
        bound = [
            ("vintage-window", {"vintage_from": 2016}),
            ("transaction-quantity-cap", {"max_quantity": 1_000_000}),
            ("same-approach-destination", {}),
            ("authorized-units-leave-their-party", {}),
        ]
        for i, expression in enumerate(EXTRA[: 20 - len(bound)]):
            name = f"bench-rule-{i:02d}"
            await ok(f"/rules/{name}/versions", {"expression": expression, "effect": {"type": "deny", "message": name}})
            bound.append((name, {}))
        for name, params in bound:
            await ok("/bindings", {"rule": name, "target_type": "registry", "target": "*", "params": params})
    return len(bound)


async def measure_saga(stack: Stack, cfg: BenchConfig, say: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode in ("saga", "ledger_alone"):
        url = stack.create_database(f"saga_{mode}")
        prefix = f"bench-{mode}"
        rules_proc = None
        if mode == "saga":
            rules_proc, rules_url = await stack.start_service("rules", url, prefix)
            out["bound_rules"] = await _bind_rules(rules_url)
        proc, base_url = await stack.start_ledger(url, prefix, rules_verdicts=mode == "saga")
        try:
            accounts = await setup_registry(base_url)
            await _fund(base_url, accounts)
            holding = [accounts["a"], accounts["b"]]
            say(f"saga ({mode}): {cfg.clients} clients for {cfg.seconds:.0f} s")
            peak = await closed_loop(
                base_url, holding, clients=cfg.clients, seconds=cfg.seconds, max_quantity=cfg.max_quantity
            )
            out[mode] = peak.summary()
            if mode == "saga":
                out["saga_peak_rate"] = peak.rate
            # Latency under load, not at saturation: Poisson arrivals at half the saga's peak.
            rate = max(0.5 * (peak.rate if mode == "saga" else out["saga_peak_rate"]), 1.0)
            say(f"saga ({mode}): open loop at {rate:.1f}/s for {cfg.seconds:.0f} s")
            async with InterferenceMonitor(dsn(url)) as monitor:
                opened = await open_loop(
                    base_url, holding, rate=rate, seconds=cfg.seconds, max_quantity=cfg.max_quantity
                )
            out[f"{mode}_open"] = {
                **opened.summary(),
                "offered_per_s": round(rate, 1),
                "interference": interference_report(monitor.samples, opened.finished),
            }
        finally:
            await stack.stop_service(proc)
            if rules_proc is not None:
                await stack.stop_service(rules_proc)
    return out


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    saga, alone = result["saga_open"], result["ledger_alone_open"]
    return [
        {
            "target": f"proposal-to-recorded p99 <= {P99_TARGET_MS:.0f} ms through the saga "
            f"({result['bound_rules']} bound rules, open loop at half the saga's peak)",
            "measured": f"p99 {saga['p99_ms']:,.1f} ms at {saga['offered_per_s']}/s "
            f"(ledger alone at that rate: {alone['p99_ms']:,.1f} ms){interference_text(saga)}",
            "pass": saga["p99_ms"] <= P99_TARGET_MS and not saga["errors"] and not saga["dropped"],
        }
    ]


def render(result: dict[str, Any]) -> str:
    lines = [
        f"Saga: implicit transfers through ledger -> broker -> rules ({result['bound_rules']} bound rules) -> broker "
        "-> ledger, against the ledger alone on the same data",
        f"{'mode':<20}{'transfers/s':>12}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}{'errors':>8}",
    ]
    for mode in ("ledger_alone", "saga", "ledger_alone_open", "saga_open"):
        r = result[mode]
        errors = sum(r["errors"].values())
        name = mode.replace("_open", f" @{r.get('offered_per_s', '')}/s")
        lines.append(
            f"{name:<20}{r['transfers_per_s']:>12,.1f}{r['p50_ms']:>10,.1f}{r['p99_ms']:>10,.1f}"
            f"{r['mean_ms']:>10,.1f}{errors:>8}"
        )
    return "\n".join(lines)
