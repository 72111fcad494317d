"""A6R-45 / A6R-53 (b): descriptors apply no earlier than 00:00 UTC of the next day and no earlier
than 12 hours after creation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from descriptors.domain.applicability import (
    Window,
    applicable_from,
    applies_at,
    applies_here_from,
    midnight_after,
)

EXACT = Window(align_to_midnight=False)
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)  # fmt: skip


def test_a6r45_created_at_2300_applies_at_midnight_two_days_later_not_before() -> None:
    created = datetime(2026, 3, 10, 23, 0, tzinfo=UTC)
    assert applicable_from(created) == datetime(2026, 3, 12, 0, 0, tzinfo=UTC)
    assert not applies_at(created, datetime(2026, 3, 11, 23, 59, 59, tzinfo=UTC))
    assert not applies_at(created, datetime(2026, 3, 11, 11, 0, tzinfo=UTC))
    assert applies_at(created, datetime(2026, 3, 12, 0, 0, tzinfo=UTC))


def test_a6r45_created_before_noon_applies_at_the_next_midnight() -> None:
    created = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
    assert applicable_from(created) == datetime(2026, 3, 11, 0, 0, tzinfo=UTC)


def test_a6r53_without_alignment_the_later_of_the_two_bounds() -> None:
    created = datetime(2026, 3, 10, 23, 0, tzinfo=UTC)
    assert applicable_from(created, EXACT) == datetime(2026, 3, 11, 11, 0, tzinfo=UTC)
    assert applicable_from(datetime(2026, 3, 10, 6, 0, tzinfo=UTC), EXACT) == datetime(2026, 3, 11, tzinfo=UTC)


def test_a6r45_offsets_are_instants_in_utc() -> None:
    created = datetime(2026, 3, 11, 1, 0, tzinfo=timezone(timedelta(hours=2)))  # 23:00 UTC the day before
    assert applicable_from(created) == datetime(2026, 3, 12, 0, 0, tzinfo=UTC)


def test_a6r45_window_per_cooperative_approach() -> None:
    slow = Window(min_delay=timedelta(hours=36))
    created = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    assert applicable_from(created, slow) == datetime(2026, 3, 12, 0, 0, tzinfo=UTC)
    assert applicable_from(created, Window(min_delay=timedelta(0), next_day=False, align_to_midnight=False)) == created


@given(instants)
def test_a6r45_exact_window_is_the_max_of_next_midnight_and_twelve_hours(created: datetime) -> None:
    at = applicable_from(created, EXACT)
    assert at >= midnight_after(created)
    assert at >= created + timedelta(hours=12)
    assert at == max(midnight_after(created), created + timedelta(hours=12))


@given(instants)
def test_a6r45_aligned_window_is_the_first_midnight_after_both_bounds(created: datetime) -> None:
    at = applicable_from(created)
    bound = max(midnight_after(created), created + timedelta(hours=12))
    assert at >= midnight_after(created)
    assert at >= created + timedelta(hours=12)
    assert (at.hour, at.minute, at.second, at.microsecond) == (0, 0, 0, 0)
    assert bound <= at < bound + timedelta(days=1)
    assert at > created


@given(instants, st.integers(min_value=0, max_value=72))
def test_a6r45_later_creation_never_applies_earlier(created: datetime, hours: int) -> None:
    later = created + timedelta(hours=hours)
    assert applicable_from(later) >= applicable_from(created)
    assert applicable_from(later, EXACT) >= applicable_from(created, EXACT)


def test_a6r21_a_peers_descriptor_applies_here_no_earlier_than_its_storage() -> None:
    given_by_peer = datetime(2026, 3, 12, tzinfo=UTC)
    assert applies_here_from(given_by_peer, None) == given_by_peer  # this registry's own
    assert applies_here_from(given_by_peer, given_by_peer - timedelta(days=1)) == given_by_peer  # in time
    late = datetime(2026, 4, 1, 9, 30, tzinfo=UTC)
    assert applies_here_from(given_by_peer, late) == late
