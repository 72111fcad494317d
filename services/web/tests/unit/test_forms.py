"""The one "required field" rule the web's forms share, and what a JSON field may hold."""

from __future__ import annotations

import pytest

from web.domain.forms import json_field, missing

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


@pytest.mark.parametrize(
    "text",
    ['{"x": NaN}', '{"x": Infinity}', '{"x": -Infinity}', '{"x": 1e999}', '{"x": "\\ud800"}', '{"\\udfff": 1}'],
)
def test_a_json_field_no_request_could_carry_is_unreadable(text: str) -> None:
    """Python reads these, and sending them on to a service failed inside httpx: a 500."""
    with pytest.raises(ValueError):
        json_field(text)


def test_a_json_field_holds_what_json_can() -> None:
    assert json_field('{"x": 1.5e300, "y": "\\u00e9\\ud83d\\ude00", "z": [null, true]}') == {
        "x": 1.5e300,
        "y": "é\U0001f600",
        "z": [None, True],
    }
