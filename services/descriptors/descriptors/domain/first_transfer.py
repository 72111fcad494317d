"""First-transfer markers: which events constitute a first transfer, and when a marker may be
re-issued (A6R-45, A6R-55).

Interpretation (issue 6):

- For NDC use, the first transfer is the first international transfer: units moving between
  accounts of two different Parties' sections, or out of the registry (external transfer). A move
  to or from a registry account (no section) is not international; corrective transfers never
  constitute a first transfer.
- For OIMP, the authorizing Party chose the event in the authorization: the authorization itself,
  the issuance, or the use or cancellation (units moved, by the main operation of a transaction,
  into a `use_oimp` or `cancellation` account).
- Units authorized for OIMP only are first transferred by the Party's chosen event, not by an
  international transfer. Units with an NDC (or NDC and OIMP) authorization, or with none, are
  first transferred by their first international transfer; for NDC and OIMP, whichever comes first.
- Units that carry a marker are first transferred, unless the marker's constituting transfer was
  reversed by a corrective transfer and no later international or external transfer of them stands
  unreversed: then the next constituting event re-issues the marker (it supersedes the old one).
- A marker may be re-issued (by hand) only if the units have not been transferred internationally
  or externally since the marker, except by transfers reversed since by a corrective transfer.
- A reversal is a corrective transfer moving the units from the transfer's destination back to its
  source, recorded after it.

A peer's marker counts here from when this registry stored it (`known_key`), never from the date
its origin gave it: a marker stored late changes no decision on a transaction recorded before it
arrived, so deciding again, and replay, decide as the live service did (A6R-21).

Everything here works on one piece of serials that every fact given wholly covers (see
in_force.boundaries); the service layer cuts ranges into such pieces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from descriptors.domain.model import Basis, Dedication, Descriptor, OimpTrigger

# Destinations whose reaching is "use or cancellation" for OIMP (A6R-41 c, d).
OIMP_USE_TYPES = frozenset({"use_oimp", "cancellation"})
PROXY = "proxy"


class Move(StrEnum):
    ISSUE = "issue"
    EXTERNAL_IN = "external_in"
    DOMESTIC = "domestic"
    INTERNATIONAL = "international"
    EXTERNAL_OUT = "external_out"
    CORRECTION = "correction"


CROSSING = frozenset({Move.INTERNATIONAL, Move.EXTERNAL_OUT})


def classify(
    transaction_kind: str,
    op: str,
    source_party: str | None,
    destination_party: str | None,
    destination_type: str | None,
) -> Move:
    """What a ledger operation is, for first-transfer purposes."""
    if op == "issue":
        return Move.ISSUE
    if op == "external_in":
        return Move.EXTERNAL_IN
    if transaction_kind == "corrective_transfer":
        return Move.CORRECTION
    if transaction_kind == "external_transfer_out" or destination_type == PROXY:
        return Move.EXTERNAL_OUT
    if source_party and destination_party and source_party != destination_party:
        return Move.INTERNATIONAL
    return Move.DOMESTIC


@dataclass(frozen=True)
class Movement:
    """Units of the piece moved (or were issued) in operation `op_index` of a ledger transaction."""

    transaction_id: str
    op_index: int
    kind: Move
    source_account: str | None
    destination_account: str
    source_party: str | None
    destination_party: str | None
    destination_type: str | None
    recorded_at: datetime
    supplementary: bool = False

    def key(self) -> tuple[Any, ...]:
        return (self.recorded_at, self.transaction_id, self.op_index)

    @property
    def party(self) -> str | None:
        """The first-transferring Party when this movement is the first transfer."""
        return self.source_party if self.kind in CROSSING else self.destination_party


def marker_key(marker: Descriptor) -> tuple[Any, ...]:
    """Where a marker sits in the history: just after its constituting operation's transaction
    (a shorter tuple sorts before any of that transaction's operations it prefixes)."""
    return (marker.created_at, marker.transaction_id or marker.id)


def known_key(marker: Descriptor) -> tuple[Any, ...]:
    """From where in the history a marker counts for decisions: its own place, and a peer's no
    earlier than its storage here."""
    own = marker_key(marker)
    return own if marker.received_at is None else max(own, (marker.received_at, marker.id))


def reversed_before(m: Movement, movements: Sequence[Movement], before: tuple[Any, ...]) -> bool:
    """Whether a corrective transfer, recorded after `m` and before `before`, moved the units back."""
    return any(
        c.kind is Move.CORRECTION
        and c.source_account == m.destination_account
        and c.destination_account == m.source_account
        and m.key() < c.key() < before
        for c in movements
    )


def current_markers(markers: Sequence[Descriptor], at: tuple[Any, ...]) -> list[Descriptor]:
    """The markers that apply just before `at`: the latest recorded among those known before it
    that no marker known before it supersedes. Usually one; a transaction consumed late makes one
    marker per marker it replaces, all alike but for their ids, and those stand together."""
    known = [m for m in markers if known_key(m) < at]
    gone = {m.supersedes for m in known if m.supersedes}
    live = [m for m in known if m.id not in gone]
    if not live:
        return []
    newest = max(marker_key(m) for m in live)
    return sorted((m for m in live if marker_key(m) == newest), key=lambda m: m.id)


def current_marker(markers: Sequence[Descriptor], at: tuple[Any, ...]) -> Descriptor | None:
    """The marker that applies just before `at` (of several alike, the greatest id)."""
    current = current_markers(markers, at)
    return current[-1] if current else None


def blocking_transfers(marker: Descriptor, movements: Sequence[Movement], at: tuple[Any, ...]) -> list[Movement]:
    """International or external transfers since `marker`, other than its own, not reversed by `at`."""
    since = marker_key(marker)
    return [
        m
        for m in movements
        if m.kind in CROSSING
        and since < m.key() < at
        and m.transaction_id != marker.transaction_id
        and not reversed_before(m, movements, at)
    ]


def may_reissue(marker: Descriptor, movements: Sequence[Movement], at: tuple[Any, ...]) -> tuple[bool, str]:
    """A6R-55: re-issue only for units not transferred externally since the marker, unless those
    transfers were reversed with a corrective transfer. Returns (allowed, reason if not)."""
    blocking = blocking_transfers(marker, movements, at)
    if blocking:
        m = blocking[0]
        return False, (
            f"the units left their Party ({m.kind.value} transfer in transaction {m.transaction_id}) after marker "
            f"{marker.id}, and that transfer was not reversed by a corrective transfer"
        )
    return True, ""


def undone(marker: Descriptor, movements: Sequence[Movement], at: tuple[Any, ...]) -> bool:
    """Whether a marker no longer stands: its constituting transfer was reversed, and so was every
    later international or external transfer of the units."""
    if marker.transaction_id is None:
        return False
    own = [m for m in movements if m.transaction_id == marker.transaction_id and m.kind in CROSSING]
    if not own or not all(reversed_before(m, movements, at) for m in own):
        return False
    return may_reissue(marker, movements, at)[0]


def constitutes(m: Movement, authorization: Descriptor | None) -> Basis | None:
    """Whether movement `m` is the kind of event that first-transfers units with this authorization
    in force (ignoring whether they were first transferred before)."""
    dedication, trigger = (authorization.dedication, authorization.oimp_trigger) if authorization else (None, None)
    if m.kind in CROSSING and dedication is not Dedication.OIMP:
        return Basis.INTERNATIONAL_TRANSFER if m.kind is Move.INTERNATIONAL else Basis.EXTERNAL_TRANSFER
    if dedication is None or not dedication.includes_oimp:
        return None
    if m.kind is Move.ISSUE and trigger is OimpTrigger.ISSUANCE:
        return Basis.OIMP_ISSUANCE
    if (
        trigger is OimpTrigger.USE_OR_CANCELLATION
        and m.kind in (Move.DOMESTIC, Move.INTERNATIONAL)
        and not m.supplementary
        and m.destination_type in OIMP_USE_TYPES
    ):
        return Basis.OIMP_USE_OR_CANCELLATION
    return None


_CROSSING_BASES = (Basis.INTERNATIONAL_TRANSFER, Basis.EXTERNAL_TRANSFER)
# Bases of the markers an authorization itself makes (without a transaction).
AUTHORIZATION_MADE = frozenset({Basis.OIMP_AUTHORIZATION, Basis.OIMP_ISSUANCE})


@dataclass(frozen=True)
class Decision:
    """`supersedes`: the markers this one replaces (one marker is stored per replaced marker, since
    a descriptor names one predecessor); empty for a first marker. `restates`: set when the marker
    is not the movement's own but the one in force before it, stated again (same Party, basis,
    transaction and creation instant) to replace markers made too early."""

    basis: Basis
    party: str
    supersedes: tuple[str, ...] = ()
    restates: Descriptor | None = None


def made_too_early(m: Movement, markers: Sequence[Descriptor]) -> list[Descriptor]:
    """Markers this registry made after `m` while `m` was unknown (events arrive by partition, not
    in ledger order): a transaction's marker, or one an authorization made. Each was decided without
    `m`, so each is replaced; where ledger order makes it again, deciding its transaction again
    (the sequencer does, for every later one) makes it again, superseding the replacement. A marker
    already superseded wherever it is known (by a marker counting from no later than its own place)
    is left alone: replacing it again would only multiply markers."""
    at = m.key()

    def gone(d: Descriptor) -> bool:
        return any(s.supersedes == d.id and known_key(s) <= marker_key(d) for s in markers)

    later = [
        d
        for d in markers
        if marker_key(d) > at
        and d.received_at is None
        and (d.transaction_id is not None or d.basis in AUTHORIZATION_MADE)
        and not gone(d)
    ]
    return sorted(later, key=lambda d: (marker_key(d), d.id))


def decide(
    m: Movement, authorization: Descriptor | None, markers: Sequence[Descriptor], movements: Sequence[Movement]
) -> Decision | None:
    """Whether `m` first-transfers the piece, given the authorization in force when it happened and
    the piece's markers and movements known so far (in any order of arrival)."""
    at = m.key()
    current = current_markers(markers, at)
    later = made_too_early(m, markers)
    basis = constitutes(m, authorization)
    party = m.party if basis in _CROSSING_BASES or authorization is None else authorization.issuing_party
    if basis is not None and party is not None and not (current and not undone(current[-1], movements, at)):
        # Each marker made too early is replaced, and the one current here too: made in a chain,
        # the later ones supersede the earlier, so replacing one would leave the chain's end in
        # force (the latest created wins), and the current one must not stand again when the
        # later one that replaced it is replaced.
        return Decision(basis, party, tuple(d.id for d in current + later))
    stated = current[-1] if current else None
    if (
        later
        and m.kind in CROSSING
        and stated is not None
        and stated.basis is not None
        and stated.received_at is None
        # A movement decided again finds its own marker current: nothing it did not know is new.
        and stated.transaction_id != m.transaction_id
    ):
        # `m` makes no marker but moved the units out of their Party: markers made after it without
        # knowing it are replaced by the current marker stated again, and deciding their
        # transactions again makes again those ledger order makes.
        return Decision(stated.basis, stated.issuing_party, tuple(d.id for d in later), restates=stated)
    return None


def unmarked(markers: Sequence[Descriptor], at: tuple[Any, ...]) -> bool:
    """No marker stands just before `at` (for markers an authorization itself constitutes)."""
    return current_marker(markers, at) is None
