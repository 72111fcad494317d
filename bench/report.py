"""The bench report: a plain-text table on stdout and the same facts as JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

P99_TARGET_MS = 50.0
COST_TARGET = 1.25


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [headers, *[[_fmt(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    tps = report["pgbench"]["tps"]
    scales = report["scales"]
    found: list[dict[str, Any]] = []
    for name, scale in scales.items():
        peak = scale["closed_peak"]["transfers_per_s"]
        found.append(
            {
                "target": f"transfers/s at {report['config']['clients']} clients >= 1.0x pgbench tps ({name} blocks)",
                "measured": f"{peak:,.1f}/s = {peak / tps:.2f}x of {tps:,.1f}",
                "pass": peak >= tps,
            }
        )
    for name, scale in scales.items():
        p99 = scale["open_80"]["p99_ms"]
        offered = scale["open_80"]["offered_per_s"]
        after = scale["open_80"].get("peak_after_per_s")
        share = f" ({offered / after:.0%} of the peak measured right after, {after:,.1f}/s)" if after else ""
        share += interference_text(scale["open_80"])
        found.append(
            {
                "target": f"p99 <= {P99_TARGET_MS:.0f} ms at 80% of peak ({name} blocks)",
                "measured": f"p99 {p99:,.1f} ms at {offered:,.1f}/s offered{share}",
                "pass": p99 <= P99_TARGET_MS and scale["open_80"]["dropped"] == 0,
            }
        )
    side = report.get("side_by_side")
    if side:
        costs = [("mean latency, 1 client", "latency"), (f"1 / throughput, {side['clients']} clients", "throughput")]
        for label, key in costs:
            ratios = ", ".join(f"{r:.2f}" for r in side[f"{key}_ratios"])
            found.append(
                {
                    "target": f"cost at {side['large']} within 25% of {side['small']}: {label}",
                    "measured": f"{side[f'{key}_ratio']:.2f}x, median of {len(side['rounds'])} side-by-side "
                    f"pairs ({ratios})",
                    "pass": side[f"{key}_ratio"] <= COST_TARGET,
                }
            )
    return found


def interference_text(run: dict[str, Any]) -> str:
    """What the host and autovacuum took during an open loop, for a p99 target's line."""
    seen = run.get("interference")
    if not seen:
        return ""
    vacuum = (
        f"autovacuum ran {seen['autovacuum_seconds']:.1f} s ({', '.join(seen['autovacuum_tables'])})"
        if seen["autovacuum_tables"]
        else "no autovacuum"
    )
    quiet = seen["quiet_share_of_transfers"]
    split = (
        f"p99 of the {quiet:.0%} answered in quiet stretches {_fmt(float(seen['quiet_p99_ms']))} ms, "
        f"of the others {_fmt(float(seen['other_p99_ms']))} ms"
        if 0 < quiet < 1
        else ("every transfer answered in a quiet stretch" if quiet == 1 else "no transfer answered in a quiet stretch")
    )
    return (
        f"; the host stole {seen['steal_share']:.1%} of the CPU time (up to {seen['max_interval_steal_share']:.0%} "
        f"in half a second), {vacuum}; {split}"
    )


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def render(report: dict[str, Any]) -> str:
    tps = report["pgbench"]["tps"]
    pg = report["pgbench"]
    out = [
        "Ledger benchmark (issue 3) - one PostgreSQL cluster (fsync on), everything on 127.0.0.1",
        f"machine: {report['environment']['cpus']} CPUs, shared with the load generator and other work: noisy numbers",
        "",
        f"Reference: pgbench TPC-B-like, scale {pg['scale']}, -c {pg['clients']} -j 2 -T {pg['seconds']:.0f}: "
        f"{tps:,.1f} tps (latency avg {pg['latency_avg_ms']:.2f} ms; host steal {_share(pg.get('steal_share'))})",
    ]
    after = report.get("pgbench_after")
    if after:
        out.append(
            f"  the same again after the ledger runs: {after['tps']:,.1f} tps ({after['tps'] / tps - 1:+.0%}; "
            f"host steal {_share(after.get('steal_share'))}; "
            "the machine's drift during the run, the ratios below use the first)"
        )
    out.append("")
    rows = []
    for name, scale in report["scales"].items():
        for key, label in [
            ("closed_1", "1 client"),
            ("closed_peak", f"{report['config']['clients']} clients"),
            ("open_80", "open 80% peak"),
        ]:
            m = scale[key]
            rows.append(
                [
                    name,
                    label,
                    m["transfers_per_s"],
                    m["p50_ms"],
                    m["p99_ms"],
                    m["mean_ms"],
                    f"{m['transfers_per_s'] / tps:.2f}x",
                    m["blocks_moved_per_transfer"],
                    sum(m["errors"].values()) + m.get("dropped", 0),
                    _share(m["interference"]["steal_share"] if m.get("interference") else m.get("steal_share")),
                ]
            )
    out.append("Implicit-split transfers over HTTP (PUT /transactions/{id}, transfer_units, selection.quantity random)")
    out.append(
        _table(
            [
                "live blocks",
                "load",
                "transfers/s",
                "p50 ms",
                "p99 ms",
                "mean ms",
                "vs pgbench",
                "blocks/transfer",
                "errors",
                "host steal",
            ],
            rows,
        )
    )
    out.append("")
    out += _cpu_table(report)
    seeds = [
        [name, s["seed"]["blocks"], s["seed"]["units"], s["seed"]["seconds"], s["live_blocks_after_measurements"]]
        for name, s in report["scales"].items()
    ]
    for name, scale in report["scales"].items():
        if "empty_requests_per_s" in scale:
            empty = scale["empty_requests_per_s"]
            out.append(
                f"For scale ({name}): GET /health, no ledger work, {report['config']['clients']} clients: "
                f"{empty:,.1f} requests/s = {empty / tps:.2f}x pgbench (HTTP, middleware and load generator alone)"
            )
            out.append("")
    out += _side_by_side(report)
    out.append("Seeding (SQL straight into the ledger schema, bypassing the HTTP path; one synthetic journal entry)")
    out.append(_table(["scale", "blocks seeded", "units", "seconds", "live blocks after the runs above"], seeds))
    frag = report.get("fragmentation")
    if frag:
        out += [
            "",
            f"Fragmentation ({frag['scale']} scale): {frag['transfers_done']:,} random implicit transfers "
            f"(quantity 1..{report['config']['max_quantity']}, {frag['clients']} clients) in {frag['seconds']:,.1f} s "
            f"({frag['transfers_per_s']:,.1f}/s, {frag['blocks_moved_per_transfer']} blocks moved per transfer, "
            f"errors {frag['errors']})",
            *(
                [
                    f"  STOPPED at the time limit ({frag['time_limit_seconds']:.0f} s, BENCH_TRANSFERS_MAX_SECONDS) "
                    f"before the {frag['transfers_requested']:,} transfers asked for (BENCH_TRANSFERS)"
                ]
                if frag["stopped_at_time_limit"]
                else []
            ),
            f"  live blocks in the two holding accounts: before {frag['live_before']:,}, after {frag['live_after']:,} "
            f"({frag['live_after'] / max(1, frag['live_before']):.2f}x); "
            f"units {frag['units_before']:,} -> {frag['units_after']:,}",
        ]
    out += ["", "Targets"]
    out.append(
        _table(
            ["", "target", "measured"],
            [["PASS" if t["pass"] else "MISS", t["target"], t["measured"]] for t in report["targets"]],
        )
    )
    for note in report.get("notes", []):
        out.append(f"note: {note}")
    return "\n".join(out)


