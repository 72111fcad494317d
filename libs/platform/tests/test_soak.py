"""Sizes of the randomized and crash tests: `make test`'s by default, `make soak`'s when set."""

from __future__ import annotations

import pytest

from registry_platform.testing.soak import soak_size


def test_the_default_size_without_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REGISTRY_SOAK_EXAMPLES", raising=False)
    assert soak_size("examples", 20) == 20


def test_the_variable_sets_the_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_SOAK_EXAMPLES", "400")
    assert soak_size("examples", 20) == 400


@pytest.mark.parametrize("raw", ["0", "-3", "many"])
def test_a_size_that_is_not_a_positive_integer_is_refused(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("REGISTRY_SOAK_KILLS", raw)
    with pytest.raises(ValueError, match="REGISTRY_SOAK_KILLS"):
        soak_size("kills", 2)
