"""The journal held against its published copy (A6R-48, A6R-21): `ledger.domain.publication`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ledger.domain.journal import Checkpoint, JournalHead, JournalKeys, merkle_root, sign_checkpoint
from ledger.domain.publication import PublishedJournal, differing_entry, topic_problem, unpublished
from registry_contracts.chain import JournalEntry
from registry_contracts.signing import Ed25519Signer, KeyRing

T = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SIGNER = Ed25519Signer.from_seed(b"\x07" * 32)
KEYS = JournalKeys(KeyRing([SIGNER.public_key()]))
GRACE = timedelta(minutes=5)


def journal(entries: int, first_body: str = "a") -> list[JournalEntry]:
    head = JournalHead()
    return [
        head.append(T + timedelta(seconds=n), "transfer_units", {"n": n, "body": first_body if n == 1 else "b"})
        for n in range(1, entries + 1)
    ]


def signed(entries: list[JournalEntry], size: int) -> Checkpoint:
    return sign_checkpoint(SIGNER, size, merkle_root(e.entry_hash for e in entries[:size]), T + timedelta(seconds=size))


def topic_of(entries: list[JournalEntry], sizes: list[int]) -> PublishedJournal:
    return PublishedJournal({e.sequence: e.entry_hash for e in entries}, [signed(entries, s) for s in sizes])


def test_a6r48_a_topic_holding_what_the_database_holds_is_consistent_with_it() -> None:
    entries = journal(10)
    topic = topic_of(entries, [4, 8])
    assert topic_problem(topic, KEYS) is None
    assert differing_entry(entries, topic) is None
    later = T + timedelta(hours=1)
    assert unpublished(entries, list(topic.checkpoints), topic, later, later, GRACE) is None


def test_a6r48_a6r21_a_tail_no_checkpoint_covers_is_held_to_the_topic() -> None:
    """Rewritten after the last checkpoint (entries 9 and 10), or deleted: the first one is named."""
    entries = journal(10)
    topic = topic_of(entries, [4, 8])
    head = JournalHead(8, entries[7].entry_hash)
    rewritten = entries[:8] + [head.append(e.recorded_at, e.kind, {**e.body, "body": "c"}) for e in entries[8:]]
    found = differing_entry(rewritten, topic)
    assert found is not None and found.sequence == 9
    assert found.reason == "entry 9 is not the one published on the journal topic"
    found = differing_entry(entries[:9], topic)
    assert found is not None and found.sequence == 10
    assert "entry 10, published on the journal topic, is missing from the database" == found.reason


def test_a6r48_an_entry_a_published_checkpoint_signs_is_proven_by_it() -> None:
    entries, other = journal(10), journal(10, first_body="forged")
    found = differing_entry(other, topic_of(entries, [4, 8]))
    assert found is not None and found.sequence == 1
    assert found.reason.endswith("(the published one is signed by checkpoint 8)")


def test_a6r48_a_topic_whose_entries_its_checkpoint_does_not_sign_is_named() -> None:
    entries = journal(10)
    topic = topic_of(entries, [4, 8])
    forged = PublishedJournal({**topic.entries, 3: b"\x00" * 32}, topic.checkpoints)
    found = topic_problem(forged, KEYS)
    assert found is not None and found.reason == "the entries on the journal topic do not match its checkpoint 4"
    # Entries the topic lost (a broker that lost them) leave its checkpoints unchecked, not failed.
    partial = PublishedJournal({n: h for n, h in topic.entries.items() if n > 2}, topic.checkpoints)
    assert topic_problem(partial, KEYS) is None
    twice = PublishedJournal(topic.entries, topic.checkpoints, frozenset({7}))
    found = topic_problem(twice, KEYS)
    assert found is not None and found.reason == "entry 7 is published twice on the journal topic, differently"


def test_a6r48_a_checkpoint_on_the_topic_no_journal_key_signed_is_the_topics() -> None:
    entries = journal(4)
    forger = Ed25519Signer.from_seed(b"\x01" * 32)
    forged = sign_checkpoint(forger, 4, merkle_root(e.entry_hash for e in entries), T)
    found = topic_problem(PublishedJournal({}, [forged]), KEYS)
    assert found is not None
    assert found.reason.startswith("checkpoint 4 on the journal topic: signature invalid: unknown key id")


def test_a6r48_entries_and_checkpoints_never_published_are_named_after_the_relays_grace() -> None:
    entries = journal(10)
    checkpoints = [signed(entries, s) for s in (4, 8)]

    def check(
        published: PublishedJournal,
        read_at: datetime,
        now: datetime | None = None,
        kept: list[JournalEntry] = entries,
        signed_ones: list[Checkpoint] = checkpoints,
    ) -> tuple[int, str] | None:
        found = unpublished(kept, signed_ones, published, read_at, now or read_at, GRACE)
        return None if found is None else (found.sequence, found.reason)

    # Entry 5's outbox row removed: later entries are on the topic, so it was never published.
    gap = PublishedJournal({e.sequence: e.entry_hash for e in entries if e.sequence != 5}, checkpoints)
    assert check(gap, T) == (5, "entry 5 is not on the journal topic, though later entries are")
    # The newest entries not yet published when the topic was read: fine within the grace, named
    # after it. Entries 8 to 10 were recorded at T+8s to T+10s.
    tail = topic_of(entries[:7], [4])
    assert check(tail, T + timedelta(seconds=8) + GRACE) is None
    found = check(tail, T + timedelta(seconds=9) + GRACE)
    assert found is not None and found[0] == 8 and "is the ledger's outbox relay publishing?" in found[1]
    # ... however long the database's read took after the topic's (a large journal).
    assert check(tail, T + timedelta(seconds=7), now=T + timedelta(hours=2)) is None
    # An entry dated after the database's clock by more than the grace was not recorded by a writer.
    found = check(tail, T, now=T + timedelta(seconds=9) - GRACE)
    assert found == (10, "entry 10 is not published and is recorded in the future")
    # A checkpoint of the database's missing between published ones.
    skipped = topic_of(entries, [4, 10])
    found = check(skipped, T, signed_ones=[*checkpoints, signed(entries, 10)])
    assert found == (8, "checkpoint 8 was never published on the journal topic")
    # The newest checkpoint, not yet published: fine within the grace, named after it.
    after_4 = [*checkpoints, signed(entries, 10)]
    assert check(topic_of(entries, [4, 8]), T, signed_ones=after_4) is None
    late = T + timedelta(seconds=11) + GRACE
    found = check(topic_of(entries, [4, 8]), late, signed_ones=after_4)
    assert found == (10, "checkpoint 10 was never published on the journal topic")
    # Checkpoints signed before the first one on the topic, by a build that published none.
    assert check(topic_of(entries, [8]), late) is None
    assert check(topic_of(entries, []), late) is None


def test_a6r48_a_record_on_the_topic_that_is_no_journal_event_is_named() -> None:
    topic = PublishedJournal({}, (), frozenset(), ("the record at offset 3 of the journal topic is not ...",))
    found = topic_problem(topic, KEYS)
    assert found is not None and found.reason.startswith("the record at offset 3 of the journal topic")


def test_a6r48_two_checkpoints_of_one_size_on_the_topic_are_each_held_to_its_entries() -> None:
    entries = journal(8)
    topic = topic_of(entries, [4])
    other = sign_checkpoint(SIGNER, 4, b"\x01" * 32, T)
    found = topic_problem(PublishedJournal(topic.entries, [*topic.checkpoints, other]), KEYS)
    assert found is not None and found.reason == "the entries on the journal topic do not match its checkpoint 4"
