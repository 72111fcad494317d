"""Descriptors from peer registries (A6R-45, A6R-53): verified, then stored; and the pull loop.

A peer's descriptor is stored only if every check passes, in this order, each with its own code:
the JWS is readable (`malformed_jws`); its `kid` is a key registered for a peer (`unknown_key`);
the signature verifies (`signature_invalid`); the document is a valid descriptor (`invalid_document`,
also where the database cannot store a value it holds); it originates from the registry owning the
key (`wrong_origin`), not from this one (`own_descriptor`); the peer may issue for its Party
(`party_not_served`); an authorization's units are that Party's (`not_party_units`); its cooperative
approach is known (`unknown_cooperative_approach`) and counts the Party among its members
(`party_not_in_approach`); it applies no earlier than the approach's window allows
(`applicability_too_early`). A descriptor that supersedes another needs that one stored here
(`unknown_superseded`) and of its kind (`supersedes_other_kind`). As with this registry's own
corrections, an authorization replaces only one of its own Party (`supersedes_other_party`) that
nothing replaced yet (`supersession_fork`); and only one of its approach (`supersedes_other_approach`),
since the other approach's registries would never receive the correction. A marker replaces only a
marker of a Party the peer serves (`supersedes_other_party`), and not necessarily alone: the
originating registry's sequencer may supersede one marker piece by piece.

A stored descriptor applies here from the instant its origin gave it, but no earlier than when this
registry stored it (`received_at`, its clock): one that arrives late, or back-dated, applies from its
storage on, and a peer's marker counts for first-transfer decisions from then on too
(domain.first_transfer.known_key). So what this registry said was in force at a past instant, and
the decisions it took then, never change after the fact (A6R-21); the peer's own instant stays in
the signed document.

The pull loop moves its cursor past every descriptor it read. One refused for a reason this
registry's own knowledge may yet remove (`HELD_FOR`) is held and tried again at the start of each
round, while its peer is configured, until it is stored or refused for good; one held from a peer
no longer configured is kept but not tried. `GET /peers/held-descriptors` lists what is held, and
says which are from a peer no longer configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

import httpx
from pydantic import ValidationError
from sqlalchemy.exc import DataError
from sqlalchemy.ext.asyncio import AsyncConnection

from descriptors.adapters import jws
from descriptors.adapters.peer_feeds import PeerFeeds
from descriptors.adapters.repository import Descriptors, NewDescriptor
from descriptors.domain.applicability import applicable_from
from descriptors.domain.errors import Conflict, DescriptorError
from descriptors.domain.model import Kind
from descriptors.service_layer.service import DescriptorsService
from descriptors.settings import PeerConfig
from registry_contracts.events.descriptors import DescriptorDocument
from registry_contracts.signing import key_from_jwk
from registry_platform.auth import ServiceTokens

log = logging.getLogger(__name__)
# Refusals this registry's own knowledge may yet remove (a key or Party registered for the peer, an
# approach or its membership learned from the ledger): the descriptor is held and tried each round.
# A superseded descriptor not stored yet may come later, from this peer's feed or another's.
HELD_FOR = frozenset(
    {
        "unknown_key",
        "party_not_served",
        "unknown_cooperative_approach",
        "party_not_in_approach",
        "unknown_superseded",
    }
)


def _refuse(code: str, message: str) -> DescriptorError:
    return DescriptorError(code, f"Descriptor refused, nothing stored: {message}")


def _peer_for(service: DescriptorsService, kid: str) -> tuple[PeerConfig, Any]:
    for peer in service.settings.peers:
        try:
            ring = jws.key_ring(peer.keys)
        except ValueError:
            log.error("peer %s has a malformed key in its configuration", peer.registry)
            continue
        if any(key_from_jwk(k).kid == kid for k in peer.keys):
            return peer, ring
    raise _refuse("unknown_key", f"no peer registry has registered key {kid!r}")


async def verify(service: DescriptorsService, token: str) -> tuple[PeerConfig, DescriptorDocument]:
    try:
        header = jws.header_of(token)
    except jws.MalformedJws as exc:
        raise _refuse("malformed_jws", str(exc)) from exc
    peer, ring = _peer_for(service, header["kid"])
    try:
        verified = jws.verify(token, ring)
    except jws.SignatureInvalid as exc:
        raise _refuse(
            "signature_invalid", f"{exc}; the descriptor was altered or not signed by {peer.registry}"
        ) from exc
    except jws.MalformedJws as exc:
        raise _refuse("malformed_jws", str(exc)) from exc
    try:
        doc = DescriptorDocument.model_validate(verified.payload)
    except ValidationError as exc:
        raise _refuse("invalid_document", str(exc).splitlines()[0]) from exc
    if (doc.kind == Kind.AUTHORIZATION.value) != (doc.authorization is not None) or (
        (doc.kind == Kind.FIRST_TRANSFER.value) != (doc.first_transfer is not None)
    ):
        raise _refuse("invalid_document", f"a {doc.kind} document carries the body of its kind only")
    if doc.origin_registry == service.settings.registry_id:
        raise _refuse("own_descriptor", "it claims to originate from this registry")
    if doc.origin_registry != peer.registry:
        raise _refuse(
            "wrong_origin", f"key {header['kid']!r} is {peer.registry}'s, the document says {doc.origin_registry}"
        )
    if doc.issuing_party not in peer.allowed_parties():
        raise _refuse("party_not_served", f"{peer.registry} does not issue descriptors for {doc.issuing_party}")
    for u in doc.authorization.units if doc.authorization else []:
        if u.scope.issuing_party != doc.issuing_party:
            raise _refuse(
                "not_party_units", f"{doc.issuing_party} cannot authorize units issued for {u.scope.issuing_party}"
            )
    if doc.cooperative_approach is not None:
        parties = await service.approach_parties(doc.cooperative_approach)
        if parties is None:
            raise _refuse("unknown_cooperative_approach", f"{doc.cooperative_approach} is not known here")
        if doc.issuing_party not in parties:
            raise _refuse("party_not_in_approach", f"{doc.issuing_party} takes no part in {doc.cooperative_approach}")
    earliest = applicable_from(doc.created_at, service.settings.window_for(doc.cooperative_approach))
    if doc.applicable_from < earliest:
        raise _refuse("applicability_too_early", f"it would apply at {doc.applicable_from}, before {earliest}")
    return peer, doc


async def receive(service: DescriptorsService, conn: AsyncConnection, token: str) -> tuple[Any, bool]:
    """Verify and store a peer's descriptor; (stored row, whether stored now). Idempotent."""
    peer, doc = await verify(service, token)
    repo = Descriptors(conn)
    descriptor_id = uuid.UUID(doc.descriptor_id)
    stored = await repo.get(descriptor_id)
    if stored is not None:
        if stored.jws != token:
            raise Conflict("conflicting_descriptor", f"descriptor {descriptor_id} is stored with other content")
        return stored, False
    if doc.supersedes is not None:
        await _check_superseded(repo, peer, doc, uuid.UUID(doc.supersedes))
    try:
        # A savepoint: the pull loop records its cursor in this transaction after a refusal.
        async with conn.begin_nested():
            new = NewDescriptor.of_document(doc, token, received_from=peer.registry, received_at=service.now())
            await repo.add(new)
    except DataError as exc:
        raise _refuse("invalid_document", f"it holds a value this registry cannot store: {exc.orig}") from exc
    return await repo.get(descriptor_id), True