def _side_by_side(report: dict[str, Any]) -> list[str]:
    side = report.get("side_by_side")
    if not side:
        return []
    small, large, clients = side["small"], side["large"], side["clients"]
    rows = [
        [
            n + 1,
            r[small]["one"]["mean_ms"],
            r[large]["one"]["mean_ms"],
            f"{latency:.2f}x",
            r[small]["many"]["transfers_per_s"],
            r[large]["many"]["transfers_per_s"],
            f"{throughput:.2f}x",
        ]
        for n, (r, latency, throughput) in enumerate(
            zip(side["rounds"], side["latency_ratios"], side["throughput_ratios"], strict=True)
        )
    ]
    apart = report["scales"]
    return [
        f"Both scales side by side: turns of {side['seconds']:.0f} s, 1 client then {clients}, each pair seconds apart "
        "(the machine's speed drifts by a third within minutes)",
        _table(
            [
                "round",
                f"{small} 1 client ms",
                f"{large} 1 client ms",
                "latency ratio",
                f"{small} {clients} clients /s",
                f"{large} {clients} clients /s",
                "throughput ratio",
            ],
            rows,
        ),
        f"  the same ratios from each scale's own runs above, minutes apart: latency "
        f"{apart[large]['closed_1']['mean_ms'] / apart[small]['closed_1']['mean_ms']:.2f}x, throughput "
        f"{apart[small]['closed_peak']['transfers_per_s'] / apart[large]['closed_peak']['transfers_per_s']:.2f}x",
        "",
    ]


def _cpu_table(report: dict[str, Any]) -> list[str]:
    """What one operation costs each part of the stack in CPU: the ledger's total per transfer
    against PostgreSQL's and pgbench's per TPC-B transaction says how far 1.0x is, whatever the
    machine's speed during the run."""
    reference = report["pgbench"].get("cpu_ms_per_transaction")
    measured = [(name, s["cpu_ms_per_transfer"]) for name, s in report["scales"].items() if "cpu_ms_per_transfer" in s]
    if not reference or not measured:
        return []
    parts = ["ledger", "postgres", "broker", "client", "total"]
    rows: list[list[Any]] = [["pgbench transaction (reference)", *(reference.get(p, 0.0) for p in parts), "1.00x", ""]]
    clients = report["config"]["clients"]
    for name, cpu in measured:
        ratio = cpu["total"] / reference["total"] if reference["total"] else float("nan")
        busy = report["scales"][name].get("ledger_busy_share")
        rows.append(
            [
                f"transfer, {name} blocks, {clients} clients",
                *(cpu[p] for p in parts),
                f"{ratio:.2f}x",
                "" if busy is None else f"{busy:.0%}",
            ]
        )
    cores = report["environment"]["cpus"]
    return [
        f"CPU per operation, ms (all processes on this machine's {cores} cores; client = load generator or pgbench)",
        _table(
            ["operation", *parts, "total vs pgbench", "ledger process busy"],
            [[r[0], *(_ms(v) for v in r[1:-2]), *r[-2:]] for r in rows],
        ),
        "The ledger process is one event loop (writer, HTTP, relay): busy near 100% of one core, it is the bound.",
        "",
    ]


def _ms(value: float) -> str:
    return f"{value:.3f}"


def write_json(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
