"""Which descriptors are in force at an instant (A6R-45), and supersession (A6R-55)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from descriptors.domain.applicability import applicable_from
from descriptors.domain.in_force import boundaries, segments, superseded_over
from descriptors.domain.model import Covering, Dedication, Descriptor, Kind, Supersession

T0 = datetime(2026, 3, 10, 23, 0, tzinfo=UTC)


def auth(
    id: str, created: datetime, dedication: Dedication = Dedication.NDC, supersedes: str | None = None
) -> Descriptor:
    return Descriptor(id, Kind.AUTHORIZATION, "GHA", created, applicable_from(created), supersedes, dedication)


def marker(id: str, created: datetime, supersedes: str | None = None) -> Descriptor:
    return Descriptor(
        id, Kind.FIRST_TRANSFER, "GHA", created, applicable_from(created), supersedes, transferred_at=created
    )


def superseding(new: Descriptor) -> Supersession:
    assert new.supersedes is not None
    return Supersession(new.id, new.supersedes, new.applicable_from, new.created_at)


def test_a6r45_processing_at_t_uses_exactly_the_descriptors_applicable_at_t() -> None:
    a = auth("a1", T0)
    cover = [Covering(a, 1, 100)]
    before = segments(1, 100, cover, [], datetime(2026, 3, 11, 23, 59, tzinfo=UTC))
    after = segments(1, 100, cover, [], datetime(2026, 3, 12, 0, 0, tzinfo=UTC))
    assert [(s.first, s.last, s.authorization) for s in before] == [(1, 100, None)]
    assert [(s.first, s.last, s.authorization) for s in after] == [(1, 100, a)]


def test_a6r55_a_superseding_authorization_replaces_the_old_one_from_its_own_applicability() -> None:
    old = auth("a1", T0 - timedelta(days=10), Dedication.NDC)
    new = auth("a2", T0, Dedication.BOTH, supersedes="a1")
    cover = [Covering(old, 1, 100), Covering(new, 1, 50)]
    sup = [superseding(new)]
    just_before = new.applicable_from - timedelta(microseconds=1)
    assert [(s.first, s.last, s.authorization) for s in segments(1, 100, cover, sup, just_before)] == [(1, 100, old)]
    # From its applicability on, the new one replaces the old one wholly: units 51-100, which
    # only the old one covered, are no longer authorized (a correction may narrow an authorization).
    at = new.applicable_from
    assert [(s.first, s.last, s.authorization) for s in segments(1, 100, cover, sup, at)] == [
        (1, 50, new),
        (51, 100, None),
    ]


def test_a6r55_a_superseder_outside_the_range_still_ends_the_old_authorization() -> None:
    old = auth("a1", T0 - timedelta(days=10))
    new = auth("a2", T0, supersedes="a1")
    result = segments(1, 10, [Covering(old, 1, 10)], [superseding(new)], new.applicable_from)
    assert [(s.first, s.last, s.authorization) for s in result] == [(1, 10, None)]


def test_a6r55_the_latest_marker_by_date_applies() -> None:
    first = marker("m1", T0 - timedelta(days=5))
    second = marker("m2", T0 - timedelta(days=3))
    cover = [Covering(first, 1, 10), Covering(second, 5, 20)]
    result = segments(1, 20, cover, [], T0)
    assert [(s.first, s.last, s.marker) for s in result] == [(1, 4, first), (5, 20, second)]


def test_a6r45_segments_split_at_every_descriptor_boundary_and_merge_alike_neighbours() -> None:
    a = auth("a1", T0 - timedelta(days=5))
    m = marker("m1", T0 - timedelta(days=5))
    cover = [Covering(a, 10, 30), Covering(m, 20, 40), Covering(a, 31, 35)]
    result = segments(1, 50, cover, [], T0)
    assert [(s.first, s.last, s.authorization is not None, s.marker is not None) for s in result] == [
        (1, 9, False, False),
        (10, 19, True, False),
        (20, 35, True, True),
        (36, 40, False, True),
        (41, 50, False, False),
    ]


spans = st.lists(st.tuples(st.integers(1, 60), st.integers(0, 20)).map(lambda t: (t[0], t[0] + t[1])), max_size=8)


@given(st.integers(1, 40), st.integers(0, 40), spans)
def test_a6r45_boundaries_partition_the_range_and_respect_every_span(first: int, extra: int, cuts: list) -> None:  # type: ignore[type-arg]
    last = first + extra
    pieces = boundaries(first, last, cuts)
    assert pieces[0][0] == first and pieces[-1][1] == last
    assert all(a <= b for a, b in pieces)
    assert all(p[1] + 1 == q[0] for p, q in pairwise(pieces))
    for a, b in pieces:
        for s, e in cuts:
            inside, outside = s <= a and b <= e, b < s or a > e
            assert inside or outside


def test_a6r55_a_marker_superseded_for_some_of_its_units_stays_in_force_for_the_others() -> None:
    old = marker("m1", T0 - timedelta(days=5))
    new = marker("m2", T0, supersedes="m1")
    cover = [Covering(old, 1, 10), Covering(new, 1, 5)]
    result = segments(1, 10, cover, [superseding(new)], new.applicable_from)
    assert [(s.first, s.last, s.marker) for s in result] == [(1, 5, new), (6, 10, old)]
    # Asked only for the units the successor does not cover, the old marker still answers.
    alone = segments(6, 10, [Covering(old, 1, 10)], [superseding(new)], new.applicable_from)
    assert [(s.first, s.last, s.marker) for s in alone] == [(6, 10, old)]


def test_a6r55_a_marker_superseded_piece_by_piece_is_gone_where_each_successor_applies() -> None:
    old = marker("m1", T0 - timedelta(days=5))
    left = marker("m2", T0, supersedes="m1")
    right = marker("m3", T0 + timedelta(days=3), supersedes="m1")
    cover = [Covering(old, 1, 10), Covering(left, 1, 4), Covering(right, 8, 10)]
    sup = [superseding(left), superseding(right)]
    between = segments(1, 10, cover, sup, left.applicable_from)
    assert [(s.first, s.last, s.marker) for s in between] == [(1, 4, left), (5, 10, old)]
    after = segments(1, 10, cover, sup, right.applicable_from)
    assert [(s.first, s.last, s.marker) for s in after] == [(1, 4, left), (5, 7, old), (8, 10, right)]
    assert superseded_over(1, 10, cover, sup, right.applicable_from) == set()
    assert superseded_over(1, 4, cover, sup, right.applicable_from) == {"m1"}
