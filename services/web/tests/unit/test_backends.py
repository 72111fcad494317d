"""The paths the web composes with values from the browser cannot be bent into another request."""

from __future__ import annotations

import pytest

from web.adapters.backends import ServiceError, checked_path
from web.domain.formatting import day_window, is_day
from web.domain.forms import is_uuid


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/GHA-1?limit=1",
        "/accounts/GHA-1#top",
        "/users/../grants",
        "/users/./x",
        "/accounts/..",
        "/accounts/a\\..",
        "/accounts/a%2F..",
        "/accounts/a b",
        "/accounts/a\nb",
    ],
)
def test_a_bent_path_is_refused_as_not_found(path: str) -> None:
    with pytest.raises(ServiceError) as refused:
        checked_path("ledger", path)
    assert (refused.value.status, refused.value.code) == (404, "not_found")


def test_an_ordinary_path_passes() -> None:
    path = "/users/0b3db0e8-bcfb-448a-bd32-78ed2459b0fa/grants"
    assert checked_path("identity", path) == path
    assert checked_path("ledger", "/accounts/GHA-1/blocks") == "/accounts/GHA-1/blocks"


def test_a6r30_a_report_day_is_year_month_day() -> None:
    assert is_day("2026-11-27")
    for text in ("2026-13-01", "2026-02-30", "20261127", "2026-11-27T00:00", "\U0001f4a9", ""):
        assert not is_day(text), text


def test_a6r30_a_report_day_is_asked_of_the_ledger_as_a_window_of_utc_instants() -> None:
    assert day_window("2026-02-28") == {
        "recorded_from": "2026-02-28T00:00:00Z",
        "recorded_before": "2026-03-01T00:00:00Z",
    }
    assert day_window("9999-12-31") == {"recorded_from": "9999-12-31T00:00:00Z"}, "no day after the last one"


def test_an_id_field_must_be_a_uuid() -> None:
    assert is_uuid("0b3db0e8-bcfb-448a-bd32-78ed2459b0fa")
    assert not is_uuid("")
    assert not is_uuid("../x")
