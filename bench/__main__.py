"""`python -m bench`: pgbench as the reference, then the ledger at two scales, on one cluster.

1. pgbench's TPC-B-like script (database `pgbench`, `-i -s 16`, `-c 16 -j 2`);
2. per scale (BENCH_SMALL_BLOCKS, BENCH_LARGE_BLOCKS live blocks): a fresh database, the ledger as
   its own process, accounts set up over HTTP, blocks seeded with SQL, the ledger restarted, then
   transfers with 1 client, with 16 clients, and open-loop at 80% of the 16-client peak;
3. both scales side by side, taking turns in short runs, for the cost of the large one against the
   small one (bench/side_by_side.py);
4. at the small scale, BENCH_TRANSFERS random transfers and the live-block count before and after;
5. the proposal-verdict saga with the rules service against the ledger alone (bench/saga.py);
6. rule evaluation in process (bench/rules_eval.py).
Every process started here is stopped at the end, also after a failure or SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import platform
import signal
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

from bench import rules_eval, saga, side_by_side
from bench.config import BenchConfig
from bench.infra import Stack, dsn
from bench.interference import InterferenceMonitor, MachineTime, interference_report, stolen_share
from bench.ledger_load import closed_loop, empty_requests, fixed_count, open_loop, setup_registry
from bench.pg import PgbenchResult, run_pgbench
from bench.report import render, targets, write_json
from bench.seed import live_blocks, seed_blocks
from registry_platform.devstack.processes import ManagedProcess

STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[bench {time.monotonic() - STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


def _scale_name(blocks: int) -> str:
    exponent = len(str(blocks)) - 1
    return f"10^{exponent}" if blocks == 10**exponent else f"{blocks:,}"


@dataclass
class Scale:
    """One scale's database and running ledger; `out` is its part of the report."""

    name: str
    database: str
    proc: ManagedProcess
    base_url: str
    holding: list[str]
    out: dict[str, Any]


async def open_scale(stack: Stack, cfg: BenchConfig, blocks: int) -> Scale:
    """A fresh database, accounts set up over HTTP, `blocks` live blocks seeded with SQL, and the
    ledger started again on them."""
    database = f"ledger_{blocks}"
    url = stack.create_database(database)
    proc, base_url = await stack.start_ledger(url, f"bench{blocks}")
    accounts = await setup_registry(base_url)
    await stack.stop_service(proc)
    say(f"{_scale_name(blocks)}: seeding {blocks:,} live blocks with SQL")
    holding = [accounts["a"], accounts["b"]]
    seed = await asyncio.to_thread(
        seed_blocks,
        dsn(url),
        issuance_account=accounts["issuance"],
        accounts=holding,
        blocks=blocks,
        min_block=cfg.min_block,
        max_block=cfg.max_block,
    )
    say(f"{_scale_name(blocks)}: seeded in {seed.seconds:.1f} s; restarting the ledger")
    proc, base_url = await stack.start_ledger(url, f"bench{blocks}")
    out: dict[str, Any] = {"seed": asdict(seed), "accounts": accounts}
    return Scale(_scale_name(blocks), database, proc, base_url, holding, out)


