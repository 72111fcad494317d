"""RFC 8785 canonical JSON and domain-separated hashing: the basis of provable integrity (A6R-21, A6R-48)."""

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from registry_contracts.canonical import canonical_json, domain_hash, domain_hash_hex, to_jsonable


def test_a6r21_rfc8785_numbers_strings_literals_vector() -> None:
    """RFC 8785 section 3.2.2 example."""
    source = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    ).encode()
    assert canonical_json(json.loads(source)) == expected


def test_a6r21_rfc8785_property_sorting_vector() -> None:
    """RFC 8785 section 3.2.3 example: keys sorted by UTF-16 code units, not code points."""
    source = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    expected = (
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
        '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    ).encode()
    assert canonical_json(source) == expected


def test_a6r48_registry_types_are_converted() -> None:
    event_id = uuid.UUID("0190a6f4-0000-7000-8000-000000000001")
    cet = timezone(timedelta(hours=1))
    obj = {
        "id": event_id,
        "at": datetime(2024, 1, 1, 1, 0, tzinfo=cet),
        "amount": Decimal("1.50"),
        "serials": (1, 2),
    }
    assert canonical_json(obj) == (
        b'{"amount":"1.50","at":"2024-01-01T00:00:00Z","id":"0190a6f4-0000-7000-8000-000000000001","serials":[1,2]}'
    )


@pytest.mark.parametrize(
    "bad",
    [datetime(2024, 1, 1), {1: "non-string key"}, {"a set"}, b"bytes"],
)
def test_a6r48_values_without_one_canonical_form_are_refused(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        canonical_json(bad)


def test_a6r48_integers_beyond_the_json_safe_range_are_refused() -> None:
    assert canonical_json(2**53 - 1) == b"9007199254740991"
    with pytest.raises(rfc8785.IntegerDomainError):
        canonical_json(2**53)


def test_a6r48_domain_hash_is_sha256_of_domain_nul_canonical_json() -> None:
    obj = {"b": 1, "a": [True, None]}
    expected = hashlib.sha256(b"registry.journal\x00" + b'{"a":[true,null],"b":1}').digest()
    assert domain_hash("registry.journal", obj) == expected
    assert domain_hash_hex("registry.journal", obj) == expected.hex()


def test_a6r48_domains_separate_equal_documents() -> None:
    assert domain_hash("registry.journal", {"x": 1}) != domain_hash("registry.checkpoint", {"x": 1})


@pytest.mark.parametrize("domain", ["", "journal\x00entry"])
def test_a6r48_ambiguous_domains_are_refused(domain: str) -> None:
    with pytest.raises(ValueError, match="NUL"):
        domain_hash(domain, {})


def test_a6r48_same_instant_in_any_offset_hashes_equal() -> None:
    utc = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
    new_york = utc.astimezone(timezone(timedelta(hours=-5)))
    assert domain_hash("d", {"t": utc}) == domain_hash("d", {"t": new_york})


json_documents = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


@given(json_documents)
def test_a6r21_fast_path_is_byte_identical_to_the_reference_encoder(document: object) -> None:
    """The orjson fast path must never differ from RFC 8785 (A6R-21: hashes must be reproducible)."""
    try:
        reference = rfc8785.dumps(document)
    except rfc8785.CanonicalizationError:
        with pytest.raises((rfc8785.CanonicalizationError, UnicodeEncodeError)):
            canonical_json(document)
        return
    assert canonical_json(document) == reference


registry_documents = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.datetimes(timezones=st.just(UTC))
    | st.uuids(),
    lambda children: (
        st.lists(children, max_size=4).map(tuple)
        | st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@given(registry_documents)
def test_a6r21_documents_beyond_plain_json_types_match_the_reference_encoder_too(document: object) -> None:
    """Timestamps, ids, tuples, floats and integers beyond 2**53 leave the plain fast path: the
    result is still RFC 8785's encoding of the converted document, or its refusal."""
    try:
        reference = rfc8785.dumps(to_jsonable(document))
    except rfc8785.CanonicalizationError:
        with pytest.raises((rfc8785.CanonicalizationError, UnicodeEncodeError)):
            canonical_json(document)
        return
    assert canonical_json(document) == reference


@pytest.mark.parametrize("text", ["\ud800", "a\udfffb"])
def test_a6r21_strings_that_are_not_unicode_are_refused_not_hashed(text: str) -> None:
    """A lone surrogate has no UTF-8 form: the fast path hands it to the reference encoder, which refuses."""
    with pytest.raises(rfc8785.CanonicalizationError):
        canonical_json({"k": [text]})
