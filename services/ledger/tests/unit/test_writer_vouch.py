"""The writer goes on only with a journal it can vouch for (A6R-21, A6R-48): what the last
checkpoint covers by its signature and root, the entries after it by their chain from it and the
seal of the last batch the writer committed. Otherwise its next checkpoint would sign what the
table holds."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from ledger.domain.journal import JournalHead, TailEntry, merkle_root, seal, sign_checkpoint
from ledger.service_layer.writer import JournalNotVouched, LedgerWriter
from registry_contracts.chain import ChainCursor
from registry_contracts.signing import Ed25519Signer

T = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SIGNER = Ed25519Signer.from_seed(b"\x07" * 32)


def _journal() -> tuple[LedgerWriter, list, bytes]:  # type: ignore[type-arg]
    """A writer over five entries, the first three under a checkpoint, the last one sealed."""
    writer = LedgerWriter(None, topic=str, signer=SIGNER)  # type: ignore[arg-type]
    head = JournalHead()
    entries = [head.append(T, "transfer_units", {"n": n}) for n in range(1, 6)]
    writer.head = head
    return writer, entries, merkle_root(e.entry_hash for e in entries[:3])


def _tail(entries: list, sealed: int = 5) -> list[TailEntry]:  # type: ignore[type-arg]
    return [
        TailEntry(e.sequence, e.entry_hash, seal(SIGNER, e).to_dict() if e.sequence == sealed else None)
        for e in entries
    ]


def _cursor(entries: list) -> ChainCursor:  # type: ignore[type-arg]
    return ChainCursor(JournalHead.chain, 3, entries[2].entry_hash)


def test_a6r21_a_journal_the_writer_wrote_is_taken() -> None:
    writer, entries, root = _journal()
    checkpoint = sign_checkpoint(SIGNER, 3, root, T)
    writer._vouch(checkpoint, root, _cursor(entries), entries[3:], _tail(entries[3:]))
    writer._vouch(None, None, ChainCursor(JournalHead.chain), entries, _tail(entries))


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("root", "the last checkpoint (3): Merkle root does not match"),
        ("key", "the last checkpoint (3): signature invalid: unknown key id"),
        ("beyond", "the last checkpoint (6): it covers 6 entries, the journal holds 5"),
        ("replaced", "entry 4: content does not match its entry_hash (altered)"),
        ("unsealed", "entries 5 to 5 carry no seal of the ledger's writer"),
    ],
)
def test_a6r21_a_journal_the_writer_cannot_vouch_for_stops_it(change: str, named: str) -> None:
    """A checkpoint whose root is not the entries', signed by no journal key, or over more entries
    than the journal holds; an entry after it replaced in place (its stored hash kept, so only its
    chain shows it); entries after the writer's last seal."""
    writer, entries, root = _journal()
    checkpoint, tail_root, tail = sign_checkpoint(SIGNER, 3, root, T), root, entries[3:]
    sealed = 5
    if change == "root":
        tail_root = b"\x00" * 32
    elif change == "key":
        checkpoint = sign_checkpoint(Ed25519Signer.from_seed(b"\x08" * 32), 3, root, T)
    elif change == "beyond":
        checkpoint, tail_root = sign_checkpoint(SIGNER, 6, root, T), None
    elif change == "replaced":
        tail = [replace(entries[3], body={"n": 40}), entries[4]]
    else:
        sealed = 4
    with pytest.raises(JournalNotVouched) as refused:
        writer._vouch(checkpoint, tail_root, _cursor(entries), tail, _tail(tail, sealed))
    assert str(refused.value).startswith(named), refused.value
