"""The ledger's HTTP API: transactions named by the client's id, and paginated read views."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ledger.adapters import queries
from ledger.service_layer.commands import AnyCommand
from ledger.service_layer.context import Proposal
from ledger.service_layer.writer import IdempotencyConflict, LedgerWriter, Outcome
from registry_platform.auth import REGISTRY_ADMINISTRATOR, SYSTEM_ADMINISTRATOR, Principal, principal_from
from registry_platform.errors import RegistryError, error_body

router = APIRouter()
Caller = Annotated[Principal, Depends(principal_from)]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size")]

_STATUS = {
    "not_authorized": 403,
    "correction_not_permitted": 403,
    "status_change_not_permitted": 403,
    "unknown_account": 404,
    "unknown_section": 404,
    "unknown_cooperative_approach": 404,
    "unknown_application": 404,
    "unknown_transaction": 404,
    "unknown_party": 422,
    "unknown_code": 422,
    "duplicate_party": 422,
    "invalid_quantity": 422,
    "malformed_range": 422,
    "serial_overflow": 422,
    "incomplete_correction": 422,
    "wrong_destination_type": 422,
    "use_external_transfer": 422,
    "account_type_not_applicable": 422,
}


def status_for(code: str) -> int:
    """Refusals that depend on the registry's state (insufficient units, wrong status...) are 409."""
    return _STATUS.get(code, 409)


def _writer(request: Request) -> LedgerWriter:
    writer = request.app.state.runtime.state.get("writer")
    if writer is None or not writer.ready.is_set():
        raise RegistryError(503, "ledger_starting", "The ledger is starting; retry in a moment.")
    return writer


def _engine(request: Request) -> Any:
    return request.app.state.runtime.engine


def _answer(outcome: Outcome) -> JSONResponse:
    body = outcome.body()
    if outcome.outcome == "recorded":
        return JSONResponse(body, status_code=200 if outcome.replayed else 201)
    error = outcome.result["error"]
    payload = error_body(
        error["code"], error["message"], rule=error["rule"], transaction_id=str(outcome.transaction_id)
    )
    payload["outcome"] = "rejected"
    payload["journal_sequence"] = outcome.journal_sequence
    return JSONResponse(payload, status_code=status_for(error["code"]))


@router.put(
    "/transactions/{transaction_id}",
    tags=["transactions"],
    summary="Propose a transaction under the client's own id (idempotent)",
    responses={
        201: {"description": "Recorded"},
        200: {"description": "Repeat of a recorded request"},
        409: {"description": "Refused by the registry's state, or the id was used for another request"},
    },
)
async def propose(
    request: Request,
    caller: Caller,
    transaction_id: Annotated[uuid.UUID, Path(description="The client's id for this transaction")],
    command: Annotated[AnyCommand, Body(discriminator="kind")],
) -> JSONResponse:
    proposal = Proposal(transaction_id, command, caller, datetime.min)
    try:
        outcome = await _writer(request).submit(proposal)
    except IdempotencyConflict as exc:
        raise RegistryError(409, "transaction_id_reused", str(exc)) from exc
    return _answer(outcome)


@router.get("/transactions/{transaction_id}", tags=["transactions"])
async def get_transaction(request: Request, caller: Caller, transaction_id: uuid.UUID) -> dict[str, Any]:
    row = await queries.transaction(_engine(request), transaction_id)
    if row is None or not (caller.has(REGISTRY_ADMINISTRATOR) or row["initiator"] == caller.initiator):
        raise RegistryError(404, "unknown_transaction", f"There is no transaction {transaction_id} you may see.")
    return row


class Page(BaseModel):
    items: list[dict[str, Any]]
    next: str | None = None


@router.get("/transactions", tags=["transactions"], response_model=Page)
async def list_transactions(
    request: Request, caller: Caller, limit: Limit = 100, after: str | None = None, kind: str | None = None
) -> Page:
    initiator = None if caller.has(REGISTRY_ADMINISTRATOR) else caller.initiator
    items, nxt = await queries.transactions(_engine(request), limit=limit, after=after, kind=kind, initiator=initiator)
    return Page(items=items, next=nxt)


def _visible(caller: Principal) -> tuple[list[str], list[str]] | None:
    """Sections and accounts a caller may see; None means everything (registry administrators)."""
    if caller.has(REGISTRY_ADMINISTRATOR):
        return None
    sections = [g.section for g in caller.grants if g.role == "section_administrator" and g.section]
    accounts = [g.account for g in caller.grants if g.role == "account_representative" and g.account]
    return sections, accounts


@router.get("/accounts", tags=["accounts"], response_model=Page)
async def list_accounts(
    request: Request,
    caller: Caller,
    limit: Limit = 100,
    after: str | None = None,
    section: str | None = None,
    type: str | None = None,
    status: str | None = None,
) -> Page:
    items, nxt = await queries.accounts(
        _engine(request), limit=limit, after=after, section=section, type=type, status=status, visible=_visible(caller)
    )
    return Page(items=items, next=nxt)


async def _account_for(request: Request, caller: Principal, number: str) -> dict[str, Any]:
    account = await queries.account(_engine(request), number)
    visible = _visible(caller)
    if account is None or (
        visible is not None and account["section"] not in visible[0] and account["number"] not in visible[1]
    ):
        raise RegistryError(404, "unknown_account", f"There is no account {number} you may see.")
    return account


@router.get("/accounts/{number}", tags=["accounts"])
async def get_account(request: Request, caller: Caller, number: str) -> dict[str, Any]:
    return await _account_for(request, caller, number)


@router.get("/accounts/{number}/blocks", tags=["accounts"], response_model=Page)
async def account_blocks(
    request: Request,
    caller: Caller,
    number: str,
    limit: Limit = 100,
    after: int | None = None,
    at: Annotated[datetime | None, Query(description="Holdings as they were at this instant (UTC)")] = None,
) -> Page:
    await _account_for(request, caller, number)
    if at is not None and at.tzinfo is None:
        raise RegistryError(422, "naive_timestamp", "Give 'at' with a time zone, e.g. 2026-01-01T00:00:00Z.")
    items, nxt = await queries.blocks(_engine(request), number, limit=limit, after=after, at=at)
    return Page(items=items, next=nxt)


@router.get("/sections", tags=["configuration"])
async def list_sections(request: Request, caller: Caller) -> list[dict[str, Any]]:
    return await queries.sections(_engine(request))


@router.get("/cooperative-approaches", tags=["configuration"])
async def list_approaches(request: Request, caller: Caller) -> list[dict[str, Any]]:
    return await queries.approaches(_engine(request))


def _auditor(caller: Principal) -> None:
    if not (caller.has(REGISTRY_ADMINISTRATOR) or caller.has(SYSTEM_ADMINISTRATOR)):
        raise RegistryError(403, "not_authorized", "Only registry and system administrators read the journal.")


@router.get("/journal", tags=["journal"], response_model=Page)
async def journal(request: Request, caller: Caller, limit: Limit = 100, after: int = 0) -> Page:
    _auditor(caller)
    items, nxt = await queries.journal(_engine(request), limit=limit, after=after)
    return Page(items=items, next=nxt)


@router.get("/journal/checkpoints", tags=["journal"])
async def checkpoints(request: Request, caller: Caller) -> list[dict[str, Any]]:
    _auditor(caller)
    return await queries.checkpoints(_engine(request))
