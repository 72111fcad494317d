"""A6R-6: TOTP codes work once; older steps never work after a newer one."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from identity.domain import totp

SECRET = totp.new_secret()
NOW = datetime(2026, 3, 1, 12, 0, 10, tzinfo=UTC)


def test_a6r_6_a_code_is_accepted_once() -> None:
    code = totp.code_at(SECRET, totp.step_at(NOW))
    step = totp.accepted_step(SECRET, code, now=NOW, last_used_step=None)
    assert step == totp.step_at(NOW)
    assert totp.accepted_step(SECRET, code, now=NOW, last_used_step=step) is None


def test_a6r_6_an_older_step_is_refused_after_a_newer_one() -> None:
    previous = totp.code_at(SECRET, totp.step_at(NOW) - 1)
    assert totp.accepted_step(SECRET, previous, now=NOW, last_used_step=totp.step_at(NOW)) is None


def test_a6r_6_one_step_of_drift_either_way_and_no_more() -> None:
    step = totp.step_at(NOW)
    for offset in (-1, 0, 1):
        assert totp.accepted_step(SECRET, totp.code_at(SECRET, step + offset), now=NOW, last_used_step=None)
    assert totp.accepted_step(SECRET, totp.code_at(SECRET, step + 3), now=NOW, last_used_step=None) is None


def test_a6r_6_malformed_codes_are_refused() -> None:
    for code in ("", "12345", "abcdef", "1234567"):
        assert totp.accepted_step(SECRET, code, now=NOW, last_used_step=None) is None


@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=5))
def test_a6r_6_accepted_steps_strictly_increase(seconds: int, later: int) -> None:
    first_time = NOW + timedelta(seconds=seconds)
    first = totp.accepted_step(
        SECRET, totp.code_at(SECRET, totp.step_at(first_time)), now=first_time, last_used_step=None
    )
    assert first is not None
    again_time = first_time + timedelta(seconds=later)
    for offset in (-1, 0, 1):
        code = totp.code_at(SECRET, totp.step_at(again_time) + offset)
        accepted = totp.accepted_step(SECRET, code, now=again_time, last_used_step=first)
        assert accepted is None or accepted > first


def test_a6r49_a_code_of_digits_that_are_not_ascii_is_refused_not_an_error() -> None:
    """'²' and Arabic-Indic digits are digits to str.isdigit, and comparing them in constant time
    raised TypeError: the sign-in answered 500."""
    for code in ("²²²²²²", "٣٣٣٣٣٣"):
        assert totp.accepted_step(SECRET, code, now=NOW, last_used_step=None) is None
