"""Background tasks that come back: a consumer, feed or relay that died on an unexpected error would
leave the service answering its API while it silently stopped consuming, publishing or applying
revocations. Each is restarted, waiting longer after each failure, and `/ready` names it meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)
Work = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


class Supervisor:
    def __init__(self, *, first_delay: float = 1.0, max_delay: float = 30.0, healthy_after: float = 10.0) -> None:
        self.first_delay = first_delay
        self.max_delay = max_delay
        # A restarted task that has run this long without failing is counted as healthy again.
        self.healthy_after = healthy_after
        self.failing: set[str] = set()

    async def run(self, name: str, work: Work, stop: asyncio.Event) -> None:
        """Run `work(stop)` until it returns or `stop` is set, restarting it after each failure."""
        loop, delay = asyncio.get_running_loop(), self.first_delay
        while not stop.is_set():
            started = loop.time()
            try:
                await self._attempt(name, work, stop)
                self.failing.discard(name)
                return
            except Exception:
                self.failing.add(name)
                if loop.time() - started >= self.healthy_after:
                    delay = self.first_delay  # it ran well before failing: a new failure, not a loop
                log.exception("background task %s failed; restarting it in %.1f s", name, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, self.max_delay)

    async def _attempt(self, name: str, work: Work, stop: asyncio.Event) -> None:
        task = asyncio.ensure_future(work(stop))
        try:
            done, _ = await asyncio.wait({task}, timeout=self.healthy_after)
            if not done:
                self.failing.discard(name)
            await task
        except asyncio.CancelledError:
            # Cancelled (the service stopping): let the work's own cleanup finish before going on.
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            raise
