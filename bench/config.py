"""What a bench run measures and for how long: defaults, overridable through BENCH_* variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


@dataclass(frozen=True)
class BenchConfig:
    seconds: float  # length of each timed measurement
    transfers: int  # random transfers of the fragmentation run
    transfers_max_seconds: float  # ... which stops there if it has not done them all by then
    small_blocks: int  # live blocks of the small scale
    large_blocks: int  # live blocks of the large scale
    clients: int  # concurrent clients of the peak measurement (and pgbench's -c)
    cost_rounds: int  # rounds of the side-by-side comparison of the two scales
    pgbench_scale: int
    pg_port: int  # preferred port of the dedicated cluster (the next free one below 32768 is used)
    max_quantity: int  # implicit transfers move 1..max_quantity units
    min_block: int  # seeded blocks hold min_block..max_block units, all above max_quantity,
    max_block: int  # so that the first transfers out of the seeded blocks split one
    data_dir: Path

    @classmethod
    def from_env(cls) -> BenchConfig:
        return cls(
            seconds=_float("BENCH_SECONDS", 15.0),
            transfers=_int("BENCH_TRANSFERS", 100_000),
            transfers_max_seconds=_float("BENCH_TRANSFERS_MAX_SECONDS", 480.0),
            small_blocks=_int("BENCH_SMALL_BLOCKS", 10_000),
            large_blocks=_int("BENCH_LARGE_BLOCKS", 1_000_000),
            clients=_int("BENCH_CLIENTS", 16),
            cost_rounds=_int("BENCH_COST_ROUNDS", 4),
            pgbench_scale=_int("BENCH_PGBENCH_SCALE", 16),
            pg_port=_int("BENCH_PG_PORT", 26432),
            max_quantity=_int("BENCH_MAX_QUANTITY", 50),
            min_block=_int("BENCH_MIN_BLOCK", 100),
            max_block=_int("BENCH_MAX_BLOCK", 1000),
            data_dir=Path(os.environ.get("BENCH_DATA_DIR", ROOT / ".data" / "bench")),
        )
