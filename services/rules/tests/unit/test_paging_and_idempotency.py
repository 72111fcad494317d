"""Listing cursors (A6R-19) and the request digests that make creating requests idempotent
(A6R-38, A6R-39): pure domain, no database."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from rules.domain import paging
from rules.domain.idempotency import KeyedRequest, repeat, request_digest
from rules.domain.validation import RuleRefused

from .conftest import T0


def test_a6r19_a_cursor_names_the_position_it_was_made_from() -> None:
    item = uuid.uuid4()
    at = T0 + timedelta(microseconds=123456)
    assert paging.position(paging.cursor(at, item)) == (at, item)
    assert paging.position(paging.cursor(at, str(item))) == (at, item)


@pytest.mark.parametrize("after", ["", "=", "not base64", paging.cursor(T0, uuid.uuid4()) + "="])
def test_a6r19_a_cursor_no_page_gave_is_refused_as_bad_cursor(after: str) -> None:
    with pytest.raises(RuleRefused) as refused:
        paging.position(after)
    assert (refused.value.status, refused.value.code) == (422, "bad_cursor")


def test_a6r38_a_request_digest_ignores_key_order_and_names_operation_body_and_whom() -> None:
    body = {"rule": "cap", "params": {"a": 1, "b": [1, 2]}, "target": "*"}
    digest = request_digest("POST /bindings", None, body)
    assert digest == request_digest("POST /bindings", None, dict(reversed(body.items())))
    assert digest != request_digest("POST /rules/cap/versions", None, body)
    assert digest != request_digest("POST /bindings", "alice", body)
    assert digest != request_digest("POST /bindings", None, {**body, "params": {"a": 2, "b": [1, 2]}})
    # Values validation refuses later must not break the digest taken before it.
    assert request_digest("POST /bindings", None, {"params": {"max": 10**30, "share": 0.1}})


def test_a6r39_a_repeat_gets_the_first_answer_and_another_request_a_409() -> None:
    keyed = KeyedRequest("admin", "k-1", request_digest("POST /rules/cap/versions", None, {"kind": "business"}))
    answer = repeat(keyed, keyed.digest, 201, {"rule": "cap", "version": 1})
    assert (answer.status, answer.body, answer.replayed) == (201, {"rule": "cap", "version": 1}, True)
    with pytest.raises(RuleRefused) as refused:
        repeat(keyed, b"\x00" * 32, 201, {"rule": "cap", "version": 1})
    assert (refused.value.status, refused.value.code) == (409, "idempotency_key_reused")
    assert "k-1" in refused.value.message