async def measure_scale(stack: Stack, cfg: BenchConfig, scale: Scale) -> None:
    name, base_url, holding, out, q = scale.name, scale.base_url, scale.holding, scale.out, cfg.max_quantity
    say(f"{name}: 1 client for {cfg.seconds:.0f} s")
    machine_before = MachineTime.now()
    one = await closed_loop(base_url, holding, clients=1, seconds=cfg.seconds, max_quantity=q)
    out["closed_1"] = {**one.summary(), "steal_share": stolen_share(machine_before, MachineTime.now())}
    say(f"{name}: {out['closed_1']['transfers_per_s']}/s; {cfg.clients} clients for {cfg.seconds:.0f} s")
    cpu_before, started, machine_before = stack.cpu(scale.proc), time.monotonic(), MachineTime.now()
    peak = await closed_loop(base_url, holding, clients=cfg.clients, seconds=cfg.seconds, max_quantity=q)
    cpu_after = stack.cpu(scale.proc)
    out["closed_peak"] = {**peak.summary(), "steal_share": stolen_share(machine_before, MachineTime.now())}
    out["cpu_ms_per_transfer"] = cpu_before.per_operation_ms(cpu_after, peak.answered)
    # The ledger's one event loop runs the writer, HTTP and the relay: near 1.0 it is the bound.
    out["ledger_busy_share"] = round((cpu_after.ledger - cpu_before.ledger) / (time.monotonic() - started), 2)
    rate = 0.8 * peak.rate
    say(f"{name}: peak {peak.rate:.1f}/s; open loop at {rate:.1f}/s for {cfg.seconds:.0f} s")
    async with InterferenceMonitor(dsn(stack.url(scale.database))) as monitor:
        result = await open_loop(base_url, holding, rate=max(rate, 1.0), seconds=cfg.seconds, max_quantity=q)
    opened = {**result.summary(), "interference": interference_report(monitor.samples, result.finished)}
    say(f"{name}: open loop p50 {opened['p50_ms']} ms, p99 {opened['p99_ms']} ms")
    # The shared machine's speed drifts within seconds: the peak again, right after, says how
    # close to saturation the offered rate really was.
    again = await closed_loop(base_url, holding, clients=cfg.clients, seconds=cfg.seconds / 2, max_quantity=q, warmup=0)
    out["open_80"] = {**opened, "offered_per_s": round(rate, 1), "peak_after_per_s": round(again.rate, 1)}
    say(f"{name}: peak again {again.rate:.1f}/s")
    out["live_blocks_after_measurements"] = live_blocks(dsn(stack.url(scale.database)), holding)[0]


async def measure_fragmentation(stack: Stack, cfg: BenchConfig, scale: Scale) -> dict[str, Any]:
    """GET /health alone, then BENCH_TRANSFERS random transfers and the live-block count around them."""
    name, holding, url = scale.name, scale.holding, dsn(stack.url(scale.database))
    scale.out["empty_requests_per_s"] = round(
        await empty_requests(scale.base_url, clients=cfg.clients, seconds=cfg.seconds / 2), 1
    )
    say(f"{name}: GET /health alone: {scale.out['empty_requests_per_s']}/s")
    before, units_before = live_blocks(url, holding)
    say(f"{name}: fragmentation: {cfg.transfers:,} transfers from {before:,} live blocks")
    done = await fixed_count(
        scale.base_url,
        holding,
        clients=cfg.clients,
        total=cfg.transfers,
        max_quantity=cfg.max_quantity,
        time_limit=cfg.transfers_max_seconds,
    )
    after, units_after = live_blocks(url, holding)
    summary = done.summary()
    say(f"{name}: live blocks {before:,} -> {after:,} in {done.elapsed:.1f} s")
    return {
        "scale": name,
        "transfers_requested": cfg.transfers,
        "transfers_done": summary["transfers"],
        "errors": sum(summary["errors"].values()),
        "stopped_at_time_limit": summary["transfers"] + sum(summary["errors"].values()) < cfg.transfers,
        "time_limit_seconds": cfg.transfers_max_seconds,
        "blocks_moved_per_transfer": summary["blocks_moved_per_transfer"],
        "clients": cfg.clients,
        "seconds": round(done.elapsed, 1),
        "transfers_per_s": summary["transfers_per_s"],
        "live_before": before,
        "live_after": after,
        "units_before": units_before,
        "units_after": units_after,
    }


async def close_scale(stack: Stack, scale: Scale) -> None:
    await stack.stop_service(scale.proc)
    # What is measured next must not share the machine with autovacuum cleaning up after this
    # scale's transfers.
    stack.drop_database(scale.database)


def _pgbench(stack: Stack, cfg: BenchConfig) -> PgbenchResult:
    stack.create_database("pgbench")
    try:
        return run_pgbench(
            stack.pg_port, "pgbench", scale=cfg.pgbench_scale, clients=cfg.clients, seconds=cfg.seconds, cpu=stack.cpu
        )
    finally:
        # Nor may autovacuum, cleaning up after pgbench, run during what is measured next.
        stack.drop_database("pgbench")


