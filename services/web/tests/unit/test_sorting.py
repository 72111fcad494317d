"""Sortable lists (issue 7 item 6): column headers are links that sort, with aria-sort on the sorted one."""

from __future__ import annotations

import re

from web.entrypoints.templating import ENV


def header(params: dict[str, str]) -> str:
    template = ENV.from_string(
        '{% import "_macros.html" as m with context %}'
        '{{ m.sort_header("balance", "Units held", "number", "num") }}'
        '{{ m.sort_header("number", "Account", "number") }}'
    )
    return template.render(params=params, query=ENV.globals["query"])


def test_issue7_the_sorted_column_says_so_and_its_link_reverses_it() -> None:
    html = header({"section": "GHA"})
    balance, number = re.findall(r"<th[^>]*>.*?</th>", html)
    assert "aria-sort" not in balance and 'href="?section=GHA&amp;sort=balance"' in balance
    assert 'aria-sort="ascending"' in number and "sort=-number" in number and "(sort descending)" in number
    html = header({"sort": "-balance", "after": "GHA-100004"})
    balance, number = re.findall(r"<th[^>]*>.*?</th>", html)
    assert 'aria-sort="descending"' in balance and 'href="?sort=balance"' in balance, "a new sort starts at page one"
    assert "aria-sort" not in number
