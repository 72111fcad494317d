"""A digest of the ledger's whole state: equal digests mean equal registries.

Covers what the registry asserts: sections and accounts with their statuses, cooperative
approaches, issuances with their metadata, application decisions, every live block with its
holder, and every transaction as it is shown and as a client's repeat is checked against it.
Ids are included because the writer assigns them deterministically, so a replay must reproduce
them.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from registry_platform.digest import tables_digest

DIGEST_DOMAIN = b"a6r-registry/ledger/state-digest/v2\x00"

PARTS = {
    "sections": "SELECT party, name, status FROM sections ORDER BY party",
    "cooperative_approaches": "SELECT id, name, parties FROM cooperative_approaches ORDER BY id",
    "accounts": "SELECT number, holder, section, cooperative_approach, type, status FROM accounts ORDER BY number",
    "serial_scopes": "SELECT * FROM serial_scopes ORDER BY id",
    "issuances": (
        "SELECT id, scope_id, first_serial, last_serial, cooperative_approach, first_transferring_party, sectors, "
        "activity_types, underlying_registry, underlying_first, underlying_last FROM issuances ORDER BY id"
    ),
    "application_decisions": (
        "SELECT application_id::text, approved, account_number FROM application_decisions ORDER BY application_id"
    ),
    "holdings": "SELECT block_id, account_number, scope_id, first_serial, last_serial FROM holdings ORDER BY block_id",
    "transactions": (
        "SELECT id::text, kind, encode(request_hash, 'hex'), outcome, initiator, on_behalf_of, input::text, "
        "result::text, journal_sequence, recorded_at FROM transactions ORDER BY journal_sequence"
    ),
}


async def state_digest(engine: AsyncEngine) -> str:
    return await tables_digest(engine, DIGEST_DOMAIN, PARTS, _plain)


def _plain(value: object) -> object:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str | int | bool) or value is None:
        return value
    return str(value)