async def run(cfg: BenchConfig, stack: Stack) -> dict[str, Any]:
    say(f"starting PostgreSQL (fsync on) under {stack.pg_dir} and a broker")
    await asyncio.to_thread(stack.start, cfg.pg_port)
    say(f"PostgreSQL on port {stack.pg_port}; pgbench -i -s {cfg.pgbench_scale}, then {cfg.seconds:.0f} s")
    pg = await asyncio.to_thread(_pgbench, stack, cfg)
    say(f"pgbench: {pg.tps:.1f} tps")
    report: dict[str, Any] = {
        "config": {k: str(v) if k == "data_dir" else v for k, v in asdict(cfg).items()},
        "environment": {"cpus": os.cpu_count(), "python": platform.python_version(), "pg_port": stack.pg_port},
        "pgbench": asdict(pg),
        "scales": {},
    }
    scales: list[Scale] = []
    try:
        for blocks in (cfg.small_blocks, cfg.large_blocks):
            scales.append(await open_scale(stack, cfg, blocks))
            await measure_scale(stack, cfg, scales[-1])
            report["scales"][scales[-1].name] = scales[-1].out
        seconds = cfg.seconds / 3
        say(f"both scales side by side: {cfg.cost_rounds} rounds of 1 and {cfg.clients} clients, {seconds:.0f} s each")
        report["side_by_side"] = await side_by_side.measure(
            {s.name: side_by_side.Ledger(s.base_url, s.holding) for s in scales},
            rounds=cfg.cost_rounds,
            seconds=seconds,
            clients=cfg.clients,
            max_quantity=cfg.max_quantity,
        )
        # The large scale's memory and autovacuum go before the long run at the small one.
        await close_scale(stack, scales.pop())
        report["fragmentation"] = await measure_fragmentation(stack, cfg, scales[0])
    finally:
        for scale in scales:
            await close_scale(stack, scale)
    say("pgbench again: how far the machine drifted while the ledger ran")
    report["pgbench_after"] = asdict(await asyncio.to_thread(_pgbench, stack, cfg))
    say(f"pgbench: {report['pgbench_after']['tps']:.1f} tps")
    report["targets"] = targets(report)
    report["saga"] = await saga.measure_saga(stack, cfg, say)
    report["targets"] += saga.targets(report["saga"])
    report["notes"] = [
        "live blocks were seeded with SQL straight into the ledger schema, bypassing the HTTP path "
        "(one synthetic 'bench_seed' transaction and journal entry, hash-chained); every measured transfer went "
        "through HTTP, the writer and PostgreSQL",
        f"seeded blocks hold {cfg.min_block}..{cfg.max_block} units, transfers move 1..{cfg.max_quantity}, "
        "so the first transfers split a block (A6R-52 rule 2d); later ones take an exact-size fragment (rule 1) or "
        "gather the smallest fragments whole (rule 2), which the blocks/transfer column counts; the measurements run "
        "in table order on the same data, so later rows meet more fragments",
        "open loop: Poisson arrivals, latency counted from each scheduled arrival",
        "the load generator (Python, registry_platform.testing.http: keep-alive HTTP/1.1) runs on the same machine "
        "as the ledger and PostgreSQL",
    ]
    return report


def main() -> int:
    cfg = BenchConfig.from_env()
    stack = Stack(cfg.data_dir)

    def _terminate(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)
    try:
        report = asyncio.run(run(cfg, stack))
    finally:
        say("stopping the ledger, the broker and PostgreSQL")
        stack.close()
    say("rule evaluation with 20 bound rules (in process)")
    report["rules_evaluation"] = rules_eval.measure(cfg.seconds)
    report["targets"] += rules_eval.targets(report["rules_evaluation"])
    report["elapsed_seconds"] = round(time.monotonic() - STARTED, 1)
    path = cfg.data_dir / "report.json"
    write_json(report, path)
    print(render(report))
    print("\n" + saga.render(report["saga"]))
    print("\n" + rules_eval.render(report["rules_evaluation"]))
    print(f"\n(total {report['elapsed_seconds']:,.1f} s; JSON in {path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
