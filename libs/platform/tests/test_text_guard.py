"""What the boundary refuses as text no PostgreSQL column can store (A6R-47: a 4xx with a code, never
a 500). The running services are checked end to end in tests/test_bad_input_everywhere.py."""

from __future__ import annotations

import json

import pytest

from registry_platform.text_guard import problem_in_body, problem_in_url

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("path", "query"),
    [("/accounts/a\x00b", b""), ("/accounts", b"section=%00"), ("/accounts", b"a=1&b=x%00y")],
)
def test_a6r47_a_nul_in_the_url_is_refused(path: str, query: bytes) -> None:
    assert "NUL" in (problem_in_url({"path": path, "query_string": query}) or "")


def test_a6r47_an_ordinary_url_passes() -> None:
    assert problem_in_url({"path": "/accounts/GHA-1", "query_string": b"after=%2F0&limit=10"}) is None


@pytest.mark.parametrize(
    "value",
    [{"name": "a\x00b"}, {"a\x00": 1}, {"deep": [[{"x": "\x00"}]]}, {"name": "\ud800"}, ["ok", "\udfff"]],
)
def test_a6r47_a_nul_or_a_lone_surrogate_in_a_json_body_is_refused(value: object) -> None:
    problem = problem_in_body(JSON, json.dumps(value).encode())
    assert problem is not None and ("NUL" in problem or "surrogate" in problem)


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps({"name": "São Tomé \U0001f4a9"}).encode(),  # escaped, a surrogate pair among them
        json.dumps({"name": "São Tomé"}, ensure_ascii=False).encode(),
        b'{"path": "C:\\\\u0000"}',  # an escaped backslash, then the letters u0000: no NUL
        b"{not json \\u0000",  # not JSON at all: the application refuses it with its own code
        b"[" * 100_000 + b'"\\u0000"' + b"]" * 100_000,  # nested too deep to parse: likewise
    ],
)
def test_a6r47_ordinary_json_passes(raw: bytes) -> None:
    assert problem_in_body(JSON, raw) is None


def test_a6r47_nul_in_a_form_or_any_raw_body_is_refused() -> None:
    assert problem_in_body(FORM, b"name=a%00b") is not None
    assert problem_in_body("text/plain", b"a\x00b") is not None
    assert problem_in_body(FORM, b"name=a%20b&csrf=x") is None
