"""Serial numbers, ranges and the human-readable form (A6R-40), explicit splitting (A6R-52)."""

import itertools
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from registry_contracts.serials import (
    MAX_SERIAL,
    HumanBlock,
    HumanSerial,
    MalformedSerial,
    SerialRange,
    SerialScope,
    format_block,
    format_serial,
    parse_block,
    parse_serial,
)

approaches = st.from_regex(r"CA[0-9]{4}", fullmatch=True)
registries = st.from_regex(r"[A-Z]{3}[0-9]{2}", fullmatch=True)
parties = st.from_regex(r"[A-Z]{3}", fullmatch=True)
serial_numbers = st.integers(1, MAX_SERIAL)
vintages = st.integers(1000, 9999)
human_serials = st.builds(HumanSerial, approaches, registries, parties, serial_numbers, vintages)
canonical_serial_texts = st.from_regex(
    r"CA[0-9]{4}-[A-Z]{3}[0-9]{2}-[A-Z]{3}-[1-9][0-9]{0,18}-[1-9][0-9]{3}", fullmatch=True
).filter(lambda s: int(s.split("-")[3]) <= MAX_SERIAL)


@st.composite
def ranges(draw: st.DrawFn, low: int = 1, high: int = MAX_SERIAL) -> SerialRange:
    first = draw(st.integers(low, high))
    return SerialRange(first, draw(st.integers(first, high)))


@st.composite
def human_blocks(draw: st.DrawFn) -> HumanBlock:
    return HumanBlock(draw(approaches), draw(registries), draw(parties), draw(ranges()), draw(vintages))


def test_a6r40_serial_example() -> None:
    unit = parse_serial("CA0001-CHE01-GHA-1000-2024")
    assert unit == HumanSerial("CA0001", "CHE01", "GHA", 1000, 2024)
    assert str(unit) == "CA0001-CHE01-GHA-1000-2024"


@given(human_serials)
def test_a6r40_serial_roundtrip_value_text_value(unit: HumanSerial) -> None:
    assert parse_serial(format_serial(unit)) == unit


@given(canonical_serial_texts)
def test_a6r40_serial_roundtrip_text_value_text(text: str) -> None:
    assert format_serial(parse_serial(text)) == text


@given(st.text(alphabet="CA0123456789-HEGX.a _\n", max_size=40) | canonical_serial_texts.map(lambda s: s[1:]))
def test_a6r40_only_canonical_text_parses(text: str) -> None:
    """Whatever text parses is exactly what format writes back."""
    try:
        unit = parse_serial(text)
    except MalformedSerial as exc:
        assert exc.reason
        return
    assert format_serial(unit) == text


def test_a6r40_largest_serial_is_the_largest_integer_json_holds_exactly() -> None:
    assert parse_serial(f"CA0001-CHE01-GHA-{MAX_SERIAL}-2024").serial == 2**53 - 1


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("CA0001-CHE01-GHA-01000-2024", "leading zeros"),
        ("CA0001-CHE01-GHA-0-2024", "leading zeros"),
        ("ca0001-CHE01-GHA-1000-2024", "CA and 4 digits"),
        ("CA001-CHE01-GHA-1000-2024", "CA and 4 digits"),
        ("CA0001-che01-GHA-1000-2024", "3 capital letters and 2 digits"),
        ("CA0001-CHE01-gha-1000-2024", "alpha-3"),
        ("CA0001-CHE01-GH-1000-2024", "alpha-3"),
        ("CA0001_CHE01_GHA_1000_2024", "expected 5"),
        ("CA0001 CHE01 GHA 1000 2024", "expected 5"),
        ("CA0001-CHE01-GHA-1000-2024-X", "expected 5"),
        ("CA0001-CHE01-GHA-1000", "expected 5"),
        ("CA0001-CHE01-GHA--1000-2024", "expected 5"),
        ("CA0001-CHE01-GHA-+1000-2024", "without sign"),
        ("CA0001-CHE01-GHA-1_000-2024", "digits"),
        ("CA0001-CHE01-GHA-\u0661\u0660\u0660\u0660-2024", "digits"),
        (f"CA0001-CHE01-GHA-{MAX_SERIAL + 1}-2024", "from 1 to 9007199254740991"),
        ("CA0001-CHE01-GHA-99999999999999999999-2024", "at most"),
        ("CA0001-CHE01-GHA-1000-24", "four-digit year"),
        ("CA0001-CHE01-GHA-1000-02024", "four-digit year"),
        ("CA0001-CHE01-GHA-1000-2024\n", "four-digit year"),
        (" CA0001-CHE01-GHA-1000-2024", "CA and 4 digits"),
        ("", "expected 5"),
    ],
)
def test_a6r40_non_canonical_serials_are_refused_with_a_reason(text: str, hint: str) -> None:
    with pytest.raises(MalformedSerial, match=hint):
        parse_serial(text)


