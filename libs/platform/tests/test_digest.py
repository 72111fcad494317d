"""A state digest reads every part of the state from one snapshot (replay tools compare it)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text

from registry_platform import db
from registry_platform.digest import tables_digest

pytestmark = pytest.mark.integration


async def test_a6r48_a_commit_between_two_parts_is_not_half_in_the_digest(database_url: str) -> None:
    engine = db.create_engine(database_url, "public")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE units (serial int)"))
            await conn.execute(text("INSERT INTO units VALUES (1)"))
        seen: list[Any] = []

        def plain(value: Any) -> Any:
            seen.append(value)
            return str(value)

        # The first part sleeps while another transaction adds a unit; the second counts the units.
        parts = {"before": "SELECT count(*) FROM units, pg_sleep(1)", "after": "SELECT count(*) FROM units"}
        digest = asyncio.create_task(tables_digest(engine, b"test\x00", parts, plain))
        await asyncio.sleep(0.3)
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO units VALUES (2)"))
        await digest
        assert seen[0] == seen[-1] == 1, f"parts read different states: {seen}"
    finally:
        await engine.dispose()
