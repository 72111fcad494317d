"""Identity's signing keys in a service's token verifier, read from identity's JWKS.

The JWKS is read every minute to follow rotation, and at once when a token names a key the
verifier does not hold: a key identity has just started signing with is accepted from its first
token. Those reads happen at most once every few seconds (`min_interval`), so tokens with made-up
key ids cannot make a service hammer identity; requests that ask while a read is under way wait
for it and share it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import httpx
from joserfc.errors import JoseError

from registry_platform.auth import Principal, TokenVerifier, UnknownSigningKey

log = logging.getLogger(__name__)


class IdentityKeys:
    def __init__(self, url: str, verifier: TokenVerifier, *, min_interval: float) -> None:
        self.url = url
        self._verifier = verifier
        self._min_interval = min_interval
        # One read at a time: a request naming an unknown key waits for the read under way.
        self._reading = asyncio.Lock()
        self._read_for_unknown_key_at: float | None = None
        self.loaded = False

    async def follow(self, stop: asyncio.Event) -> None:
        """Re-read the JWKS every minute (every second until a first read succeeded)."""
        while not stop.is_set():
            async with self._reading:
                await self._read()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=60.0 if self.loaded else 1.0)

    async def read_for_unknown_key(self) -> None:
        """Read the JWKS now, unless it was read for an unknown key less than `min_interval` ago."""
        async with self._reading:
            now = time.monotonic()
            last = self._read_for_unknown_key_at
            if last is not None and now - last < self._min_interval:
                return
            self._read_for_unknown_key_at = now
            await self._read()

    async def _read(self) -> None:
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                response = await client.get(self.url)
                response.raise_for_status()
                self._verifier.trust(response.json())
            self.loaded = True
        # A JWKS that cannot be read leaves the keys as they were; a request never fails on it.
        except (httpx.HTTPError, JoseError, ValueError, TypeError, KeyError) as exc:
            log.warning("could not read the JWKS at %s: %s", self.url, exc)


async def verify(verifier: TokenVerifier, keys: IdentityKeys | None, token: str) -> Principal:
    """`verifier.verify(token)`; a token signed with a key not known yet is verified again after
    reading identity's JWKS (where `keys` follows one)."""
    try:
        return verifier.verify(token)
    except UnknownSigningKey:
        if keys is None:
            raise
        await keys.read_for_unknown_key()
        return verifier.verify(token)
