"""A background task that fails is restarted, and named as restarting until it runs again."""

from __future__ import annotations

import asyncio
import contextlib
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


async def test_stopping_waits_for_the_work_to_clean_up_and_a_task_that_returns_is_healthy() -> None:
    supervisor, stop, steps = Supervisor(first_delay=0.01, healthy_after=5), asyncio.Event(), []

    async def slow_to_close(stop: asyncio.Event) -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            steps.append("cleaning up")
            await asyncio.sleep(0.05)  # e.g. a consumer leaving its group
            steps.append("clean")

    task = asyncio.create_task(supervisor.run("consumer", slow_to_close, stop))
    await asyncio.sleep(0.05)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert steps == ["cleaning up", "clean"], "the stop went on before the work had cleaned up"

    failures = []

    async def fails_once_then_returns(stop: asyncio.Event) -> None:
        failures.append(1)
        if len(failures) == 1:
            raise ConnectionError("the broker went away")

    await asyncio.wait_for(supervisor.run("relay", fails_once_then_returns, stop), timeout=5)
    assert len(failures) == 2 and supervisor.failing == set()
