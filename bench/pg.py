"""The reference: pgbench's built-in TPC-B-like script against the bench's own cluster."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from bench.cpu import CpuUse
from bench.interference import MachineTime, stolen_share
from registry_platform.devstack import postgres


@dataclass(frozen=True)
class PgbenchResult:
    tps: float
    latency_avg_ms: float
    transactions: int
    clients: int
    seconds: float
    scale: int
    # CPU per transaction of PostgreSQL and of pgbench itself ("client"), when measured.
    cpu_ms_per_transaction: dict[str, float] | None = None
    # The share of the machine's CPU time the hypervisor took during the timed run (bench/interference.py).
    steal_share: float | None = None


def _run(args: list[str], port: int, timeout: float) -> str:
    argv = [postgres.pgbench_path(), "-h", "127.0.0.1", "-p", str(port), "-U", postgres.SUPERUSER, *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout + done.stderr


def _number(pattern: str, output: str) -> float:
    match = re.search(pattern, output)
    if match is None:
        raise RuntimeError(f"pgbench output lacks {pattern!r}:\n{output}")
    return float(match.group(1))


def run_pgbench(
    port: int, database: str, *, scale: int, clients: int, seconds: float, cpu: Callable[[], CpuUse] | None = None
) -> PgbenchResult:
    """`pgbench -i -s scale` then the default script with `clients` clients over 2 threads; with
    `cpu`, also what a transaction of the timed run cost PostgreSQL and pgbench in CPU."""
    _run(["-i", "-q", "-s", str(scale), database], port, timeout=900)
    duration = max(1, round(seconds))
    before, machine_before = (cpu() if cpu else None), MachineTime.now()
    output = _run(["-c", str(clients), "-j", "2", "-T", str(duration), database], port, timeout=duration + 300)
    steal = stolen_share(machine_before, MachineTime.now())
    transactions = int(_number(r"number of transactions actually processed: ([0-9]+)", output))
    return PgbenchResult(
        tps=_number(r"tps = ([0-9.]+)", output),
        latency_avg_ms=_number(r"latency average = ([0-9.]+) ms", output),
        transactions=transactions,
        clients=clients,
        seconds=duration,
        scale=scale,
        cpu_ms_per_transaction=before.per_operation_ms(cpu(), transactions) if cpu and before else None,
        steal_share=steal,
    )
