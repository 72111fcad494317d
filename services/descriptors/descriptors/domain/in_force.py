"""Which descriptors are in force for which serials at an instant t (A6R-45, A6R-55).

Processing at t uses exactly the descriptors applicable at t:

- a descriptor is a candidate at t when it applies at t (applicable_from <= t);
- a superseded descriptor stops being a candidate from its superseder's applicability instant
  (before that instant the old one still applies): corrections never act retroactively;
- where several candidate authorizations cover a serial, the latest applicable wins (ties: the
  later created, then the id); where several markers do, the latest created wins ("the latest first
  transfer marker by date is applicable").

`segments` splits a range at every boundary of the candidates, so each returned segment has one
authorization (or none) and one marker (or none); neighbouring segments with the same pair merge.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

from descriptors.domain.model import Covering, Descriptor, Kind, Supersession


@dataclass(frozen=True)
class Segment:
    first: int
    last: int
    authorization: Descriptor | None
    marker: Descriptor | None


def superseded_at(supersessions: Iterable[Supersession], at: datetime) -> set[str]:
    """Ids of descriptors replaced, at `at`, by a superseder that applies at `at`."""
    return {s.superseded for s in supersessions if s.applicable_from <= at}


def candidates(coverings: Iterable[Covering], supersessions: Iterable[Supersession], at: datetime) -> list[Covering]:
    gone = superseded_at(supersessions, at)
    return [c for c in coverings if c.descriptor.applicable_from <= at and c.descriptor.id not in gone]


def boundaries(first: int, last: int, spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """first..last cut wherever a span (first, last) starts or ends inside it: elementary pieces,
    each either wholly inside or wholly outside every span."""
    cuts = {first, last + 1}
    for a, b in spans:
        if first < a <= last:
            cuts.add(a)
        if first <= b < last:
            cuts.add(b + 1)
    points = sorted(cuts)
    return [(a, b - 1) for a, b in pairwise(points)]


def latest(descriptors: Iterable[Descriptor]) -> Descriptor | None:
    found = list(descriptors)
    return max(found, key=Descriptor.order_key) if found else None


def segments(
    first: int, last: int, coverings: Sequence[Covering], supersessions: Sequence[Supersession], at: datetime
) -> list[Segment]:
    """The descriptors in force at `at` over first..last, as consecutive segments covering it all."""
    live = [c for c in candidates(coverings, supersessions, at) if c.last >= first and c.first <= last]
    out: list[Segment] = []
    for a, b in boundaries(first, last, [(c.first, c.last) for c in live]):
        here = [c.descriptor for c in live if c.first <= a and c.last >= b]
        authorization = latest(d for d in here if d.kind is Kind.AUTHORIZATION)
        marker = latest(d for d in here if d.kind is Kind.FIRST_TRANSFER)
        if out and out[-1].authorization == authorization and out[-1].marker == marker and out[-1].last + 1 == a:
            out[-1] = Segment(out[-1].first, b, authorization, marker)
        else:
            out.append(Segment(a, b, authorization, marker))
    return out
