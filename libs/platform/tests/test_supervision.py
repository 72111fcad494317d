"""A background task that fails is restarted, and named as restarting until it runs again."""

from __future__ import annotations

import asyncio
import itertools

from registry_platform.supervision import Supervisor


async def test_a_failing_task_is_restarted_and_reported_until_it_runs_again() -> None:
    supervisor = Supervisor(first_delay=0.01, max_delay=0.05, healthy_after=0.2)
    stop, starts, running = asyncio.Event(), [], asyncio.Event()

    async def consumer(stop: asyncio.Event) -> None:
        starts.append(asyncio.get_running_loop().time())
        if len(starts) <= 3:
            raise ConnectionError("the broker went away")
        running.set()
        await stop.wait()

    task = asyncio.create_task(supervisor.run("consumer", consumer, stop))
    await asyncio.wait_for(running.wait(), timeout=5)
    assert len(starts) == 4 and supervisor.failing == {"consumer"}
    # Waits grow after each failure: 0.01, 0.02, 0.04 s.
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps[0] < gaps[2]
    await asyncio.sleep(0.3)
    assert supervisor.failing == set(), "healthy again once it has run a while"
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert len(starts) == 4


async def test_a_task_that_returns_is_not_restarted_and_cancelling_cancels_it() -> None:
    supervisor, stop, calls = Supervisor(first_delay=0.01), asyncio.Event(), []

    async def once(stop: asyncio.Event) -> None:
        calls.append(1)

    await asyncio.wait_for(supervisor.run("once", once, stop), timeout=5)
    assert calls == [1] and supervisor.failing == set()

    cancelled = asyncio.Event()

    async def forever(stop: asyncio.Event) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    task = asyncio.create_task(supervisor.run("forever", forever, stop))
    await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.wait_for(cancelled.wait(), timeout=5)
