"""The journal: hash-chained entries and signed Merkle checkpoints (A6R-48, A6R-21).

- Each entry's hash links it to the one before (registry_contracts.chain), so no entry can change,
  vanish or be slipped in without breaking every later link.
- A checkpoint signs the RFC 9162 Merkle tree head over all entry hashes up to `tree_size`; a
  verifier holding only the public key can then prove the journal's first `tree_size` entries.

Pure: no I/O. The writer keeps a `JournalHead` and a `MerkleFrontier` in memory.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from registry_contracts.canonical import canonical_json
from registry_contracts.chain import Break, Chain, ChainCursor, JournalEntry
from registry_contracts.chain import JournalHead as BaseHead
from registry_contracts.signing import KeyRing, Signature, SignatureInvalid, Signer, key_from_jwk, key_ring
from registry_contracts.timestamps import as_utc, iso_utc

CHECKPOINT_DOMAIN = "a6r-registry/ledger/journal-checkpoint/v1"
SEAL_DOMAIN = "a6r-registry/ledger/journal-seal/v1"
PROPOSAL_SEAL_DOMAIN = "a6r-registry/ledger/proposal-seal/v1"


@dataclass
class JournalHead(BaseHead):
    chain = Chain("a6r-registry/ledger/journal-entry/v1")
    # The instant of the last entry. Each batch's instant is later than every entry's before, even
    # when the clock goes back (a step back of NTP, a restart on a host whose clock is behind):
    # holdings asked for at an instant would otherwise include a later transaction and not an
    # earlier one, and an instant once answered for as final (no entry can still come at or before
    # it) would take another batch.
    last_recorded_at: datetime | None = None

    def instant(self, now: datetime) -> datetime:
        """The instant to record the next batch's entries at, given the clock's `now`: a microsecond
        (the instants' resolution) after the last entry's when the clock is not past it."""
        if self.last_recorded_at is None or now > self.last_recorded_at:
            return now
        return self.last_recorded_at + timedelta(microseconds=1)

    def append(self, recorded_at: datetime, kind: str, body: dict[str, Any]) -> JournalEntry:
        entry = super().append(recorded_at, kind, body)
        self.last_recorded_at = recorded_at
        return entry


def entry_difference(journal: JournalEntry, replayed: JournalEntry) -> str | None:
    """Where the entry replay made differs from the journal's it was made from (its fields, and
    each top-level field of the body), or None if they are the same entry."""
    differing = [name for name in ("recorded_at", "kind") if getattr(journal, name) != getattr(replayed, name)]
    keys = sorted(journal.body.keys() | replayed.body.keys())
    differing += [f"body.{key}" for key in keys if journal.body.get(key, _ABSENT) != replayed.body.get(key, _ABSENT)]
    if journal.previous_hash != replayed.previous_hash:
        differing.append("previous_hash")
    if not differing and journal.entry_hash != replayed.entry_hash:
        # Equal as Python values (True and 1), or the journal's own hash does not match its entry.
        differing.append("entry_hash, with fields that compare equal")
    return ", ".join(differing) or None


_ABSENT = object()


def leaf_hash(entry_digest: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry_digest).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


@dataclass
class MerkleFrontier:
    """An append-only RFC 9162 Merkle tree kept as its perfect subtrees' roots: O(log n) memory."""

    size: int = 0
    # (height, root) of each perfect subtree, largest first.
    _peaks: list[tuple[int, bytes]] = field(default_factory=list)

    def append(self, entry_digest: bytes) -> None:
        height, node = 0, leaf_hash(entry_digest)
        while self._peaks and self._peaks[-1][0] == height:
            _, left = self._peaks.pop()
            node = node_hash(left, node)
            height += 1
        self._peaks.append((height, node))
        self.size += 1

    def root(self) -> bytes:
        """RFC 9162 §2.1.1 MTH: the right-most peaks fold into the left ones."""
        if not self._peaks:
            return hashlib.sha256(b"").digest()
        node = self._peaks[-1][1]
        for _, left in reversed(self._peaks[:-1]):
            node = node_hash(left, node)
        return node


def merkle_root(entry_digests: Iterable[bytes]) -> bytes:
    frontier = MerkleFrontier()
    for digest in entry_digests:
        frontier.append(digest)
    return frontier.root()