async def _check_superseded(repo: Descriptors, peer: PeerConfig, doc: DescriptorDocument, old_id: uuid.UUID) -> None:
    # Two successors of one authorization at once: the second waits for the first's commit, then
    # finds it (as for this registry's own corrections, service_layer.authorizations).
    await repo.lock("successor", old_id)
    old = await repo.get(old_id)
    if old is None:
        raise _refuse("unknown_superseded", f"it supersedes {old_id}, which is not stored here (yet)")
    if old.kind != doc.kind:
        raise _refuse("supersedes_other_kind", f"a {doc.kind} cannot supersede {old.kind} {old_id}")
    if doc.kind == Kind.FIRST_TRANSFER.value:
        if old.issuing_party not in peer.allowed_parties():
            raise _refuse(
                "supersedes_other_party",
                f"marker {old_id} is {old.issuing_party}'s, a Party {peer.registry} does not issue descriptors for",
            )
        return
    if old.issuing_party != doc.issuing_party:
        raise _refuse(
            "supersedes_other_party", f"authorization {old_id} is {old.issuing_party}'s; only it can supersede it"
        )
    if old.cooperative_approach != doc.cooperative_approach:
        raise _refuse(
            "supersedes_other_approach",
            f"authorization {old_id} is of {old.cooperative_approach}, this one of {doc.cooperative_approach}",
        )
    if old.superseded_by:
        raise _refuse("supersession_fork", f"authorization {old_id} is superseded by {old.superseded_by[0]} already")


