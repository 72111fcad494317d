"""The journal's instants (A6R-48): they never go back, and `verify` refuses a journal whose do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ledger.domain.journal import (
    JournalHead,
    JournalKeys,
    TailEntry,
    entry_difference,
    merkle_root,
    proposal_seal_message,
    seal,
    sign_checkpoint,
    unsealed_tail,
    verify_journal,
)
from registry_contracts.signing import Ed25519Signer, KeyRing

T = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_a6r48_a_clock_gone_back_records_just_after_the_last_entrys_instant() -> None:
    """After an NTP step back or a restart on a host whose clock is behind, the next batch is
    recorded a microsecond after the last entry: `blocks?at=` between two entries then never shows
    the later without the earlier, and an instant answered for as final (the newest entry's) is
    never given to a later batch, which taking the last entry's instant itself did."""
    head = JournalHead()
    assert head.instant(T) == T
    head.append(T, "open_account", {"n": 1})
    assert head.instant(T - timedelta(seconds=30)) == T + timedelta(microseconds=1)
    assert head.instant(T) == T + timedelta(microseconds=1)
    assert head.instant(T + timedelta(seconds=1)) == T + timedelta(seconds=1)


def test_a6r48_verify_refuses_entries_whose_instants_go_back() -> None:
    head = JournalHead()
    entries = [head.append(T, "open_account", {"n": 1}), head.append(T - timedelta(microseconds=1), "x", {"n": 2})]
    (broken,) = verify_journal(entries, [], JournalKeys(KeyRing([])))
    assert broken.sequence == 2 and "before the entry preceding it" in broken.reason
    head = JournalHead()
    in_order = [head.append(T, "open_account", {"n": 1}), head.append(T, "x", {"n": 2})]
    assert list(verify_journal(in_order, [], JournalKeys(KeyRing([])))) == []


def _signed_journal(entries: int, signed_at: list[int]) -> tuple[list, list, JournalKeys]:  # type: ignore[type-arg]
    signer = Ed25519Signer.from_seed(b"\x07" * 32)
    head = JournalHead()
    journal = [head.append(T, "open_account", {"n": n}) for n in range(1, entries + 1)]
    checkpoints = [
        sign_checkpoint(signer, size, merkle_root(e.entry_hash for e in journal[:size]), T) for size in signed_at
    ]
    return journal, checkpoints, JournalKeys(KeyRing([signer.public_key()]))


def test_a6r48_verify_refuses_a_run_of_entries_longer_than_the_writer_leaves_unsigned() -> None:
    """Deleting the signed checkpoints from some entry on, then rewriting the entries after it and
    chaining them again, left a journal `verify` called valid: only the checkpoints still there
    were checked."""
    journal, checkpoints, keys = _signed_journal(10, [4, 8])
    assert list(verify_journal(journal, checkpoints, keys, max_gap=4)) == []
    (broken,) = verify_journal(journal, checkpoints[:1], keys, max_gap=4)
    assert broken.sequence == 9 and "no signed checkpoint over entries 5 to 10" in broken.reason
    (broken,) = verify_journal(journal, [], keys, max_gap=4)
    assert broken.sequence == 5
    assert list(verify_journal(journal, [], keys)) == [], "without a bound, as before"


def test_a6r48_a6r21_a_retired_key_signs_only_up_to_its_last_tree_size() -> None:
    journal, checkpoints, keys = _signed_journal(10, [4, 8])
    kid = checkpoints[0].signature.kid
    retired_after_4 = JournalKeys(keys.ring, {kid: 4})
    (broken,) = verify_journal(journal, checkpoints, retired_after_4)
    assert broken.sequence == 8
    assert broken.reason == f"checkpoint 8: signed by key {kid!r}, retired after entry 4"
    assert list(verify_journal(journal, checkpoints, JournalKeys(keys.ring, {kid: 8}))) == []


def test_a6r48_replay_names_what_differs_in_the_entry_it_made() -> None:
    """Replay compares the entry it made with the journal's: the fields and the body's top-level
    fields that differ, or the previous hash alone when the entries are equal but chained elsewhere."""
    at = datetime(2026, 5, 1, tzinfo=UTC)
    body = {"outcome": "recorded", "rules_applied": ["R1@v1", "R2@v1"], "result": {"moved": 5}}
    journal = JournalHead().append(at, "transfer_units", body)
    assert entry_difference(journal, JournalHead().append(at, "transfer_units", dict(body))) is None
    made = JournalHead().append(at, "transfer_units", {**body, "rules_applied": ["R1@v1"], "verdict": {}})
    assert entry_difference(journal, made) == "body.rules_applied, body.verdict"
    later = JournalHead().append(at + timedelta(seconds=1), "issue_units", body)
    assert entry_difference(journal, later) == "recorded_at, kind"
    elsewhere = JournalHead(0, b"\x01" * 32).append(at, "transfer_units", body)
    assert entry_difference(journal, elsewhere) == "previous_hash"
    flagged = JournalHead().append(at, "transfer_units", {**body, "result": {"moved": 5, "final": True}})
    looks_equal = JournalHead().append(at, "transfer_units", {**body, "result": {"moved": 5, "final": 1}})
    assert entry_difference(flagged, looks_equal) == "entry_hash, with fields that compare equal"


def _tail(entries: int, sealed: dict[int, Ed25519Signer]) -> list[TailEntry]:
    """Entries 1 to `entries`, those in `sealed` sealed by the signer named there."""
    head = JournalHead()
    journal = [head.append(T, "transfer_units", {"n": n}) for n in range(1, entries + 1)]
    return [
        TailEntry(e.sequence, e.entry_hash, seal(sealed[e.sequence], e).to_dict() if e.sequence in sealed else None)
        for e in journal
    ]


def test_a6r48_a6r21_entries_after_the_writers_last_seal_were_not_written_by_it() -> None:
    """Anyone who can insert rows can chain an entry correctly, but not seal it: the writer signed
    checkpoints over such entries, which `verify` then called valid."""
    writer, other = Ed25519Signer.from_seed(b"\x07" * 32), Ed25519Signer.from_seed(b"\x08" * 32)
    keys = JournalKeys(KeyRing([writer.public_key()]))
    assert unsealed_tail([], keys) is None
    assert unsealed_tail(_tail(5, {2: writer, 5: writer}), keys) is None, "each batch's last entry sealed"
    (broken,) = [unsealed_tail(_tail(5, {2: writer, 3: writer}), keys)]
    assert broken is not None and broken.sequence == 4
    assert broken.reason == "entries 4 to 5 carry no seal of the ledger's writer: they were not written by it"
    forged = unsealed_tail(_tail(5, {3: writer, 5: other}), keys)
    assert forged is not None and forged.sequence == 4 and "the seal of entry 5 is not the writer's" in forged.reason
    assert unsealed_tail(_tail(3, {}), keys).sequence == 1  # type: ignore[union-attr]
    # A seal over another entry's hash does not vouch for this one.
    tail = _tail(3, {3: writer})
    moved = [*tail[:2], TailEntry(3, tail[1].entry_hash, tail[2].seal)]
    assert unsealed_tail(moved, keys).sequence == 1  # type: ignore[union-attr]
    for stored in ({"sig": "x"}, 5, ["alg", "kid", "value"], "seal"):
        malformed = [*tail[:2], TailEntry(3, tail[2].entry_hash, stored)]  # type: ignore[arg-type]
        broken = unsealed_tail(malformed, keys)
        assert (
            broken is not None and broken.sequence == 1 and "the seal of entry 3 is not the writer's" in broken.reason
        )


def test_a6r48_a6r21_a_retired_key_seals_only_up_to_the_last_entry_it_was_used_for() -> None:
    writer = Ed25519Signer.from_seed(b"\x07" * 32)
    tail = _tail(6, {3: writer, 6: writer})
    assert unsealed_tail(tail, JournalKeys(KeyRing([writer.public_key()]), {writer.kid: 6})) is None
    broken = unsealed_tail(tail, JournalKeys(KeyRing([writer.public_key()]), {writer.kid: 4}))
    assert broken is not None and broken.sequence == 4


def test_a6r47_a_proposal_row_is_the_writers_only_as_it_sealed_it() -> None:
    """A ledger restarted while proposals await their verdicts decides them from their rows: only
    from rows its writer sealed, field for field. A key retired since still vouches for them."""
    writer = Ed25519Signer.from_seed(b"\x07" * 32)
    fields = {"id": "7c1e", "command": {"kind": "issue_units", "quantity": 100}, "identity": {"subject": "ama"}}
    sealed = writer.sign(proposal_seal_message(fields)).to_dict()
    keys = JournalKeys(KeyRing([writer.public_key()]))
    assert keys.proposal_seal_refusal(fields, sealed) is None
    # A retired key's seal vouches only where the writer asks for it (such a row is only ever denied).
    retired = JournalKeys(keys.ring, {writer.kid: 1})
    assert retired.proposal_seal_refusal(fields, sealed) == f"signed by key {writer.kid!r}, retired after entry 1"
    assert retired.proposal_seal_refusal(fields, sealed, retired_too=True) is None
    mallory = {**fields, "identity": {"subject": "mallory"}}
    refused = keys.proposal_seal_refusal(mallory, sealed)
    assert refused == f"signature invalid: signature by {writer.kid!r} does not verify"
    assert keys.proposal_seal_refusal(fields, None) == "it carries no seal"
    # Whatever a row holds is a refusal, not a crash.
    assert keys.proposal_seal_refusal(fields, 5) == "a seal is a JSON object, not int"  # type: ignore[arg-type]
    huge = {**fields, "command": {"quantity": 2**60}}
    assert keys.proposal_seal_refusal(huge, sealed).startswith("its fields cannot be sealed")  # type: ignore[union-attr]
    # Not a checkpoint's or an entry's seal: each is signed in its own domain.
    entry = JournalHead().append(T, "issue_units", fields)
    assert keys.proposal_seal_refusal(fields, seal(writer, entry).to_dict()) is not None
