"""A creating change made once per `Idempotency-Key` (see domain.idempotency).

The key is claimed, the change made and its answer stored in one database transaction: a request
whose change is refused leaves no key behind (its repeat is judged again), and a repeat that
comes while the first is still being made waits for it and gets its answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from rules.adapters.repository import Repository
from rules.domain.idempotency import Answer, KeyedRequest, repeat


async def once(
    conn: AsyncConnection,
    request: KeyedRequest,
    *,
    status: int,
    at: datetime,
    work: Callable[[], Awaitable[Any]],
) -> Answer:
    """`work`'s answer, remembered under the key; the remembered one for a repeat."""
    repo = Repository(conn)
    if not await repo.claim_key(request.caller, request.key, request.digest, at):
        return repeat(request, *await repo.keyed_answer(request.caller, request.key))
    body = await work()
    await repo.record_answer(request.caller, request.key, status, body)
    return Answer(status, body)
