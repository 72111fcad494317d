"""A6R-6: the password policy."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from identity.domain.passwords import MIN_LENGTH, password_problems


def test_a6r_6_accepts_a_long_uncommon_password() -> None:
    assert password_problems("violet-harbour-tractor-41", email="ana@example.org", name="Ana Silva") == []


@pytest.mark.parametrize("password", ["short", "elevenchars"])
def test_a6r_6_refuses_short_passwords(password: str) -> None:
    assert any("at least" in p for p in password_problems(password))


@pytest.mark.parametrize("password", ["password1234", "Password123!", "qwertyuiop12", "!!Registry2024!!"])
def test_a6r_6_refuses_common_passwords_and_their_decorations(password: str) -> None:
    assert "is a commonly used password" in password_problems(password)


def test_a6r_6_refuses_passwords_built_from_name_or_email() -> None:
    assert password_problems("zz-silvaHarbour-9", name="Ana Silva")
    assert password_problems("my-anabela-is-long", email="anabela@example.org")


def test_a6r_6_refuses_repetition() -> None:
    assert "repeats too few distinct characters" in password_problems("abababababababab")


@given(st.text(min_size=0, max_size=MIN_LENGTH - 1))
def test_a6r_6_nothing_shorter_than_the_minimum_passes(password: str) -> None:
    assert password_problems(password) != []
