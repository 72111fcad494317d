"""The password policy (A6R-6, A6R-25 b): long, not common, not built from the user's own name or email.

Length is what makes a password strong; composition rules (one digit, one symbol...) add little
and push users to predictable patterns, so the policy asks for 12 characters or more and refuses
the predictable instead (NIST SP 800-63B, 5.1.1.2).
"""

from __future__ import annotations

import re
import unicodedata

from identity.domain.common_passwords import COMMON_PASSWORDS

MIN_LENGTH = 12
MAX_LENGTH = 256


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _stem(text: str) -> str:
    """The password without digits and symbols at its ends: 'Password123!' -> 'password'."""
    return re.sub(r"^[\W\d_]+|[\W\d_]+$", "", _fold(text))


def password_problems(password: str, *, email: str = "", name: str = "") -> list[str]:
    """Every reason the password is refused; empty when it is acceptable."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        problems.append(f"must be at most {MAX_LENGTH} characters long")
    folded = _fold(password)
    if folded in COMMON_PASSWORDS or _stem(password) in COMMON_PASSWORDS:
        problems.append("is a commonly used password")
    elif len(set(folded)) <= 2:
        problems.append("repeats too few distinct characters")
    personal = []
    local = _fold(email).split("@", 1)[0]
    if len(local) >= 3:
        personal.append(local)
    personal += [p for p in re.split(r"[\s\-'.]+", _fold(name)) if len(p) >= 3]
    if any(p in folded for p in personal):
        problems.append("must not contain your name or email address")
    return problems
