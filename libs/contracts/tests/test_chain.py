"""Hash chains (A6R-48): every altered, deleted, inserted or reordered entry is caught where the chain
first breaks, and the stored logs' hashes never change."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from registry_contracts.chain import GENESIS_HASH, Chain, JournalHead, Link, first_break

# Both layouts the stored logs use: the previous hash beside the content, or the content nested.
CHAINS = [Chain("test/flat"), Chain("test/nested", previous_key="previous", content_key="entry")]

values = st.text(max_size=12) | st.integers(-(2**53) + 1, 2**53 - 1) | st.none()
contents = st.dictionaries(st.text(min_size=1, max_size=8).filter(lambda k: k != "previous_hash"), values, max_size=4)
chains = st.sampled_from(CHAINS)
histories = st.lists(contents, min_size=1, max_size=12)
stores_previous = st.booleans()


def build(chain: Chain, history: list[dict[str, Any]], keep_previous: bool) -> list[Link]:
    links, previous = [], GENESIS_HASH
    for sequence, content in enumerate(history, 1):
        digest = chain.hash(content, previous)
        links.append(Link(sequence, content, digest, previous if keep_previous else None))
        previous = digest
    return links


def first_break_at(chain: Chain, links: list[Link]) -> int | None:
    broken = first_break(chain, links)
    return None if broken is None else broken.sequence


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


@given(chains, histories, stores_previous)
def test_a6r48_an_untouched_chain_verifies(chain: Chain, history: list[dict[str, Any]], keep: bool) -> None:
    assert first_break(chain, build(chain, history, keep)) is None


@given(chains, histories, stores_previous, st.data())
def test_a6r48_a_one_byte_change_names_its_entry(chain: Chain, history: list[Any], keep: bool, data: Any) -> None:
    links = build(chain, history, keep)
    k = data.draw(st.integers(0, len(links) - 1))
    link = links[k]
    fields = ["entry_hash", "content"] + (["previous_hash"] if keep else [])
    field = data.draw(st.sampled_from(fields))
    if field == "content":
        key = data.draw(st.sampled_from(sorted(link.content)) if link.content else st.just("added"))
        value = link.content.get(key)
        changed = {**link.content, key: value + 1 if isinstance(value, int) else (value or "") + "x"}
        links[k] = replace(link, content=changed)
    else:
        original = getattr(link, field)
        links[k] = replace(link, **{field: flip(original, data.draw(st.integers(0, len(original) - 1)))})
    assert first_break_at(chain, links) == k + 1


@given(chains, histories, stores_previous, st.data())
def test_a6r48_a_deleted_entry_is_named(chain: Chain, history: list[Any], keep: bool, data: Any) -> None:
    links = build(chain, history, keep)
    k = data.draw(st.integers(0, len(links) - 1))
    del links[k]
    # Only the last entry can vanish unseen: that is what the ledger's signed checkpoints are for.
    assert first_break_at(chain, links) == (k + 1 if k < len(links) else None)


@given(chains, histories, stores_previous, contents, st.data())
def test_a6r48_an_inserted_entry_is_named(
    chain: Chain, history: list[Any], keep: bool, forged: dict[str, Any], data: Any
) -> None:
    links = build(chain, history, keep)
    k = data.draw(st.integers(0, len(links) - 1))
    previous = links[k - 1].entry_hash if k else GENESIS_HASH
    # Even a correctly linked forgery breaks the chain at the genuine entry it pushes down.
    well_linked = Link(k + 1, forged, chain.hash(forged, previous), previous if keep else None)
    assert first_break_at(chain, [*links[:k], well_linked, *links[k:]]) == k + 2
    badly_linked = replace(well_linked, entry_hash=flip(well_linked.entry_hash, 0))
    assert first_break_at(chain, [*links[:k], badly_linked, *links[k:]]) == k + 1


@given(chains, histories, stores_previous, st.booleans(), st.data())
def test_a6r48_reordered_entries_are_named(
    chain: Chain, history: list[Any], keep: bool, renumber: bool, data: Any
) -> None:
    links = build(chain, history, keep)
    order = data.draw(st.permutations(range(len(links))))
    first_moved = next((i for i, j in enumerate(order) if i != j), None)
    assume(first_moved is not None)
    # Renumbering the moved entries hides nothing: their hashes still link to other predecessors.
    shuffled = [replace(links[j], sequence=i + 1) if renumber else links[j] for i, j in enumerate(order)]
    assert first_break_at(chain, shuffled) == first_moved + 1


@given(contents, st.binary(min_size=32, max_size=32), st.lists(st.text(min_size=1), min_size=2, max_size=2))
def test_a6r48_different_domains_never_collide(content: dict[str, Any], previous: bytes, domains: list[str]) -> None:
    assume("\x00" not in "".join(domains) and domains[0] != domains[1])
    for layout in CHAINS:
        hashes = {replace(layout, domain=d).hash(content, previous) for d in domains}
        assert len(hashes) == 2


def test_a6r48_content_may_not_carry_the_previous_hash_field() -> None:
    with pytest.raises(ValueError, match="previous_hash"):
        CHAINS[0].hash({"previous_hash": "00"}, GENESIS_HASH)


@pytest.mark.parametrize("altered", [2**53, -(2**53), float("inf")])
@pytest.mark.parametrize("chain", CHAINS)
def test_a6r48_content_altered_past_what_can_be_hashed_is_named_not_raised(chain: Chain, altered: Any) -> None:
    """An entry altered to hold a value no writer could have hashed (an integer beyond 2**53, which
    JSONB stores) is a break at that entry, not an exception (hypothesis found a one-byte change
    from 2**53 - 1 to 2**53)."""
    links = build(chain, [{"n": 1}, {"n": 2}, {"n": 3}], True)
    links[1] = replace(links[1], content={"n": altered})
    broken = first_break(chain, links)
    assert broken is not None and broken.sequence == 2
    assert "cannot be hashed as it was written" in broken.reason


@pytest.mark.parametrize("content", [{"previous_hash": "00"}, ["not", "an", "object"]])
def test_a6r48_flat_content_that_cannot_be_framed_is_named_not_raised(content: Any) -> None:
    """Content carrying the flat chain's own field, or not an object at all, cannot be framed."""
    links = build(CHAINS[0], [{"n": 1}, {"n": 2}], True)
    links[1] = replace(links[1], content=content)
    broken = first_break(CHAINS[0], links)
    assert broken is not None and broken.sequence == 2
    assert "cannot be hashed as it was written" in broken.reason


