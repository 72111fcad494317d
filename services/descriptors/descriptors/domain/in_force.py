"""Which descriptors are in force for which serials at an instant t (A6R-45, A6R-55).

Processing at t uses exactly the descriptors applicable at t:

- a descriptor is a candidate at t when it applies at t (applicable_from <= t);
- a superseded descriptor stops being a candidate from its superseder's applicability instant
  (before that instant the old one still applies): corrections never act retroactively. An
  authorization is replaced wholly (a correction may narrow it); a marker only for the serials its
  successor covers, since the sequencer and re-issues supersede a marker piece by piece;
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
    """The authorizations applicable at `at` that no applicable superseder replaced."""
    gone = superseded_at(supersessions, at)
    return [
        c
        for c in coverings
        if c.descriptor.kind is Kind.AUTHORIZATION
        and c.descriptor.applicable_from <= at
        and c.descriptor.id not in gone
    ]


def replaced_here(here: Iterable[Descriptor], at: datetime) -> set[str]:
    """Ids of the markers superseded over one piece of serials at `at`: by a marker covering the
    same piece and applicable at `at` (a successor elsewhere leaves the piece's marker standing)."""
    return {d.supersedes for d in here if d.kind is Kind.FIRST_TRANSFER and d.applicable_from <= at and d.supersedes}


def markers_here(here: Sequence[Descriptor], at: datetime) -> list[Descriptor]:
    """Of the descriptors covering one piece of serials, the markers in force there at `at`."""
    replaced = replaced_here(here, at)
    return [d for d in here if d.kind is Kind.FIRST_TRANSFER and d.applicable_from <= at and d.id not in replaced]


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
    overlapping = [c for c in coverings if c.last >= first and c.first <= last]
    authorizations = candidates(overlapping, supersessions, at)
    # Superseded markers still cut: their successors may cover only some of their serials.
    markers = [
        c for c in overlapping if c.descriptor.kind is Kind.FIRST_TRANSFER and c.descriptor.applicable_from <= at
    ]
    live = authorizations + markers
    out: list[Segment] = []
    for a, b in boundaries(first, last, [(c.first, c.last) for c in live]):
        here = [c.descriptor for c in live if c.first <= a and c.last >= b]
        authorization = latest(d for d in here if d.kind is Kind.AUTHORIZATION)
        marker = latest(markers_here(here, at))
        if out and out[-1].authorization == authorization and out[-1].marker == marker and out[-1].last + 1 == a:
            out[-1] = Segment(out[-1].first, b, authorization, marker)
        else:
            out.append(Segment(a, b, authorization, marker))
    return out


def superseded_over(
    first: int, last: int, coverings: Sequence[Covering], supersessions: Sequence[Supersession], at: datetime
) -> set[str]:
    """Ids of the descriptors covering some of first..last that are superseded at `at` for all of
    it they cover (a marker superseded for only some of those serials still stands for the rest)."""
    overlapping = [c for c in coverings if c.last >= first and c.first <= last]
    gone = superseded_at(supersessions, at)
    out = {c.descriptor.id for c in overlapping if c.descriptor.kind is Kind.AUTHORIZATION and c.descriptor.id in gone}
    markers = {c.descriptor.id for c in overlapping if c.descriptor.kind is Kind.FIRST_TRANSFER}
    standing: set[str] = set()
    for a, b in boundaries(first, last, [(c.first, c.last) for c in overlapping]):
        here = [c.descriptor for c in overlapping if c.first <= a and c.last >= b]
        replaced = replaced_here(here, at)
        standing |= {d.id for d in here if d.kind is Kind.FIRST_TRANSFER and d.id not in replaced}
    return out | (markers - standing)
