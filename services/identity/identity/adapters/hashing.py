"""Password hashing with argon2id (A6R-6), run off the event loop, and hashes of random tokens.

Random tokens (activation links, refresh tokens, MFA challenges, recovery codes) carry 128 bits or
more of entropy, so a plain SHA-256 is enough to make a stolen table useless; passwords are chosen
by people and need a slow, memory-hard hash.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

# A valid hash to verify against when the account does not exist, so that the answer takes as long
# as for a real account and does not reveal which email addresses have accounts.
_DUMMY_PASSWORD = "not-a-password-" + secrets.token_hex(8)


class Passwords:
    def __init__(self, time_cost: int = 3, memory_kib: int = 65536, parallelism: int = 2) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        self._dummy = self._hasher.hash(_DUMMY_PASSWORD)

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(stored or self._dummy, password) and stored is not None
            except (VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(check)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(b"a6r-identity-token\x00" + token.encode()).digest()


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def new_code(digits: int = 8) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(digits))
