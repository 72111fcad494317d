"""Login throttling and account lockout arithmetic (A6R-6), pure so that it can be reasoned about.

Two counters stop password guessing:

- per client (its address): the first `free` failures cost nothing; each further failure doubles
  the wait before the client may try again, up to `max_delay` seconds. While it must wait, the
  client is answered 429 with Retry-After and its guess is not even checked. The count decays:
  a client whose last failure is older than `max_delay` starts afresh.
- per account: `lock_threshold` consecutive failed sign-ins (password or second factor, from any
  client) lock the account. A locked account refuses every sign-in, the correct password
  included, until an administrator unlocks it: a slow, distributed guesser gets nowhere either.

The per-client counter, under a policy of its own, also throttles the token requests of a registered
external system, counted by client id (A6R-8, service_layer.external); such a client is never locked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class ThrottlePolicy:
    free: int = 5
    max_delay: int = 900
    lock_threshold: int = 10


@dataclass(frozen=True)
class ClientRecord:
    failures: int = 0
    last_failure: datetime | None = None
    blocked_until: datetime | None = None


def delay_after(failures: int, policy: ThrottlePolicy) -> int:
    """Seconds a client must wait after its `failures`-th consecutive failure."""
    if failures <= policy.free:
        return 0
    exponent = failures - policy.free - 1
    if exponent >= 30:
        return policy.max_delay
    return int(min(2**exponent, policy.max_delay))


def retry_after(record: ClientRecord, now: datetime) -> int:
    """Seconds (rounded up) before the client may try again; 0 when it may try now."""
    if record.blocked_until is None or record.blocked_until <= now:
        return 0
    return max(1, math.ceil((record.blocked_until - now).total_seconds()))


def after_failure(record: ClientRecord, now: datetime, policy: ThrottlePolicy) -> ClientRecord:
    stale = record.last_failure is None or (now - record.last_failure).total_seconds() > policy.max_delay
    failures = 1 if stale else record.failures + 1
    delay = delay_after(failures, policy)
    return ClientRecord(failures, now, now + timedelta(seconds=delay) if delay else None)


def locks_account(consecutive_failures: int, policy: ThrottlePolicy) -> bool:
    return consecutive_failures >= policy.lock_threshold
