"""Issuing authorizations (A6R-45) and re-issuing first-transfer markers (A6R-55).

An authorization is the authorizing Party's act: only an administrator of that Party's section, or
an external system whose grant is scoped to that section (A6R-8), issues one. It covers either
specific units that exist in this registry, or conditions; it is never changed or recalled, only
superseded by a new authorization of the same Party, which replaces it from its own applicability
instant. Where the Party chose the authorization (or, for units already issued, the issuance) as
the OIMP first transfer, the markers are created with the authorization, in the same transaction.

Those markers are decided in turn with the marker sequencer (its lock, as re-issues by hand), over
the units no marker is in force on, and only once every transaction moving the units was decided
(`markers_pending`, 409, meanwhile): judged while one is still settling, the authorization would
mark units that transaction's own marker marks too, with neither superseding the other, and replay,
which decides the transaction first, would make no such marker. A transaction recorded before the
authorization but consumed after it (later than the settle delay) supersedes the authorization's
marker where it marks the units (domain.first_transfer.decide), as ledger order would have it.
"""

from __future__ import annotations

import hashlib
import uuid
from itertools import pairwise
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from descriptors.adapters.history import History
from descriptors.adapters.repository import Descriptors
from descriptors.domain.errors import Conflict, DescriptorError, Forbidden, NotFound
from descriptors.domain.first_transfer import current_marker
from descriptors.domain.model import Basis, Dedication, Kind, OimpTrigger, Scope, UnitRange, merge
from descriptors.service_layer.pieces import pieces
from descriptors.service_layer.service import MARKERS, DescriptorsService, Draft
from registry_contracts.canonical import canonical_json
from registry_contracts.events.descriptors import AuthorizationConditions, DescriptorUnits, OimpFirstTransfer
from registry_contracts.nomenclatures.codes import is_party_code
from registry_platform.auth import EXTERNAL_SYSTEM, SECTION_ADMINISTRATOR, Principal

# The OIMP first transfers an authorization constitutes itself, for units already issued.
MARKING = frozenset({OimpTrigger.AUTHORIZATION.value, OimpTrigger.ISSUANCE.value})


class AuthorizationIn(BaseModel):
    """An authorization to issue: specific units or conditions, never both."""

    model_config = ConfigDict(extra="forbid")

    issuing_party: str = Field(description="ISO 3166-1 alpha-3 of the authorizing Party")
    cooperative_approach: str = Field(description="The approach whose registries the authorization is sent to")
    dedication: Dedication
    oimp_first_transfer: OimpFirstTransfer | None = Field(
        default=None, description="Required when the dedication includes OIMP: what constitutes the first transfer"
    )
    units: list[DescriptorUnits] = Field(default_factory=list, max_length=1000)
    conditions: AuthorizationConditions | None = None
    supersedes: uuid.UUID | None = Field(default=None, description="The authorization this one corrects")


def request_hash(body: BaseModel) -> str:
    return hashlib.sha256(canonical_json(body.model_dump(mode="json"))).hexdigest()


def units_of(items: list[DescriptorUnits]) -> list[UnitRange]:
    ranges = []
    for item in items:
        if item.first > item.last:
            raise DescriptorError("malformed_range", f"serials {item.first}-{item.last}: first is after last")
        ranges.append(UnitRange(Scope.of(item.scope), item.first, item.last))
    ordered = sorted(ranges)
    for a, b in pairwise(ordered):
        if a.scope == b.scope and b.first <= a.last:
            raise DescriptorError("overlapping_units", f"the ranges {a.first}-{a.last} and {b.first}-{b.last} overlap")
    return ranges


def acts_for_party(caller: Principal, party: str, approach: str) -> bool:
    """A section administrator of the Party's section, or an external system scoped to it (A6R-8).
    A system's grant narrowed to an account, or to another cooperative approach, does not speak for
    the Party as a whole."""
    return any(
        g.section == party
        and (
            g.role == SECTION_ADMINISTRATOR
            or (g.role == EXTERNAL_SYSTEM and g.account is None and g.cooperative_approach in (None, approach))
        )
        for g in caller.grants
    )


async def existing(conn: AsyncConnection, descriptor_id: uuid.UUID, digest: str) -> Any:
    """The descriptor stored under this id for the same request (a repeat), or None; 409 otherwise.
    Holds the id until the transaction ends, so a concurrent request with it waits and then finds
    this one's descriptor (not another body's, stored under its id)."""
    await Descriptors(conn).lock("id", descriptor_id)
    row = await Descriptors(conn).get(descriptor_id)
    if row is not None and row.request_hash != digest:
        raise Conflict("descriptor_id_reused", f"descriptor {descriptor_id} exists with different content")
    return row


def _check_shape(req: AuthorizationIn) -> None:
    if bool(req.units) == (req.conditions is not None):
        raise DescriptorError("units_or_conditions", "an authorization names either specific units or conditions")
    if req.dedication.includes_oimp != (req.oimp_first_transfer is not None):
        raise DescriptorError(
            "oimp_first_transfer",
            "an authorization for OIMP says what constitutes the first transfer (authorization, issuance, or "
            "use_or_cancellation); one for NDC only does not",
        )
    c = req.conditions
    if c is not None:
        if c.vintage_from is not None and c.vintage_to is not None and c.vintage_from > c.vintage_to:
            raise DescriptorError("malformed_conditions", "vintage_from is after vintage_to")
        if c.cooperative_approach not in (None, req.cooperative_approach):
            raise DescriptorError("malformed_conditions", "the conditions name another cooperative approach")
        if req.oimp_first_transfer == OimpTrigger.AUTHORIZATION.value:
            raise DescriptorError(
                "marker_needs_units",
                "a first transfer at authorization marks specific existing units; name the units, or choose "
                "issuance or use_or_cancellation",
            )


