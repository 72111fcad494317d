"""A digest of a service's state, for replay tools: equal digests mean equal state.

Each service names the parts of its state as ordered SQL queries; every row is hashed as canonical
JSON after the service's own conversion of values JSON cannot carry, under a domain tag.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from registry_contracts.canonical import canonical_json
from registry_platform import db


async def tables_digest(
    engine: AsyncEngine, domain: bytes, parts: Mapping[str, str], plain: Callable[[Any], Any]
) -> str:
    # One snapshot for every part: a commit between two parts would make a state that never was.
    async with db.snapshot(engine) as conn:
        return await digest_in(conn, domain, parts, plain)


async def digest_in(conn: AsyncConnection, domain: bytes, parts: Mapping[str, str], plain: Callable[[Any], Any]) -> str:
    """The digest of the state `conn` reads (a snapshot's: see `db.snapshot`)."""
    digest = hashlib.sha256(domain)
    for part, sql in parts.items():
        digest.update(canonical_json({"part": part}))
        async for row in await conn.stream(text(sql)):
            digest.update(canonical_json([plain(v) for v in row]))
    return digest.hexdigest()


async def compare(rebuilt: str, live: str, explain: Callable[[], Awaitable[list[str]]]) -> int:
    """Print both digests, and where the states differ if they do; the exit status of a replay."""
    print(f"replayed state digest {rebuilt}")
    print(f"live state digest     {live}")
    if rebuilt == live:
        return 0
    for line in await explain():
        print(line)
    return 1


async def differences(
    rebuilt: AsyncEngine,
    live: AsyncEngine,
    parts: Mapping[str, str],
    plain: Callable[[Any], Any],
    width: int = 400,
) -> list[str]:
    """Where two states differ: for each part of the digest, the first row that differs (None: one
    state has no row there), so a replay that does not reproduce the live state names what the
    journal does not explain (a block, an account, a transaction record), not only two digests."""
    found: list[str] = []
    async with db.snapshot(rebuilt) as a, db.snapshot(live) as b:
        for part, sql in parts.items():
            rows_a, rows_b = await a.stream(text(sql)), await b.stream(text(sql))
            position = 0
            while True:
                row_a, row_b = await anext(rows_a, None), await anext(rows_b, None)
                if row_a is None and row_b is None:
                    break
                position += 1
                values_a = None if row_a is None else [plain(v) for v in row_a]
                values_b = None if row_b is None else [plain(v) for v in row_b]
                if values_a != values_b:
                    rebuilt_row, live_row = str(values_a)[:width], str(values_b)[:width]
                    found.append(f"{part}: row {position} differs: replayed {rebuilt_row}; live {live_row}")
                    break
            await rows_a.close()
            await rows_b.close()
    return found


async def print_digest(database_url: str, schema: str, state_digest: Callable[[AsyncEngine], Awaitable[str]]) -> int:
    """A service tool's `digest` command: print the live state's digest."""
    engine = db.create_engine(database_url, schema)
    try:
        print(await state_digest(engine))
    finally:
        await engine.dispose()
    return 0