def _bearer(service: DescriptorsService, peer: PeerConfig) -> str:
    """The token the peer issued for this registry; outside production (where the settings require
    one), this registry's own service token, which a peer sharing the development secret accepts."""
    if peer.token is not None:
        return peer.token.get_secret_value()
    secret = service.settings.token_secret.get_secret_value()
    return ServiceTokens(secret, f"registry:{service.settings.registry_id}").bearer()


async def _take(
    service: DescriptorsService, peer: PeerConfig, conn: AsyncConnection, descriptor_id: str, token: str
) -> DescriptorError | None:
    """Store one of the peer's descriptors; the refusal if it is one to hold for another try."""
    try:
        await receive(service, conn, token)
    except DescriptorError as exc:
        if exc.status >= 500:
            raise  # this registry cannot check it now: read it again next round
        if exc.code in HELD_FOR:
            return exc
        log.warning("descriptor %s from %s refused: %s", descriptor_id, peer.registry, exc.message)
    return None


async def retry_held(service: DescriptorsService, peer: PeerConfig) -> None:
    """Try the peer's held descriptors again, oldest first: release those stored or finally refused."""
    after: tuple[str, int] | None = None
    while True:
        async with service.engine.connect() as conn:
            held = await PeerFeeds(conn).held(registry=peer.registry, after=after, limit=100)
        if not held:
            return
        for h in held:
            async with service.engine.begin() as conn:
                feeds, refusal = PeerFeeds(conn), await _take(service, peer, conn, h.descriptor_id, h.jws)
                if refusal is None:
                    await feeds.release(h.registry, h.sequence)
                else:
                    await feeds.hold(h.registry, h.sequence, h.descriptor_id, h.jws, refusal.code, refusal.message)
        after = (held[-1].registry, held[-1].sequence)


async def pull_once(service: DescriptorsService, peer: PeerConfig, client: httpx.AsyncClient) -> int:
    """Retry what is held, then read the peer's feed (if it has one) from the stored cursor: store
    what verifies, hold what may verify later. Returns items read from the feed."""
    await retry_held(service, peer)
    if not peer.url:
        return 0
    async with service.engine.connect() as conn:
        cursor, read = await PeerFeeds(conn).cursor(peer.registry), 0
    while True:
        response = await client.get(
            f"{peer.url.rstrip('/')}/descriptors/feed",
            params={"after": cursor, "limit": 100},
            headers={"Authorization": f"Bearer {_bearer(service, peer)}"},
        )
        response.raise_for_status()
        page = response.json()
        for item in page["items"]:
            sequence, descriptor_id = int(item["sequence"]), str(item.get("descriptor_id") or "")
            async with service.engine.begin() as conn:
                feeds, refusal = PeerFeeds(conn), await _take(service, peer, conn, descriptor_id, item["jws"])
                if refusal is not None:
                    log.warning("descriptor %s from %s held: %s", descriptor_id, peer.registry, refusal.message)
                    await feeds.hold(peer.registry, sequence, descriptor_id, item["jws"], refusal.code, refusal.message)
                cursor = sequence
                await feeds.save_cursor(peer.registry, cursor)
            read += 1
        if not page.get("next"):
            return read


async def report_unconfigured(service: DescriptorsService) -> None:
    """Say at start which registries no longer configured as peers have descriptors held here.
    Those are kept (the cursor moved past them, so the peer's feed would not give them again) but
    no longer tried; they are tried again if the peer is configured again."""
    configured = {p.registry for p in service.settings.peers}
    async with service.engine.connect() as conn:
        held = await PeerFeeds(conn).held_counts()
    for registry, count in held.items():
        if registry not in configured:
            log.warning("%d descriptors held from %s, which is no longer a configured peer: kept, not tried "
                        "again unless it is configured again", count, registry)  # fmt: skip


async def pull_loop(service: DescriptorsService, stop: asyncio.Event) -> None:
    """Every `pull_interval_seconds`, retry what is held from each configured peer and pull the feed of
    each peer with a feed URL (push goes through the gateway)."""
    await service.ready()
    await report_unconfigured(service)
    peers = service.settings.peers
    async with httpx.AsyncClient(timeout=10) as client:
        while peers and not stop.is_set():
            for peer in peers:
                try:
                    await pull_once(service, peer, client)
                except Exception as exc:
                    log.warning("pulling descriptors from %s failed: %s", peer.registry, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=service.settings.pull_interval_seconds)
