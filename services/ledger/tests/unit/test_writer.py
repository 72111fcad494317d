"""The single writer's answers to its waiters (A6R-47)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ledger.service_layer.writer import IdempotencyConflict, LedgerWriter, _Pending


async def test_a6r47_a_waiter_cancelled_before_its_refusal_does_not_stop_the_writer() -> None:
    """A client that went away (its waiter cancelled) while its batch ran gets no answer; the
    others of the batch still get theirs, and the writer loop carries on."""
    writer = LedgerWriter(None, topic=str, signer=None)  # type: ignore[arg-type]

    async def apply(proposals: list[Any], **_: Any) -> list[Any]:
        return [IdempotencyConflict("transaction id reused") for _ in proposals]

    writer.apply = apply  # type: ignore[method-assign]
    loop = asyncio.get_running_loop()
    gone, waiting = loop.create_future(), loop.create_future()
    gone.cancel()
    await writer._process([_Pending(None, gone), _Pending(None, waiting)])  # type: ignore[arg-type]
    assert gone.cancelled()
    assert isinstance(waiting.exception(), IdempotencyConflict)


async def test_a6r47_waiters_are_answered_when_the_state_cannot_be_reloaded_after_a_failed_batch() -> None:
    """The database went away mid-batch: the writer cannot reload its state and stops (to be
    restarted), but first answers every waiter; none is left waiting for ever."""
    writer = LedgerWriter(None, topic=str, signer=None)  # type: ignore[arg-type]

    async def apply(proposals: list[Any], **_: Any) -> list[Any]:
        raise ConnectionError("the database went away")

    async def load() -> None:
        raise ConnectionError("the database is still away")

    writer.apply = apply  # type: ignore[method-assign]
    writer.load = load  # type: ignore[method-assign]
    loop = asyncio.get_running_loop()
    waiters = [loop.create_future() for _ in range(3)]
    with pytest.raises(ConnectionError):
        await writer._process([_Pending(None, w) for w in waiters])  # type: ignore[arg-type]
    assert all(isinstance(w.exception(), ConnectionError) for w in waiters)
