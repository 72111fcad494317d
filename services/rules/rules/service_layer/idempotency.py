"""A creating change made once per `Idempotency-Key` (see domain.idempotency).

The key is claimed, the change made and its answer stored in one database transaction: a request
whose change is refused leaves no key behind (its repeat is judged again), and a repeat that
comes while the first is still being made waits for it and gets its answer. A key older than the
retention is claimed again like a new one; each claim also deletes a few expired keys, so the
table holds about one retention's worth of keys without a task of its own to clean it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from rules.adapters.repository import Repository
from rules.domain.idempotency import Answer, KeyedRequest, repeat

# Expired keys deleted per claim: more than the one key a claim adds, so a backlog (e.g. when the
# retention is shortened) drains, while a claim's own transaction stays short.
PURGE_BATCH = 100


async def once(
    conn: AsyncConnection,
    request: KeyedRequest,
    *,
    status: int,
    at: datetime,
    retention: timedelta,
    work: Callable[[], Awaitable[Any]],
) -> Answer:
    """`work`'s answer, remembered under the key; the remembered one for a repeat."""
    repo = Repository(conn)
    expired_before = at - retention
    if not await repo.claim_key(request.caller, request.key, request.digest, at, expired_before):
        return repeat(request, *await repo.keyed_answer(request.caller, request.key))
    # Only once the claim, which may wait on another transaction, is made: a transaction holding
    # others' expired keys while it waits for its own could deadlock with their owners.
    await repo.delete_expired_keys(expired_before, PURGE_BATCH)
    body = await work()
    await repo.record_answer(request.caller, request.key, status, body)
    return Answer(status, body)