class LedgerHead(JournalHead):
    chain = Chain("a6r-registry/ledger/journal-entry/v1")


def test_a6r48_stored_journal_hashes_are_unchanged() -> None:
    """Digests computed by the services' own code before it moved here: the stored logs' formats."""
    at = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    body = {"transaction_id": "abc", "n": 5, "nested": {"x": [1, "ü"]}}
    head = LedgerHead()
    first, second = head.append(at, "transfer_units", body), head.append(at, "issue_units", {})
    assert first.entry_hash.hex() == "063080495af57fbc727c7efc36c4b11af3b8c5171a03a6e4f63c9e4bb987ef5d"
    assert second.entry_hash.hex() == "31aab01bde44ef8656c239b2c158ab0fd2ae26c7f3878c6c6607ec0de4121b9a"
    assert first_break(LedgerHead.chain, [first.link(), second.link()]) is None
    identity = Chain("a6r-identity-log", previous_key="previous", content_key="entry")
    entry = {
        "sequence": 1,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "kind": "grant.granted",
        "actor": "admin",
        "on_behalf_of": None,
        "subject": "u1",
        "data": body,
    }
    assert (
        identity.hash(entry, GENESIS_HASH).hex() == "36945a2e5a85158b796d4bd7cca27b12b83e9e8d55c3e95168cddcb940440e35"
    )
