"""The identity log page's filters (A6R-48, A6R-50) as identity's query."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from web.domain.identity_log import KINDS, PAGE_SIZE, log_query


def test_a6r_48_no_filter_asks_for_the_newest_page() -> None:
    assert log_query({}) == ({"order": "newest_first", "limit": PAGE_SIZE}, {})


def test_a6r_50_the_credential_kind_is_the_credential_issuance_log() -> None:
    person = str(uuid.uuid4())
    query, problems = log_query({"kind": "credential", "subject": person, "cursor": "120"})
    assert problems == {}
    assert query == {
        "order": "newest_first",
        "limit": PAGE_SIZE,
        "kind": "credential.",
        "subject": person,
        "cursor": 120,
    }


def test_a6r_48_unusable_filters_are_named_not_dropped() -> None:
    query, problems = log_query({"kind": "credential.", "subject": "Ama", "cursor": "-3"})
    assert set(problems) == {"kind", "subject", "cursor"}
    assert "kind" not in query and "subject" not in query and "cursor" not in query


def test_a6r_48_a_cursor_of_digits_that_are_not_ascii_is_refused_not_an_error() -> None:
    """str.isdigit takes '²', which int() refuses: the page answered 500."""
    for cursor in ("²", "١٢"):
        query, problems = log_query({"cursor": cursor})
        assert "cursor" in problems and "cursor" not in query


@given(st.dictionaries(st.sampled_from(["kind", "subject", "cursor"]), st.text(max_size=40)))
def test_a6r_48_every_parameter_is_used_or_refused(params: dict[str, str]) -> None:
    query, problems = log_query(params)
    for name, value in params.items():
        if value:
            assert (name in query) != (name in problems), (name, value)
    if "kind" in query:
        assert query["kind"][:-1] in dict(KINDS) and query["kind"].endswith(".")
    if "cursor" in query:
        assert 0 <= query["cursor"] < 10**18