async def issue_authorization(
    service: DescriptorsService,
    conn: AsyncConnection,
    caller: Principal,
    descriptor_id: uuid.UUID,
    req: AuthorizationIn,
) -> tuple[Any, bool]:
    digest = request_hash(req)
    repeat = await existing(conn, descriptor_id, digest)
    if repeat is not None:
        return repeat, False
    party = req.issuing_party
    if not is_party_code(party):
        raise DescriptorError("unknown_party", f"{party} is not an ISO 3166-1 alpha-3 country code")
    if not acts_for_party(caller, party, req.cooperative_approach):
        raise Forbidden("not_authorized", f"only administrators of section {party} (or systems it authorized for "
                        f"the whole section or for {req.cooperative_approach}) issue its authorizations")  # fmt: skip
    _check_shape(req)
    parties = await service.approach_parties(req.cooperative_approach)
    if parties is None:
        raise DescriptorError(
            "unknown_cooperative_approach", f"there is no cooperative approach {req.cooperative_approach}"
        )
    if party not in parties:
        raise DescriptorError("party_not_in_approach", f"{party} takes no part in {req.cooperative_approach}")
    ranges = units_of(req.units)
    for r in ranges:
        if r.scope.issuing_party != party:
            raise DescriptorError(
                "not_party_units", f"{party} cannot authorize units issued for {r.scope.issuing_party}"
            )
        missing = await History(conn).missing(r)
        if missing:
            a, b = missing[0]
            raise Conflict(
                "unknown_units", f"serials {a}-{b} of {r.scope.activity_id}/{r.scope.vintage} do not exist here"
            )
    supersedes = await _superseded(conn, req.supersedes, party)
    if ranges and req.oimp_first_transfer in MARKING:
        # Decided in turn with the sequencer (and re-issues): whichever comes second reads what the
        # first stored; and not while a transaction that may mark the units itself is settling.
        await Descriptors(conn).decide_markers(wait=True)
        for r in ranges:
            await refuse_pending(service, conn, r)
    now = service.now()
    draft = Draft(
        id=descriptor_id,
        kind=Kind.AUTHORIZATION,
        issuing_party=party,
        cooperative_approach=req.cooperative_approach,
        created_at=now,
        issued_by=caller.initiator,
        ranges=ranges,
        supersedes=supersedes,
        authorization=req.model_dump(mode="json", include={"dedication", "oimp_first_transfer", "units", "conditions"}),
        conditions=req.conditions.model_dump(mode="json") if req.conditions else None,
        request_hash=digest,
    )
    drafts = [draft, *await oimp_markers(conn, draft, req.oimp_first_transfer)]
    await service.publish(conn, drafts)
    return await Descriptors(conn).get(descriptor_id), True


async def refuse_pending(service: DescriptorsService, conn: AsyncConnection, units: UnitRange) -> None:
    """Refuse while a transaction moving some of `units` has its markers still to decide: it may
    mark them itself (or supersede the marker in force), so a marker decided now could be a second
    one over the same serials. Call under the sequencer's lock (Descriptors.decide_markers)."""
    pending = await History(conn).undecided_movement(units)
    if pending is not None:
        u = pending.units
        raise Conflict("markers_pending", f"transaction {pending.movement.transaction_id} moved serials "
                       f"{u.first}-{u.last} and its first-transfer markers are not decided yet (they are "
                       f"{service.settings.marker_settle_seconds:g} s after it reaches this registry); try again "
                       "in a few seconds")  # fmt: skip


async def _superseded(conn: AsyncConnection, old_id: uuid.UUID | None, party: str) -> str | None:
    if old_id is None:
        return None
    repo = Descriptors(conn)
    # Two corrections of one authorization at once: the second waits here for the first's commit,
    # then finds it below (each statement reads what is committed), so only one supersedes it.
    await repo.lock("successor", old_id)
    old = await repo.get(old_id)
    if old is None or old.kind != Kind.AUTHORIZATION.value:
        raise NotFound("unknown_descriptor", f"there is no authorization {old_id} to supersede")
    if old.issuing_party != party:
        raise Forbidden("not_authorized", f"authorization {old_id} is {old.issuing_party}'s; only it can supersede it")
    if await repo.supersessions([str(old_id)]):
        raise Conflict("already_superseded", f"authorization {old_id} was superseded already; supersede the latest")
    return str(old_id)


async def oimp_markers(conn: AsyncConnection, draft: Draft, trigger: str | None) -> list[Draft]:
    """Markers the authorization itself constitutes: OIMP first transfer at authorization, or at
    issuance for units already issued, for the units not first transferred already."""
    if not draft.ranges or trigger not in MARKING:
        return []
    at = (draft.created_at, str(draft.id))
    unmarked: list[UnitRange] = []
    for r in draft.ranges:
        unmarked += [
            p.units for p in await pieces(conn, r, draft.cooperative_approach) if not current_marker(p.markers, at)
        ]
    if not unmarked:
        return []
    basis = Basis.OIMP_AUTHORIZATION if trigger == OimpTrigger.AUTHORIZATION.value else Basis.OIMP_ISSUANCE
    merged = merge(unmarked)
    return [
        Draft(
            id=uuid.uuid5(MARKERS, f"authorization:{draft.id}"),
            kind=Kind.FIRST_TRANSFER,
            issuing_party=draft.issuing_party,
            cooperative_approach=draft.cooperative_approach,
            created_at=draft.created_at,
            issued_by=draft.issued_by,
            ranges=merged,
            first_transfer={
                "units": [r.view() for r in merged],
                "transferred_at": draft.created_at,
                "party": draft.issuing_party,
                "basis": basis.value,
                "authorization_id": str(draft.id),
            },
        )
    ]
