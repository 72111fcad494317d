"""Load on the ledger over HTTP: setup through the API, then implicit transfers back and forth.

Every transfer is `PUT /transactions/{new uuid}` with `transfer_units` and an implicit selection
of 1..max_quantity units, from one holding account to another, in a random direction, so both
accounts always hold units. Closed loops (N clients each waiting for its answer) give the peak;
an open loop (Poisson arrivals at a fixed rate, latency counted from the scheduled arrival, so a
slow answer cannot hide the requests queued behind it) gives the latency at a given load.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from registry_platform.auth import Grant, dev_signing_key, issue_token
from registry_platform.settings import DEV_TOKEN_SECRET
from registry_platform.testing.http import Answer, HttpFailure, HttpPool

# The open loop's connections: requests beyond them wait in the client, and the wait counts.
OPEN_LOOP_CONNECTIONS = 64


def admin_token() -> str:
    key = dev_signing_key(DEV_TOKEN_SECRET)
    return str(issue_token(key, "bench", [Grant("registry_administrator")], lifetime=4 * 3600))


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank `p`th percentile; NaN of nothing."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


@dataclass
class LoadResult:
    ok: int = 0
    elapsed: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    dropped: int = 0
    blocks_moved: int = 0  # blocks created in the destinations (A6R-52 moves whole small blocks)
    answered: int = 0  # every answer, warm-up included: what the CPU measured around a run paid for
    # (monotonic instant answered, latency ms) of each recorded transfer: what steal did, second by second.
    finished: list[tuple[float, float]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, p: float) -> float:
        return percentile(self.latencies_ms, p)

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.latencies_ms) if self.latencies_ms else float("nan")

    def summary(self) -> dict[str, Any]:
        return {
            "transfers": self.ok,
            "seconds": round(self.elapsed, 3),
            "transfers_per_s": round(self.rate, 1),
            "p50_ms": round(self.percentile(50), 2),
            "p99_ms": round(self.percentile(99), 2),
            "mean_ms": round(self.mean_ms, 2),
            "max_ms": round(max(self.latencies_ms, default=float("nan")), 2),
            "errors": dict(self.errors),
            "dropped": self.dropped,
            "blocks_moved_per_transfer": round(self.blocks_moved / self.ok, 2) if self.ok else float("nan"),
        }


class LedgerHttp:
    def __init__(self, base_url: str, *, connections: int) -> None:
        self.base_url = base_url
        self.http = HttpPool(base_url, size=connections, headers={"Authorization": f"Bearer {admin_token()}"})

    async def __aenter__(self) -> LedgerHttp:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.http.close()

    async def propose(self, command: dict[str, Any]) -> Answer:
        return await self.http.request("PUT", f"/transactions/{uuid.uuid4()}", command)

    async def ok(self, command: dict[str, Any]) -> dict[str, Any]:
        response = await self.propose(command)
        if response.status_code != 201:
            raise RuntimeError(f"{command['kind']} refused: {response.status_code} {response.text}")
        body: dict[str, Any] = response.json()
        return body


async def setup_registry(base_url: str) -> dict[str, str]:
    """Two sections, an issuance account and two holding accounts (one per Party), all active."""
    async with LedgerHttp(base_url, connections=1) as ledger:
        await ledger.ok({"kind": "create_section", "party": "GHA", "name": "Ghana"})
        await ledger.ok({"kind": "create_section", "party": "CHE", "name": "Switzerland"})
        accounts: dict[str, str] = {}
        for name, section, type_ in [("issuance", "GHA", "issuance"), ("a", "GHA", "holding"), ("b", "CHE", "holding")]:
            opened = await ledger.ok(
                {"kind": "open_account", "holder": f"bench {name}", "section": section, "type": type_}
            )
            accounts[name] = opened["account"]
            await ledger.ok(
                {"kind": "change_account_status", "account": opened["account"], "status": "active", "reason": "bench"}
            )
    return accounts


class Transfers:
    """Random implicit transfers between the holding accounts."""

    def __init__(self, holding: list[str], max_quantity: int, seed: int) -> None:
        self.holding = holding
        self.max_quantity = max_quantity
        self.rng = random.Random(seed)

    def next(self) -> dict[str, Any]:
        source, destination = self.rng.sample(self.holding, 2)
        return {
            "kind": "transfer_units",
            "source": source,
            "destination": destination,
            "units": {"selection": {"quantity": self.rng.randint(1, self.max_quantity)}},
        }


def _record(result: LoadResult, response: Answer | BaseException, latency_ms: float) -> None:
    if isinstance(response, BaseException):
        result.errors[type(response).__name__] += 1
    elif response.status_code == 201:
        result.ok += 1
        result.latencies_ms.append(latency_ms)
        result.finished.append((time.monotonic(), latency_ms))
        result.blocks_moved += len(response.json()["blocks"])
    else:
        code = response.json().get("error", {}).get("code", "?") if response.content else "?"
        result.errors[f"{response.status_code} {code}"] += 1


async def _send(ledger: LedgerHttp, command: dict[str, Any]) -> Answer | BaseException:
    try:
        return await ledger.propose(command)
    except HttpFailure as exc:
        return exc


async def closed_loop(
    base_url: str, holding: list[str], *, clients: int, seconds: float, max_quantity: int, warmup: float = 1.0
) -> LoadResult:
    """`clients` clients, each sending its next transfer as soon as the previous one is answered."""
    result = LoadResult()
    loop = asyncio.get_running_loop()
    start = loop.time() + warmup
    end = start + seconds

    async def client(n: int, ledger: LedgerHttp) -> None:
        transfers = Transfers(holding, max_quantity, seed=n)
        while (sent := loop.time()) < end:
            response = await _send(ledger, transfers.next())
            result.answered += 1
            if sent >= start:
                _record(result, response, (loop.time() - sent) * 1000)

    async with LedgerHttp(base_url, connections=clients) as ledger:
        await asyncio.gather(*(client(n, ledger) for n in range(clients)))
    result.elapsed = seconds
    return result


async def open_loop(
    base_url: str, holding: list[str], *, rate: float, seconds: float, max_quantity: int, max_in_flight: int = 2000
) -> LoadResult:
    """Poisson arrivals at `rate` per second for `seconds`; latency from each scheduled arrival."""
    result = LoadResult()
    loop = asyncio.get_running_loop()
    transfers = Transfers(holding, max_quantity, seed=1000)
    arrivals = random.Random(7)
    in_flight: set[asyncio.Task[None]] = set()

    async def one(ledger: LedgerHttp, due: float) -> None:
        response = await _send(ledger, transfers.next())
        _record(result, response, (loop.time() - due) * 1000)

    async with LedgerHttp(base_url, connections=OPEN_LOOP_CONNECTIONS) as ledger:
        start = loop.time()
        due = start
        while True:
            due += arrivals.expovariate(rate)
            if due >= start + seconds:
                break
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if len(in_flight) >= max_in_flight:
                result.dropped += 1
                continue
            task = asyncio.create_task(one(ledger, due))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        if in_flight:
            await asyncio.wait(in_flight, timeout=60)
        result.elapsed = seconds
    return result


async def fixed_count(
    base_url: str, holding: list[str], *, clients: int, total: int, max_quantity: int, time_limit: float
) -> LoadResult:
    """`total` transfers from `clients` closed-loop clients (stops early at `time_limit` seconds)."""
    result = LoadResult()
    remaining = total
    started = time.monotonic()

    async def client(n: int, ledger: LedgerHttp) -> None:
        nonlocal remaining
        transfers = Transfers(holding, max_quantity, seed=10_000 + n)
        while remaining > 0 and time.monotonic() - started < time_limit:
            remaining -= 1
            sent = time.perf_counter()
            _record(result, await _send(ledger, transfers.next()), (time.perf_counter() - sent) * 1000)

    async with LedgerHttp(base_url, connections=clients) as ledger:
        await asyncio.gather(*(client(n, ledger) for n in range(clients)))
    result.elapsed = time.monotonic() - started
    return result


async def empty_requests(base_url: str, *, clients: int, seconds: float) -> float:
    """Requests/s of `GET /health` from `clients` closed-loop clients: what HTTP, the service's
    middleware and this load generator cost alone, with no ledger work behind them."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    answered = 0

    async def client(ledger: LedgerHttp) -> None:
        nonlocal answered
        while loop.time() < end:
            if (await ledger.http.request("GET", "/health")).status_code == 200:
                answered += 1

    async with LedgerHttp(base_url, connections=clients) as ledger:
        await asyncio.gather(*(client(ledger) for _ in range(clients)))
    return answered / seconds
