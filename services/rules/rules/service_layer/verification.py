"""Checking the configuration journal (A6R-48): `GET /journal/verification` and
`registry-rules verify-journal`."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from rules.adapters.repository import Repository
from rules.domain.journal import Verification, first_difference, verify_chain


async def verify_journal(engine: AsyncEngine) -> Verification:
    """Recompute the hash chain, then rebuild the catalogue tables from the entries and compare
    them with what is stored (domain.journal says why, triggers notwithstanding)."""
    async with engine.connect() as conn:
        # One snapshot: the entries and the tables as of one instant, changes being made or not.
        conn = await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            repo = Repository(conn)
            entries = await repo.journal(limit=10**9)
            tables = await repo.catalogue_tables()
    return Verification(len(entries), verify_chain(entries), first_difference(entries, tables))
