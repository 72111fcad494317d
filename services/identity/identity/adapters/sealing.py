"""Sealing of secrets the service must read back (TOTP seeds) with AES-256-GCM.

A TOTP seed cannot be hashed like a password: verifying a code needs the seed itself. Sealing it
keeps a database dump (or a backup) from yielding working second factors.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class Sealer:
    def __init__(self, seed: str) -> None:
        self._aead = AESGCM(hashlib.sha256(b"a6r-identity-sealing\x00" + seed.encode()).digest())

    def seal(self, plaintext: str, context: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, plaintext.encode(), context.encode())

    def open(self, sealed: bytes, context: str) -> str:
        return self._aead.decrypt(sealed[:12], sealed[12:], context.encode()).decode()
