"""Compliance checks (A6R-19): after each recorded transaction, and on demand.

The holdings read model follows ledger.TransactionRecorded: every operation lists the ranges it
moved, each with the account and ledger block now holding it (see domain.holdings). After applying
a transaction, the holdings it changed are checked against the compliance rules bound to their
accounts; each violation is stored and published as rules.ComplianceViolation, naming the
transaction. An on-demand check looks at every holding (of a section, or an account), and names
for each violation the transaction that last changed the holding.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from registry_contracts.envelope import EventEnvelope
from registry_contracts.events.ledger import AccountStatusChanged, TransactionRecorded
from registry_contracts.timestamps import iso_utc
from registry_platform.outbox import add_events
from rules.adapters.readmodel import ReadModel
from rules.domain.compliance import Found, check_holding
from rules.domain.context import holding_context
from rules.domain.evaluation import Snapshot
from rules.domain.holdings import SCOPE_FIELDS, Placed
from rules.domain.paging import Position
from rules.service_layer.service import COMPLIANCE_TOPIC, RulesService


def _violation(
    found: Found,
    account: str,
    holding: Mapping[str, Any],
    *,
    transaction_id: str | None,
    check_id: str | None,
    at: datetime,
) -> dict[str, Any]:
    return {
        "violation_id": str(uuid.uuid4()),
        "rule": found.version.rule,
        "version": found.version.version,
        "binding_id": found.app.binding.id,
        "account": account,
        "scope": {f: holding[f] for f in SCOPE_FIELDS},
        "quantity": int(holding["quantity"]),
        "message": found.message,
        "transaction_id": transaction_id or None,
        "check_id": check_id,
        "detected_at": iso_utc(at),
    }


async def _check_accounts(
    snapshot: Snapshot, readmodel: ReadModel, touched: Mapping[str, list[Mapping[str, Any]] | None], at: datetime
) -> tuple[list[tuple[str, dict[str, Any], Found]], int]:
    """Violations among the holdings of these accounts (of the listed scopes, or all when None)."""
    described = await readmodel.accounts(sorted(touched))
    found: list[tuple[str, dict[str, Any], Found]] = []
    checked = 0
    for account, scopes in sorted(touched.items()):
        attributes = described.get(account) or {"number": account}
        for holding in await readmodel.holdings_of(account, scopes):
            checked += 1
            context = holding_context(attributes, holding, int(holding["quantity"]))
            found += [(account, holding, f) for f in check_holding(snapshot, context, at=at)]
    return found, checked


async def _store(service: RulesService, conn: AsyncConnection, violations: list[dict[str, Any]]) -> None:
    if not violations:
        return
    await conn.execute(
        text(
            "INSERT INTO compliance_violations (id, rule, version, binding_id, account, scope, quantity, message, "
            "transaction_id, check_id, detected_at) VALUES (:violation_id, :rule, :version, :binding_id, :account, "
            "CAST(:scope AS jsonb), :quantity, :message, :transaction_id, :check_id, :detected_at)"
        ),
        [
            {**v, "scope": json.dumps(v["scope"]), "detected_at": datetime.fromisoformat(v["detected_at"])}
            for v in violations
        ],
    )
    events = [
        (service.topic(COMPLIANCE_TOPIC), service.envelope("rules.ComplianceViolation", v["account"], v))
        for v in violations
    ]
    await add_events(conn, events)


async def on_transaction_recorded(service: RulesService, conn: AsyncConnection, envelope: EventEnvelope) -> None:
    await service.ready()
    event = TransactionRecorded.model_validate(envelope.payload)
    readmodel = ReadModel(conn)
    touched: dict[str, list[Mapping[str, Any]] | None] = {}
    for operation in event.operations:
        for block in operation.get("blocks", []):
            placed = Placed(block["first"], block["last"], block["account"], block["block_id"], event.transaction_id)
            for account in await readmodel.place_all([(block["scope"], placed)]):
                scopes = touched.setdefault(account, [])
                assert scopes is not None
                scopes.append(block["scope"])
    if not touched:
        return
    snapshot = await service.snapshot(conn)
    if not snapshot.binds("compliance"):
        return  # nothing to check the new end state against: spare the holdings' reads
    found, _ = await _check_accounts(snapshot, readmodel, touched, event.recorded_at)
    now = service.clock()
    violations = [_violation(f, a, h, transaction_id=event.transaction_id, check_id=None, at=now) for a, h, f in found]
    await _store(service, conn, violations)


async def on_transactions_recorded(
    service: RulesService, conn: AsyncConnection, envelopes: list[EventEnvelope]
) -> None:
    """A run of recorded transactions. With compliance rules bound, each transaction is checked
    against the holdings it left, one after the other; without, the holdings of the whole run are
    placed at once (one read, one delete, one insert)."""
    await service.ready()
    if (await service.snapshot(conn)).binds("compliance"):
        for envelope in envelopes:
            await on_transaction_recorded(service, conn, envelope)
        return
    placements = []
    for envelope in envelopes:
        event = TransactionRecorded.model_validate(envelope.payload)
        for operation in event.operations:
            for block in operation.get("blocks", []):
                placed = Placed(
                    block["first"], block["last"], block["account"], block["block_id"], event.transaction_id
                )
                placements.append((block["scope"], placed))
    await ReadModel(conn).place_all(placements)


async def on_account_status_changed(service: RulesService, conn: AsyncConnection, envelope: EventEnvelope) -> None:
    event = AccountStatusChanged.model_validate(envelope.payload)
    await ReadModel(conn).set_status(event.account_number, event.new_status, event.changed_at)


async def run_check(
    service: RulesService, conn: AsyncConnection, *, section: str | None, account: str | None, requested_by: str
) -> dict[str, Any]:
    """Check the current holdings (of a section or an account, or all) now; store and publish what fails."""
    readmodel = ReadModel(conn)
    snapshot = await service.snapshot(conn)
    now = service.clock()
    accounts = await readmodel.held_accounts(section=section, account=account)
    found, checked = await _check_accounts(snapshot, readmodel, dict.fromkeys(accounts), now)
    check_id = str(uuid.uuid4())
    violations = [
        _violation(f, a, h, transaction_id=h.get("transaction_id"), check_id=check_id, at=now) for a, h, f in found
    ]
    await conn.execute(
        text(
            "INSERT INTO compliance_checks (id, requested_by, scope, holdings_checked, violations, checked_at) "
            "VALUES (:id, :by, CAST(:scope AS jsonb), :n, :v, :at)"
        ),
        {
            "id": check_id,
            "by": requested_by,
            "scope": json.dumps({"section": section, "account": account}),
            "n": checked,
            "v": len(violations),
            "at": now,
        },
    )
    await _store(service, conn, violations)
    return {
        "check_id": check_id,
        "checked_at": iso_utc(now),
        "catalogue_sequence": snapshot.sequence,
        "holdings_checked": checked,
        "violations": violations,
    }


async def violations(
    conn: AsyncConnection, *, account: str | None, sections: list[str] | None, after: Position | None, limit: int
) -> list[dict[str, Any]]:
    """Stored violations, newest first (ties by id, descending), from after the position `after`;
    `sections` limits them to accounts of those sections."""
    at, item_id = after if after is not None else (None, None)
    rows = await conn.execute(
        text(
            "SELECT v.id, v.rule, v.version, v.binding_id, v.account, v.scope, v.quantity, v.message, "
            "v.transaction_id, v.check_id, v.detected_at FROM compliance_violations v "
            "LEFT JOIN accounts a ON a.number = v.account "
            "WHERE (CAST(:acc AS text) IS NULL OR v.account = :acc) "
            "AND (CAST(:sections AS text[]) IS NULL OR a.section = ANY(CAST(:sections AS text[]))) "
            "AND (CAST(:at AS timestamptz) IS NULL OR (v.detected_at, v.id) < (CAST(:at AS timestamptz), "
            "CAST(:id AS uuid))) ORDER BY v.detected_at DESC, v.id DESC LIMIT :limit"
        ),
        {"acc": account, "sections": sections, "at": at, "id": item_id, "limit": limit},
    )
    return [dict(r._mapping) for r in rows]
