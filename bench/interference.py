"""What else took the machine during a measurement: the host's steal and PostgreSQL's autovacuum.

On a shared virtual machine the host runs other guests on our cores in bursts (steal time in
/proc/stat): a second in which a fifth of the CPU time is stolen slows every process at once, and
an open loop's queue builds up behind it. On two cores, an autovacuum worker cleaning a table of
10^6 rows and its GiST index takes most of a core from the ledger and its PostgreSQL backends in
the same way. The bench samples both during the open loop, so the report can tell a tail made by
the ledger from one made by its neighbours.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from bench.ledger_load import percentile

PROC_STAT = Path("/proc/stat")
# An interval is quiet when less than this share of the machine's CPU time was stolen and no
# autovacuum worker was seen, in it and in the interval before it (a queue built up in a busy
# interval drains in the next).
QUIET_STEAL_SHARE = 0.02
# Autovacuum workers and what they clean ("autovacuum: VACUUM ledger.holdings").
AUTOVACUUM_SQL = (
    "SELECT query FROM pg_stat_activity WHERE backend_type = 'autovacuum worker' AND datname = current_database()"
)


@dataclass(frozen=True)
class MachineTime:
    """CPU seconds so far, summed over the machine's CPUs, at monotonic instant `at`."""

    at: float
    steal: float
    total: float

    @classmethod
    def parse(cls, first_line: str, at: float, ticks_per_second: int) -> MachineTime:
        # cpu user nice system idle iowait irq softirq steal [guest guest_nice: already in user]
        fields = first_line.split()
        if not fields or fields[0] != "cpu" or len(fields) < 9:
            raise ValueError(f"not the aggregate cpu line of /proc/stat: {first_line!r}")
        ticks = [int(v) for v in fields[1:9]]
        return cls(at=at, steal=ticks[7] / ticks_per_second, total=sum(ticks) / ticks_per_second)

    @classmethod
    def now(cls) -> MachineTime | None:
        """None where there is no /proc/stat (not Linux)."""
        try:
            with PROC_STAT.open() as stat:
                line = stat.readline()
        except OSError:
            return None
        return cls.parse(line, time.monotonic(), os.sysconf("SC_CLK_TCK"))

    def stolen_share(self, later: MachineTime) -> float:
        """The share of the machine's CPU time stolen between this sample and `later`."""
        total = later.total - self.total
        return (later.steal - self.steal) / total if total > 0 else 0.0


def stolen_share(before: MachineTime | None, after: MachineTime | None) -> float | None:
    return before.stolen_share(after) if before is not None and after is not None else None


@dataclass(frozen=True)
class Sample:
    """The machine's CPU time at one instant, and the tables autovacuum was cleaning then."""

    machine: MachineTime
    autovacuum: tuple[str, ...]


class InterferenceMonitor:
    """Samples /proc/stat and the database's autovacuum workers every `interval` seconds while a
    measurement runs (`async with`). Without /proc/stat (not Linux) it samples nothing."""

    def __init__(self, database_dsn: str, interval: float = 0.5) -> None:
        self.dsn = database_dsn
        self.interval = interval
        self.samples: list[Sample] = []
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> InterferenceMonitor:
        self._conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
        await self._take()
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None and self._conn is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._take()
        await self._conn.close()

    async def _take(self) -> None:
        assert self._conn is not None
        machine = MachineTime.now()
        if machine is None:
            return
        rows = await (await self._conn.execute(AUTOVACUUM_SQL)).fetchall()
        tables = tuple(sorted({row[0].removeprefix("autovacuum: ") for row in rows if row[0]}))
        self.samples.append(Sample(machine, tables))

    async def _sample(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self._take()


def interference_report(samples: Sequence[Sample], finished: Sequence[tuple[float, float]]) -> dict[str, Any] | None:
    """What the neighbours did to a run: the share of CPU time stolen over it, the seconds an
    autovacuum worker was seen and what it cleaned, and the p99 of the transfers (`finished`:
    (monotonic instant answered, latency ms)) answered in quiet intervals against the others'.
    None without at least two samples (not Linux)."""
    if len(samples) < 2:
        return None
    intervals = list(itertools.pairwise(samples))
    shares = [before.machine.stolen_share(after.machine) for before, after in intervals]
    vacuuming = [bool(before.autovacuum or after.autovacuum) for before, after in intervals]
    busy = [share >= QUIET_STEAL_SHARE or vacuum for share, vacuum in zip(shares, vacuuming, strict=True)]
    quiet = [not busy[i] and (i == 0 or not busy[i - 1]) for i in range(len(intervals))]
    ends = [after.machine.at for _, after in intervals]
    quiet_ms: list[float] = []
    other_ms: list[float] = []
    for at, latency_ms in finished:
        interval = min(bisect.bisect_left(ends, at), len(ends) - 1)
        (quiet_ms if quiet[interval] else other_ms).append(latency_ms)
    vacuumed = sorted({table for sample in samples for table in sample.autovacuum})
    return {
        "steal_share": round(samples[0].machine.stolen_share(samples[-1].machine), 4),
        "max_interval_steal_share": round(max(shares), 4),
        "autovacuum_seconds": round(
            sum(
                after.machine.at - before.machine.at
                for (before, after), v in zip(intervals, vacuuming, strict=True)
                if v
            ),
            1,
        ),
        "autovacuum_tables": vacuumed,
        "quiet_share_of_transfers": round(len(quiet_ms) / len(finished), 3) if finished else float("nan"),
        "quiet_p99_ms": round(percentile(quiet_ms, 99), 2),
        "other_p99_ms": round(percentile(other_ms, 99), 2),
    }
