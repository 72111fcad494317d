"""A digest of the ledger's whole state: equal digests mean equal registries.

Covers what the registry asserts: sections and accounts with their statuses, cooperative
approaches, issuances with their metadata, application decisions, every live block with its
holder, every block ever created and retired and every account status change (the history read
at past instants), and every transaction as it is shown and as a client's repeat is checked against it.
Ids are included because the writer assigns them deterministically, so a replay must reproduce
them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from registry_contracts.timestamps import iso_utc
from registry_platform.digest import differences, digest_in, tables_digest

DIGEST_DOMAIN = b"a6r-registry/ledger/state-digest/v3\x00"

# Every column the API serves, the transactions and instants that made each row included (v2 left
# those out: an account's opening date could be changed unseen, and `GET /accounts` sorts by it).
PARTS = {
    "sections": "SELECT party, name, status, created_tx::text, created_at FROM sections ORDER BY party",
    "cooperative_approaches": (
        "SELECT id, name, parties, created_tx::text, created_at FROM cooperative_approaches ORDER BY id"
    ),
    "accounts": (
        "SELECT number, holder, section, cooperative_approach, type, status, opened_tx::text, opened_at "
        "FROM accounts ORDER BY number"
    ),
    "serial_scopes": "SELECT * FROM serial_scopes ORDER BY id",
    "issuances": (
        "SELECT id, tx::text, scope_id, first_serial, last_serial, cooperative_approach, first_transferring_party, "
        "sectors, activity_types, underlying_registry, underlying_first, underlying_last FROM issuances ORDER BY id"
    ),
    "application_decisions": (
        "SELECT application_id::text, approved, account_number, tx::text FROM application_decisions "
        "ORDER BY application_id"
    ),
    "holdings": "SELECT block_id, account_number, scope_id, first_serial, last_serial FROM holdings ORDER BY block_id",
    # The history `blocks?at=` and an account's status history are read from: replay must rebuild
    # it too, not only the present.
    "unit_blocks": (
        "SELECT id, issuance_id, first_serial, last_serial, account_number, created_tx::text, parent_block "
        "FROM unit_blocks ORDER BY id"
    ),
    "block_retirements": "SELECT block_id, tx::text FROM block_retirements ORDER BY block_id",
    # Not the id: a bigserial, whose values rolled-back batches skip.
    "account_events": (
        "SELECT account_number, tx::text, old_status, new_status, recorded_at FROM account_events "
        "ORDER BY recorded_at, tx, account_number, new_status"
    ),
    "transactions": (
        "SELECT id::text, kind, encode(request_hash, 'hex'), outcome, initiator, on_behalf_of, input::text, "
        "result::text, journal_sequence, recorded_at FROM transactions ORDER BY journal_sequence"
    ),
}


async def state_digest(engine: AsyncEngine) -> str:
    return await tables_digest(engine, DIGEST_DOMAIN, PARTS, _plain)


async def state_digest_in(conn: AsyncConnection) -> str:
    return await digest_in(conn, DIGEST_DOMAIN, PARTS, _plain)


async def state_differences(rebuilt: AsyncEngine, live: AsyncEngine) -> list[str]:
    """The first row that differs in each part of two states whose digests differ."""
    return await differences(rebuilt, live, PARTS, _plain)


def _plain(value: object) -> object:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str | int | bool) or value is None:
        return value
    if isinstance(value, datetime):
        # In UTC: the driver gives instants in the session's time zone, which two databases of one
        # state need not share.
        return iso_utc(value)
    return str(value)