@dataclass(frozen=True)
class Checkpoint:
    tree_size: int
    root_hash: bytes
    signed_at: datetime
    signature: Signature

    def payload(self) -> dict[str, Any]:
        """As the journal topic publishes it (`ledger.JournalCheckpointSigned`)."""
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "signed_at": iso_utc(self.signed_at),
            "signature": self.signature.to_dict(),
        }

    @classmethod
    def from_payload(cls, p: dict[str, Any]) -> Checkpoint:
        signed_at = as_utc(datetime.fromisoformat(p["signed_at"].replace("Z", "+00:00")))
        return cls(p["tree_size"], bytes.fromhex(p["root_hash"]), signed_at, Signature.from_dict(p["signature"]))


def checkpoint_message(tree_size: int, root_hash: bytes, signed_at: datetime) -> bytes:
    return canonical_json(
        {
            "domain": CHECKPOINT_DOMAIN,
            "tree_size": tree_size,
            "root_hash": root_hash.hex(),
            "signed_at": iso_utc(signed_at),
        }
    )


def sign_checkpoint(signer: Signer, tree_size: int, root_hash: bytes, signed_at: datetime) -> Checkpoint:
    message = checkpoint_message(tree_size, root_hash, signed_at)
    return Checkpoint(tree_size, root_hash, signed_at, signer.sign(message))


@dataclass(frozen=True)
class JournalKeys:
    """The public keys the journal's checkpoints may be signed with. A key retired by a rotation
    signs only the checkpoints it signed before it (`retired_after`: the last tree size, by kid):
    whoever holds a seed retired because it leaked cannot sign a checkpoint over a journal
    rewritten after that."""

    ring: KeyRing
    retired_after: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_jwks(cls, jwks: Iterable[Mapping[str, Any]]) -> JournalKeys:
        """As GET /journal/keys publishes them: a retired key carries its `last_tree_size`."""
        jwks = list(jwks)
        retired: dict[str, int] = {}
        for jwk in (j for j in jwks if "last_tree_size" in j):
            last = jwk["last_tree_size"]
            if type(last) is not int or last < 1:
                raise ValueError('"last_tree_size" is the size of the journal when the key was retired, from 1')
            retired[key_from_jwk(jwk).kid] = last
        return cls(key_ring(jwks), retired)

    def refusal(self, checkpoint: Checkpoint) -> str | None:
        """Why `checkpoint`'s signature is not one of the journal's, or None."""
        message = checkpoint_message(checkpoint.tree_size, checkpoint.root_hash, checkpoint.signed_at)
        return self._refusal(checkpoint.signature, message, checkpoint.tree_size)

    def seal_refusal(self, sequence: int, entry_hash: bytes, seal: Mapping[str, Any]) -> str | None:
        """Why `seal` (as stored) is not the writer's seal over entry `sequence`, or None."""
        signature = _stored_signature(seal)
        if isinstance(signature, str):
            return signature
        return self._refusal(signature, seal_message(sequence, entry_hash), sequence)

    def proposal_seal_refusal(
        self, fields: Mapping[str, Any], seal: Mapping[str, Any] | None, *, retired_too: bool = False
    ) -> str | None:
        """Why `seal` (as stored) is not the writer's seal over a proposal awaiting its verdict, or
        None. Only the current key vouches for a proposal; `retired_too`: a retired one as well (a
        seed retired because it leaked could seal any row, so such a row is only ever denied)."""
        if seal is None:
            return "it carries no seal"
        signature = _stored_signature(seal)
        if isinstance(signature, str):
            return signature
        try:
            message = proposal_seal_message(fields)
        except (ValueError, TypeError) as exc:  # nothing canonical JSON holds: no writer sealed that
            return f"its fields cannot be sealed: {exc}"
        return self._refusal(signature, message, 0 if retired_too else sys.maxsize)

    def _refusal(self, signature: Signature, message: bytes, size: int) -> str | None:
        try:
            self.ring.verify(signature, message)
        except SignatureInvalid as exc:
            return f"signature invalid: {exc}"
        last = self.retired_after.get(signature.kid)
        if last is not None and size > last:
            return f"signed by key {signature.kid!r}, retired after entry {last}"
        return None


def seal_message(sequence: int, entry_hash: bytes) -> bytes:
    return canonical_json({"domain": SEAL_DOMAIN, "sequence": sequence, "entry_hash": entry_hash.hex()})


