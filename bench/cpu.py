"""CPU time used by each part of the stack during a measurement, so the report can say what one
transfer (and, for reference, one pgbench transaction) costs each of them.

PostgreSQL's backends come and go: the postmaster reaps them, so an ended backend's CPU is in the
postmaster's children's times, and a running one's in its own. The load generator is this
process; pgbench, a child of it, is in its children's times."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, fields
from pathlib import Path

import psutil


def _own(pid: int | None) -> float:
    if pid is None:
        return 0.0
    with contextlib.suppress(psutil.NoSuchProcess):
        times = psutil.Process(pid).cpu_times()
        return times.user + times.system
    return 0.0


def postgres_seconds(pg_dir: Path) -> float:
    postmaster = psutil.Process(int((pg_dir / "postmaster.pid").read_text().split()[0]))
    times = postmaster.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    return total + sum(_own(child.pid) for child in postmaster.children())


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds so far, per part of the stack."""

    ledger: float
    postgres: float
    broker: float
    client: float

    @classmethod
    def now(cls, *, pg_dir: Path, ledger_pid: int | None, broker_pid: int | None) -> CpuUse:
        me = os.times()
        return cls(
            ledger=_own(ledger_pid),
            postgres=postgres_seconds(pg_dir),
            broker=_own(broker_pid),
            # The load generator and, while pgbench runs, pgbench (a child of this process).
            client=me.user + me.system + me.children_user + me.children_system,
        )

    def per_operation_ms(self, later: CpuUse, operations: int) -> dict[str, float]:
        """Milliseconds of CPU per operation between this sample and `later`, per part and in all."""
        spent = {f.name: (getattr(later, f.name) - getattr(self, f.name)) * 1000 for f in fields(self)}
        spent["total"] = sum(spent.values())
        return {part: round(ms / max(1, operations), 3) for part, ms in spent.items()}
