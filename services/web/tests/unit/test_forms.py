"""The one "required field" rule the web's forms share."""

from __future__ import annotations

from web.domain.forms import missing

MESSAGES = {"holder": "Give the holder.", "section": "Choose the section.", "type": "Choose the type."}


def test_a_filled_form_misses_nothing() -> None:
    assert missing({"holder": "Ama", "section": "GHA", "type": "holding"}, MESSAGES) == {}


def test_a_blank_value_is_missing_like_an_absent_one() -> None:
    assert missing({"holder": "", "section": "GHA"}, MESSAGES) == {
        "holder": "Give the holder.",
        "type": "Choose the type.",
    }


def test_the_problems_come_in_the_order_the_messages_give() -> None:
    problems = missing({"section": "", "type": "", "holder": ""}, MESSAGES)
    assert list(problems) == ["holder", "section", "type"]


def test_only_the_named_fields_are_required() -> None:
    assert missing({}, {}) == {}
    assert missing({"holder": "", "extra": ""}, {"holder": "Give the holder."}) == {"holder": "Give the holder."}


def test_whitespace_is_left_to_the_page_which_strips_it() -> None:
    assert missing({"holder": " ", "section": "GHA", "type": "holding"}, MESSAGES) == {}
