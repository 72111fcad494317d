"""A digest of a service's state, for replay tools: equal digests mean equal state.

Each service names the parts of its state as ordered SQL queries; every row is hashed as canonical
JSON after the service's own conversion of values JSON cannot carry, under a domain tag.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from registry_contracts.canonical import canonical_json
from registry_platform import db


async def tables_digest(
    engine: AsyncEngine, domain: bytes, parts: Mapping[str, str], plain: Callable[[Any], Any]
) -> str:
    digest = hashlib.sha256(domain)
    # One snapshot for every part: a commit between two parts would make a state that never was.
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="REPEATABLE READ")
        await conn.begin()
        for part, sql in parts.items():
            digest.update(canonical_json({"part": part}))
            async for row in await conn.stream(text(sql)):
                digest.update(canonical_json([plain(v) for v in row]))
    return digest.hexdigest()


def compare(rebuilt: str, live: str) -> int:
    """Print both digests; the exit status of a replay command."""
    print(f"replayed state digest {rebuilt}")
    print(f"live state digest     {live}")
    return 0 if rebuilt == live else 1


async def print_digest(database_url: str, schema: str, state_digest: Callable[[AsyncEngine], Awaitable[str]]) -> int:
    """A service tool's `digest` command: print the live state's digest."""
    engine = db.create_engine(database_url, schema)
    try:
        print(await state_digest(engine))
    finally:
        await engine.dispose()
    return 0
