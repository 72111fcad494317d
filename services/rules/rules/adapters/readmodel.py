"""The read models compliance checks run on: accounts and holdings, built from the ledger's events.

`accounts` takes an account's attributes from the proposals it appears in (the ledger describes
both accounts of every unit transaction) and its status from ledger.AccountStatusChanged; an
account known only from a status change has an empty type until a proposal describes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from rules.domain.holdings import SCOPE_FIELDS, Placed, ScopeKey, place_all

_SCOPE_COLUMNS = ", ".join(SCOPE_FIELDS)
_SCOPE_RECORD = ", ".join(f"{f} {'int' if f == 'vintage' else 'text'}" for f in SCOPE_FIELDS)
_SCOPE_JOIN = " AND ".join(f"h.{f} = w.{f}" for f in SCOPE_FIELDS)


class ReadModel:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def describe_accounts(self, accounts: list[tuple[Mapping[str, Any], datetime]]) -> None:
        """Remember the accounts proposals describe (each with the proposal's instant), in one
        statement. An account described twice keeps the last description; a new one is dated by
        its first."""
        latest: dict[str, tuple[Mapping[str, Any], datetime]] = {}
        for account, at in accounts:
            first_at = latest[account["number"]][1] if account["number"] in latest else at
            latest[account["number"]] = (account, first_at)
        if not latest:
            return
        described = list(latest.values())
        await self.conn.execute(
            text(
                "INSERT INTO accounts (number, type, status, section, cooperative_approach, holder, updated_at) "
                "SELECT * FROM unnest(CAST(:number AS text[]), CAST(:type AS text[]), CAST(:status AS text[]), "
                "CAST(:section AS text[]), CAST(:approach AS text[]), CAST(:holder AS text[]), "
                "CAST(:at AS timestamptz[])) "
                "ON CONFLICT (number) DO UPDATE SET type = EXCLUDED.type, section = EXCLUDED.section, "
                "cooperative_approach = EXCLUDED.cooperative_approach, holder = EXCLUDED.holder "
                # Every proposal describes its accounts again: write (and lock the row) only for news.
                "WHERE (accounts.type, accounts.section, accounts.cooperative_approach, accounts.holder) "
                "IS DISTINCT FROM (EXCLUDED.type, EXCLUDED.section, EXCLUDED.cooperative_approach, EXCLUDED.holder)"
            ),
            {
                "number": [a["number"] for a, _ in described],
                "type": [a["type"] for a, _ in described],
                "status": [a["status"] for a, _ in described],
                "section": [a.get("section") for a, _ in described],
                "approach": [a.get("cooperative_approach") for a, _ in described],
                "holder": [a.get("holder") for a, _ in described],
                "at": [at for _, at in described],
            },
        )

    async def set_status(self, number: str, status: str, at: datetime) -> None:
        await self.conn.execute(
            text(
                "INSERT INTO accounts (number, type, status, updated_at) VALUES (:n, '', :s, :at) "
                "ON CONFLICT (number) DO UPDATE SET status = EXCLUDED.status, updated_at = EXCLUDED.updated_at"
            ),
            {"n": number, "s": status, "at": at},
        )

    async def accounts(self, numbers: list[str]) -> dict[str, dict[str, Any]]:
        rows = await self.conn.execute(
            text(
                "SELECT number, type, status, section, cooperative_approach, holder FROM accounts "
                "WHERE number = ANY(:n)"
            ),
            {"n": numbers},
        )
        return {r.number: dict(r._mapping) for r in rows}

    async def place_all(self, placements: list[tuple[Mapping[str, Any], Placed]]) -> set[str]:
        """Place ranges in order, as `place` one at a time would: one read (locking every row any
        of them overlaps), one delete and one insert for all of them. Returns the accounts whose
        holdings changed."""
        if not placements:
            return set()
        keyed = [(tuple(scope[f] for f in SCOPE_FIELDS), new) for scope, new in placements]
        wanted = [{**dict(zip(SCOPE_FIELDS, key, strict=True)), "first": p.first, "last": p.last} for key, p in keyed]
        rows = await self.conn.execute(
            text(
                f"SELECT {_SCOPE_COLUMNS}, first_serial, last_serial, account, block_id, transaction_id "
                f"FROM holdings h WHERE EXISTS (SELECT 1 FROM json_to_recordset(CAST(:w AS json)) "
                f"AS w({_SCOPE_RECORD}, first bigint, last bigint) WHERE {_SCOPE_JOIN} "
                f"AND h.first_serial <= w.last AND h.last_serial >= w.first) FOR UPDATE"
            ),
            {"w": orjson.dumps(wanted).decode()},
        )
        existing = [
            (
                tuple(getattr(r, f) for f in SCOPE_FIELDS),
                Placed(r.first_serial, r.last_serial, r.account, r.block_id, r.transaction_id),
            )
            for r in rows
        ]
        delete, insert = place_all(existing, keyed)
        if delete:
            await self.conn.execute(
                text(
                    f"DELETE FROM holdings h USING json_to_recordset(CAST(:d AS json)) "
                    f"AS w({_SCOPE_RECORD}, first bigint) WHERE {_SCOPE_JOIN} AND h.first_serial = w.first"
                ),
                {"d": orjson.dumps([_row(key, p) for key, p in delete]).decode()},
            )
        if insert:
            await self.conn.execute(
                text(
                    f"INSERT INTO holdings ({_SCOPE_COLUMNS}, first_serial, last_serial, account, block_id, "
                    f"transaction_id) SELECT {_SCOPE_COLUMNS}, first, last, account, block, tx "
                    f"FROM json_to_recordset(CAST(:i AS json)) AS w({_SCOPE_RECORD}, first bigint, last bigint, "
                    f"account text, block bigint, tx text)"
                ),
                {"i": orjson.dumps([_row(key, p) for key, p in insert]).decode()},
            )
        return {p.account for _, p in delete + insert}

    async def holdings_of(self, account: str, scopes: list[Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
        """Quantities an account holds per scope (of `scopes` only, if given)."""
        rows = await self.conn.execute(
            text(
                f"SELECT {_SCOPE_COLUMNS}, sum(last_serial - first_serial + 1) AS quantity, "
                f"(array_agg(transaction_id ORDER BY block_id DESC))[1] AS transaction_id "
                f"FROM holdings WHERE account = :a GROUP BY {_SCOPE_COLUMNS}"
            ),
            {"a": account},
        )
        found = [dict(r._mapping) for r in rows]
        if scopes is None:
            return found
        wanted = {tuple(s[f] for f in SCOPE_FIELDS) for s in scopes}
        return [h for h in found if tuple(h[f] for f in SCOPE_FIELDS) in wanted]

    async def held_accounts(self, *, section: str | None = None, account: str | None = None) -> list[str]:
        rows = await self.conn.execute(
            text(
                "SELECT DISTINCT h.account FROM holdings h LEFT JOIN accounts a ON a.number = h.account "
                "WHERE (CAST(:s AS text) IS NULL OR a.section = :s) AND (CAST(:a AS text) IS NULL OR h.account = :a) "
                "ORDER BY h.account"
            ),
            {"s": section, "a": account},
        )
        return [r.account for r in rows]


def _row(key: ScopeKey, placed: Placed) -> dict[str, Any]:
    return {
        **dict(zip(SCOPE_FIELDS, key, strict=True)),
        "first": placed.first,
        "last": placed.last,
        "account": placed.account,
        "block": placed.block_id,
        "tx": placed.transaction_id,
    }
