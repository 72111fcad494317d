"""A digest of the descriptors' state: equal digests mean the same descriptors with the same effects.

Covers every descriptor (id, kind, Party, approach, creation and applicability instants, what it
supersedes, dedication, conditions, first-transfer facts, origin, when a peer's was received, from
which it applies here, and its JWS, which signs the whole document), the serial ranges each covers,
and the units capped authorizations took at issuance.
Not covered: the order this database stored them in (`sequence`, `stored_at`), which depends on
consumption timing, and the caches and bookkeeping (accounts, inbox, outbox, cursors).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from registry_contracts.timestamps import iso_utc
from registry_platform.digest import differences, tables_digest

DIGEST_DOMAIN = b"a6r-registry/descriptors/state-digest/v1\x00"
SCOPE = "originating_registry, issuing_party, activity_id, vintage, metric"

PARTS = {
    "descriptors": (
        "SELECT id::text, kind, origin_registry, issuing_party, cooperative_approach, created_at, applicable_from, "
        "supersedes::text, dedication, oimp_trigger, conditions, transferred_at, basis, transaction_id, "
        "received_from, received_at, jws FROM descriptors ORDER BY id"
    ),
    "descriptor_ranges": (
        f"SELECT descriptor_id::text, {SCOPE}, first_serial, last_serial FROM descriptor_ranges "
        f"ORDER BY descriptor_id, {SCOPE}, first_serial"
    ),
    "allocations": (
        f"SELECT authorization_id::text, transaction_id, {SCOPE}, first_serial, last_serial FROM allocations "
        f"ORDER BY authorization_id, transaction_id, {SCOPE}, first_serial"
    ),
}


async def state_digest(engine: AsyncEngine) -> str:
    return await tables_digest(engine, DIGEST_DOMAIN, PARTS, _plain)


async def state_differences(rebuilt: AsyncEngine, live: AsyncEngine) -> list[str]:
    """The first row that differs in each part of two states whose digests differ."""
    return await differences(rebuilt, live, PARTS, _plain)


def _plain(value: Any) -> Any:
    return iso_utc(value) if isinstance(value, datetime) else value