def seal(signer: Signer, entry: JournalEntry) -> Signature:
    """The writer's seal over the last entry of a batch it commits. Anyone who can insert rows can
    chain an entry correctly (the chain needs no secret), but not seal it: the entries after the last
    checkpoint are the writer's own only up to a seal, and the writer signs no checkpoint over others."""
    return signer.sign(seal_message(entry.sequence, entry.entry_hash))


def _stored_signature(stored: Any) -> Signature | str:
    """A signature as a row stores it, or why it is none (whatever was put in the column)."""
    if not isinstance(stored, Mapping):
        return f"a seal is a JSON object, not {type(stored).__name__}"
    try:
        return Signature.from_dict(stored)
    except SignatureInvalid as exc:
        return str(exc)


def proposal_seal_message(fields: Mapping[str, Any]) -> bytes:
    return canonical_json({"domain": PROPOSAL_SEAL_DOMAIN, **fields})


@dataclass(frozen=True)
class TailEntry:
    """An entry no checkpoint covers yet, with its seal if it is the last of a batch."""

    sequence: int
    entry_hash: bytes
    seal: Mapping[str, Any] | None


def unsealed_tail(tail: Sequence[TailEntry], keys: JournalKeys) -> Break | None:
    """The first of `tail` (the entries after the last checkpoint, in order) that no seal of the
    writer vouches for, or None. The newest seal vouches for its entry and, through the chain, for
    every one before it; entries after it were slipped in by someone else (or sealed with a key
    not the journal's)."""
    n = next((n for n in range(len(tail) - 1, -1, -1) if _sealed(tail[n], keys)), -1)
    if n == len(tail) - 1:
        return None
    first, last = tail[n + 1], tail[-1]
    forged = next((e for e in tail[n + 1 :] if e.seal is not None), None)
    why = f"; the seal of entry {forged.sequence} is not the writer's" if forged is not None else ""
    return Break(
        first.sequence,
        f"entries {first.sequence} to {last.sequence} carry no seal of the ledger's writer: "
        f"they were not written by it{why}",
    )


def _sealed(entry: TailEntry, keys: JournalKeys) -> bool:
    return entry.seal is not None and keys.seal_refusal(entry.sequence, entry.entry_hash, entry.seal) is None


def verify_journal(
    entries: Iterable[JournalEntry],
    checkpoints: Iterable[Checkpoint],
    keys: JournalKeys,
    max_gap: int | None = None,
) -> Iterator[Break]:
    """Yield the first break (then stop): a broken link, a bad hash, a gap, or a bad checkpoint.

    With `max_gap`, also more than that many entries with no checkpoint over them, the last ones
    included: the writer signs one at least every so many entries, so a longer run means signed
    checkpoints were deleted, and the entries after the last one left could have been rewritten."""
    by_size = {c.tree_size: c for c in checkpoints}
    sizes = sorted(by_size)
    frontier = MerkleFrontier()
    cursor = ChainCursor(JournalHead.chain)
    previous: datetime | None = None
    for entry in entries:
        broken = cursor.follow(entry.link())
        if broken is None and previous is not None and entry.recorded_at < previous:
            broken = Break(entry.sequence, f"entry {entry.sequence} is recorded before the entry preceding it")
        previous = entry.recorded_at
        if broken is None:
            frontier.append(entry.entry_hash)
            checkpoint = by_size.pop(frontier.size, None)
            if checkpoint is not None:
                broken = _check_checkpoint(checkpoint, frontier.root(), keys)
        if broken is not None:
            yield broken
            return
    if by_size:
        size = min(by_size)
        yield Break(frontier.size + 1, f"checkpoint over {size} entries, but the journal has only {frontier.size}")
        return
    if max_gap is not None:
        for before, after in pairwise([0, *sizes, frontier.size]):
            if after - before > max_gap:
                yield Break(before + max_gap + 1, f"no signed checkpoint over entries {before + 1} to {after}")
                return


def _check_checkpoint(checkpoint: Checkpoint, root: bytes, keys: JournalKeys) -> Break | None:
    if checkpoint.root_hash != root:
        return Break(checkpoint.tree_size, f"checkpoint {checkpoint.tree_size}: Merkle root does not match")
    refusal = keys.refusal(checkpoint)
    if refusal is not None:
        return Break(checkpoint.tree_size, f"checkpoint {checkpoint.tree_size}: {refusal}")
    return None
