"""A6R-6: throttling per client and lockout per account."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from identity.domain.throttle import (
    ClientRecord,
    ThrottlePolicy,
    after_failure,
    delay_after,
    locks_account,
    retry_after,
)

POLICY = ThrottlePolicy(free=5, max_delay=900, lock_threshold=10)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_a6r_6_free_failures_then_doubling_delays() -> None:
    assert [delay_after(n, POLICY) for n in range(1, 10)] == [0, 0, 0, 0, 0, 1, 2, 4, 8]
    assert delay_after(1000, POLICY) == 900


def test_a6r_6_a_client_waits_after_its_free_failures() -> None:
    record = ClientRecord()
    for _ in range(POLICY.free):
        record = after_failure(record, T0, POLICY)
        assert retry_after(record, T0) == 0
    record = after_failure(record, T0, POLICY)
    assert retry_after(record, T0) == 1
    assert retry_after(record, T0 + timedelta(seconds=1)) == 0


def test_a6r_6_the_count_decays_after_a_quiet_period() -> None:
    record = ClientRecord(failures=50, last_failure=T0, blocked_until=T0 + timedelta(seconds=900))
    later = T0 + timedelta(seconds=POLICY.max_delay + 1)
    assert after_failure(record, later, POLICY).failures == 1


def test_a6r_6_account_locks_at_the_threshold() -> None:
    assert not locks_account(9, POLICY)
    assert locks_account(10, POLICY)


@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=10_000))
def test_a6r_6_delays_never_decrease_and_stay_bounded(a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert 0 <= delay_after(low, POLICY) <= delay_after(high, POLICY) <= POLICY.max_delay


@given(st.lists(st.integers(min_value=0, max_value=120), min_size=1, max_size=60))
def test_a6r_6_a_client_that_respects_retry_after_gets_bounded_attempts(gaps: list[int]) -> None:
    """However a client spaces its attempts, it never gets a guess in while it must wait."""
    record, now = ClientRecord(), T0
    for gap in gaps:
        now += timedelta(seconds=gap)
        if retry_after(record, now):
            continue  # refused with 429: the guess is not checked, nothing changes
        record = after_failure(record, now, POLICY)
        assert record.failures >= 1