@given(human_blocks())
def test_a6r40_block_roundtrip_value_text_value(block: HumanBlock) -> None:
    assert parse_block(format_block(block)) == block


@given(canonical_serial_texts, st.integers(0, 10**6))
def test_a6r40_block_roundtrip_text_value_text(first_text: str, extra: int) -> None:
    first = parse_serial(first_text)
    assume(first.serial + extra <= MAX_SERIAL)
    last_text = format_serial(HumanSerial(**{**first.__dict__, "serial": first.serial + extra}))
    text = f"{first_text}..{last_text}"
    assert format_block(parse_block(text)) == text


def test_a6r40_block_is_shown_as_first_and_last_serial() -> None:
    block = HumanBlock("CA0001", "CHE01", "GHA", SerialRange(1000, 1999), 2024)
    assert str(block) == "CA0001-CHE01-GHA-1000-2024..CA0001-CHE01-GHA-1999-2024"
    assert block.first.serial == 1000 and block.last.serial == 1999


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("CA0001-CHE01-GHA-1000-2024", "not a block"),
        ("CA0001-CHE01-GHA-1000-2024..CA0001-CHE01-GHA-1999-2024..CA0001-CHE01-GHA-2999-2024", "not a block"),
        ("CA0001-CHE01-GHA-1000-2024...CA0001-CHE01-GHA-1999-2024", "CA and 4 digits"),
        ("CA0001-CHE01-GHA-1000-2024..CA0001-CHE01-GHA-1999-2025", "same approach"),
        ("CA0001-CHE01-GHA-1000-2024..CA0002-CHE01-GHA-1999-2024", "same approach"),
        ("CA0001-CHE01-GHA-1999-2024..CA0001-CHE01-GHA-1000-2024", "after last serial"),
        ("CA0001-CHE01-GHA-1000-2024 .. CA0001-CHE01-GHA-1999-2024", "four-digit year"),
    ],
)
def test_a6r40_malformed_blocks_are_refused(text: str, hint: str) -> None:
    with pytest.raises(MalformedSerial, match=hint):
        parse_block(text)


@pytest.mark.parametrize(("first", "last"), [(0, 5), (5, 4), (1, MAX_SERIAL + 1), (True, 5), (-3, 2)])
def test_a6r40_serial_range_invariants(first: int, last: int) -> None:
    with pytest.raises(MalformedSerial):
        SerialRange(first, last)


def test_a6r40_serial_range_queries() -> None:
    block = SerialRange(10, 19)
    assert block.quantity == 10
    assert block.contains(10) and block.contains(19) and not block.contains(20) and not block.contains(9)
    assert block.overlaps(SerialRange(19, 30)) and not block.overlaps(SerialRange(20, 30))


@given(ranges(1, 60), ranges(1, 60))
def test_a6r40_overlap_means_a_shared_serial(a: SerialRange, b: SerialRange) -> None:
    shared = set(range(a.first, a.last + 1)) & set(range(b.first, b.last + 1))
    assert a.overlaps(b) == bool(shared) == b.overlaps(a)


@given(st.data())
def test_a6r52_explicit_split_partitions_the_block(data: st.DataObject) -> None:
    block = data.draw(ranges())
    piece = data.draw(ranges(block.first, block.last))
    pieces = block.split(piece.first, piece.last)
    assert 1 <= len(pieces) <= 3
    assert piece in pieces
    assert pieces[0].first == block.first and pieces[-1].last == block.last
    assert all(a.last + 1 == b.first for a, b in itertools.pairwise(pieces))
    assert sum(p.quantity for p in pieces) == block.quantity


def test_a6r52_split_into_two_at_an_edge_and_three_inside() -> None:
    block = SerialRange(1, 100)
    assert block.split(1, 100) == (block,)
    assert block.split(1, 30) == (SerialRange(1, 30), SerialRange(31, 100))
    assert block.split(71, 100) == (SerialRange(1, 70), SerialRange(71, 100))
    assert block.split(31, 70) == (SerialRange(1, 30), SerialRange(31, 70), SerialRange(71, 100))


@pytest.mark.parametrize(("first", "last"), [(0, 10), (90, 101), (50, 40)])
def test_a6r52_split_outside_the_block_is_refused(first: int, last: int) -> None:
    with pytest.raises(MalformedSerial):
        SerialRange(1, 100).split(first, last)


def test_a6r40_serial_scope_validation() -> None:
    scope = SerialScope("CHE01", "GHA", "GS-1234", 2024, "tCO2e")
    assert scope == SerialScope("CHE01", "GHA", "GS-1234", 2024, "tCO2e")
    bad_fields: list[dict[str, Any]] = [
        {"originating_registry": "CH01"},
        {"issuing_party": "gha"},
        {"activity_id": "has space"},
        {"activity_id": ""},
        {"vintage": 24},
        {"metric": ""},
    ]
    for bad in bad_fields:
        with pytest.raises(MalformedSerial):
            SerialScope(**{**scope.__dict__, **bad})
