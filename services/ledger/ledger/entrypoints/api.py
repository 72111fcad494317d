"""The ledger's HTTP API: transactions named by the client's id, and paginated read views."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ledger.adapters import queries
from ledger.domain import builtin_rules
from ledger.domain.errors import DomainError, RuleRefused
from ledger.service_layer.commands import AnyCommand, TransferUnits
from ledger.service_layer.context import Proposal, role_over
from ledger.service_layer.writer import IdempotencyConflict, LedgerWriter, Outcome, not_writing
from registry_platform.auth import (
    ACCOUNT_APPROVER,
    ACCOUNT_INITIATOR,
    ACCOUNT_ROLES,
    APPROACH_OBSERVER,
    EXTERNAL_SYSTEM,
    REGISTRY_ADMINISTRATOR,
    REGISTRY_SERVICE,
    SECTION_ADMINISTRATOR,
    SECTION_USER,
    Principal,
)
from registry_platform.authz import Caller, public, require, require_recent_mfa
from registry_platform.errors import RegistryError, error_body

router = APIRouter()
# Business functions: system administrators have none of them (A6R-50).
PROPOSERS = (
    REGISTRY_ADMINISTRATOR,
    SECTION_ADMINISTRATOR,
    SECTION_USER,
    ACCOUNT_INITIATOR,
    ACCOUNT_APPROVER,
    REGISTRY_SERVICE,
    EXTERNAL_SYSTEM,
)
READERS = (
    REGISTRY_ADMINISTRATOR,
    SECTION_ADMINISTRATOR,
    SECTION_USER,
    APPROACH_OBSERVER,
    REGISTRY_SERVICE,
    EXTERNAL_SYSTEM,
    *sorted(ACCOUNT_ROLES),
)
# Operations that need a second factor proven in the last minutes (issue 4, step-up).
ELEVATED_KINDS = frozenset(
    {"issue_units", "corrective_transfer", "create_section", "change_section_status", "create_cooperative_approach"}
)
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size")]
Sort = Annotated[
    str | None, Query(max_length=40, description="A listed column, '-' first for descending; unknown: 422 unknown_sort")
]

_STATUS = {
    "not_authorized": 403,
    "correction_not_permitted": 403,
    "own_application": 403,
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
    if writer is None:
        raise not_writing()
    if not writer.ready.is_set():
        raise writer.unavailable()
    return writer


def _engine(request: Request) -> Any:
    return request.app.state.runtime.engine


def _answer(outcome: Outcome) -> JSONResponse:
    body = outcome.body()
    if outcome.outcome == "proposed":
        return JSONResponse(body, status_code=202)
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
    dependencies=[require(*PROPOSERS)],
    tags=["transactions"],
    summary="Propose a transaction under the client's own id (idempotent)",
    responses={
        201: {"description": "Recorded"},
        200: {"description": "Repeat of a recorded request"},
        202: {"description": "Proposed: the rules service's verdict is awaited; poll GET /transactions/{id}"},
        409: {"description": "Refused by the registry's state, or the id was used for another request"},
    },
)
async def propose(
    request: Request,
    caller: Caller,
    transaction_id: Annotated[uuid.UUID, Path(description="The client's id for this transaction")],
    command: Annotated[AnyCommand, Body(discriminator="kind")],
) -> JSONResponse:
    if command.kind in ELEVATED_KINDS:
        require_recent_mfa(caller)
    proposal = Proposal(transaction_id, command, caller, datetime.min)
    try:
        writer = _writer(request)
        outcome = await writer.submit(proposal)
    except IdempotencyConflict as exc:
        raise RegistryError(409, "transaction_id_reused", str(exc)) from exc
    if outcome.outcome == "proposed":
        # Most verdicts come within milliseconds: answer with the decision when it comes in time.
        wait = request.app.state.runtime.settings.verdict_wait_seconds
        outcome = await writer.wait_decision(transaction_id, wait) or outcome
    return _answer(outcome)


@router.get("/transactions/{transaction_id}", dependencies=[require(*READERS)], tags=["transactions"])
async def get_transaction(request: Request, caller: Caller, transaction_id: uuid.UUID) -> dict[str, Any]:
    row = await queries.transaction(_engine(request), transaction_id)
    if row is None or not (
        caller.has(REGISTRY_ADMINISTRATOR)
        or caller.subject in (row["initiator"], row["on_behalf_of"])
        or (row.get("outcome") == "recorded" and await _sees_any(request, caller, queries.named_accounts(row)))
    ):
        raise RegistryError(404, "unknown_transaction", f"There is no transaction {transaction_id} you may see.")
    return row


class Page(BaseModel):
    items: list[dict[str, Any]]
    next: str | None = None


@router.get("/transactions", dependencies=[require(*READERS)], tags=["transactions"], response_model=Page)
async def list_transactions(
    request: Request,
    caller: Caller,
    limit: Limit = 100,
    after: str | None = None,
    kind: str | None = None,
    sort: Sort = None,
    account: Annotated[
        str | None,
        Query(max_length=40, pattern=r"^[A-Z0-9-]+$", description="Only transactions naming this account"),
    ] = None,
    recorded_from: Annotated[datetime | None, Query(description="Recorded at or after this instant")] = None,
    recorded_before: Annotated[
        datetime | None, Query(description="Recorded before this instant; a later one lists what is recorded so far")
    ] = None,
) -> Page:
    """Sortable by recorded (the default: journal order), kind, outcome, initiator; filtered by
    account and by a window of recording instants, in the query (so pages are full)."""
    _require_zone(recorded_from=recorded_from, recorded_before=recorded_before)
    # A user's own transactions: those they initiated and those an administrator made on their
    # behalf, also while an administrator impersonates them (the subject is the user, A6R-43).
    user = None if caller.has(REGISTRY_ADMINISTRATOR) else caller.subject
    # Who may see an account (its holders, its section's administrators, its approach's observers)
    # sees every transaction recorded on it (A6R-23, A6R-30); refused ones stay their users'.
    recorded_too = user is not None and account is not None and await _sees_any(request, caller, {account})
    items, nxt = await queries.transactions(
        _engine(request),
        limit=limit,
        after=after,
        kind=kind,
        user=user,
        sort=sort,
        account=account,
        window=(recorded_from, recorded_before),
        recorded_too=recorded_too,
    )
    return Page(items=items, next=nxt)


def _require_zone(**instants: datetime | None) -> None:
    """An instant without a time zone could mean any of 26 hours: refused, not guessed; one whose
    UTC time Python cannot hold is refused too."""
    for name, instant in instants.items():
        if instant is None:
            continue
        if instant.tzinfo is None:
            raise RegistryError(422, "naive_timestamp", f"Give '{name}' with a time zone, e.g. 2026-01-01T00:00:00Z.")
        try:
            instant.astimezone(UTC)
        except OverflowError:
            # 9999-12-31T23:00:00-05:00 is a valid timestamp whose UTC time is past year 9999.
            raise RegistryError(
                422, "timestamp_out_of_range", f"'{name}' in UTC falls outside the years 1 to 9999."
            ) from None


async def _require_final(request: Request, name: str, instant: datetime | None) -> None:
    """An answer about a past instant never changes afterwards (A6R-48). The writer stamps a batch's
    instant before the batch commits, so an instant is answered only once no entry can still come
    at or before it (`queries.is_final`); a later one (in the future, say) is refused with 422
    instant_not_yet_final and the latest final instant, not answered provisionally."""
    if instant is None:
        return
    final, latest = await queries.is_final(_engine(request), instant)
    if not final:
        known = latest.isoformat()
        raise RegistryError(
            422,
            "instant_not_yet_final",
            f"'{name}' is later than the latest instant whose record is final, {known}: entries may still "
            f"be recorded before it. Give an instant before {known}, or leave out '{name}' to read the "
            "current state.",
            parameter=name,
            latest_final=known,
        )


def _visible(caller: Principal) -> queries.Visibility | None:
    """The accounts a caller may see, from the grants' scopes; None means all (registry administrators
    and registry services)."""
    if caller.has(REGISTRY_ADMINISTRATOR) or caller.has(REGISTRY_SERVICE):
        return None
    return queries.Visibility(
        sections=[g.section for g in caller.grants if g.role == SECTION_ADMINISTRATOR and g.section],
        # The pair: a grant naming one section and another section's account shows nothing (A6R-51).
        accounts=[(g.section, g.account) for g in caller.grants if g.role in ACCOUNT_ROLES and g.account],
        approaches=[
            g.cooperative_approach for g in caller.grants if g.role == APPROACH_OBSERVER and g.cooperative_approach
        ],
    )


@router.get("/accounts", dependencies=[require(*READERS)], tags=["accounts"], response_model=Page)
async def list_accounts(
    request: Request,
    caller: Caller,
    limit: Limit = 100,
    after: str | None = None,
    section: str | None = None,
    type: str | None = None,
    status: str | None = None,
    sort: Sort = None,
) -> Page:
    """Sortable by number (the default), holder, section, type, status, opened_at, balance.

    Accounts as they are now, page by page: an account whose balance or status changes between
    two pages of a listing sorted by that column may move across the cursor, and so be listed
    twice or not at all. For a consistent view of holdings, read each account's
    `/accounts/{number}/blocks?at=` at one instant."""
    items, nxt = await queries.accounts(
        _engine(request),
        limit=limit,
        after=after,
        section=section,
        type=type,
        status=status,
        visible=_visible(caller),
        sort=sort,
    )
    return Page(items=items, next=nxt)


async def _visible_account(request: Request, caller: Principal, number: str) -> dict[str, Any] | None:
    """The account, if it exists and the caller may see it."""
    account = await queries.account(_engine(request), number)
    visible = _visible(caller)
    return account if account is not None and (visible is None or visible.covers(account)) else None


async def _sees_any(request: Request, caller: Principal, numbers: set[str]) -> bool:
    """Whether the caller may see one of these accounts."""
    for number in numbers:
        if await _visible_account(request, caller, number) is not None:
            return True
    return False


async def _account_for(request: Request, caller: Principal, number: str) -> dict[str, Any]:
    account = await _visible_account(request, caller, number)
    if account is None:
        raise RegistryError(404, "unknown_account", f"There is no account {number} you may see.")
    return account


@router.get("/accounts/{number}", dependencies=[require(*READERS)], tags=["accounts"])
async def get_account(request: Request, caller: Caller, number: str) -> dict[str, Any]:
    return await _account_for(request, caller, number)


@router.get("/accounts/{number}/blocks", dependencies=[require(*READERS)], tags=["accounts"], response_model=Page)
async def account_blocks(
    request: Request,
    caller: Caller,
    number: str,
    limit: Limit = 100,
    after: str | None = None,
    at: Annotated[
        datetime | None,
        Query(
            description="Holdings as they were at this instant, one whose record is final (not in the future): "
            "with every transaction recorded at or before it. The transactions between two such instants T0 "
            "and T1 are those recorded after T0 and at or before T1: /transactions?recorded_from=T0+1µs"
            "&recorded_before=T1+1µs (instants are kept to the microsecond)"
        ),
    ] = None,
    sort: Sort = None,
) -> Page:
    """Sortable by block (the default), serial, quantity, activity, vintage. The pages of one
    listing are read as at one moment: `at`, or the first page's (its cursor pins it)."""
    await _account_for(request, caller, number)
    _require_zone(at=at)
    await _require_final(request, "at", at)
    items, nxt = await queries.blocks(_engine(request), number, limit=limit, after=after, at=at, sort=sort)
    return Page(items=items, next=nxt)


@router.get("/applications", dependencies=[require(*READERS)], tags=["accounts"], response_model=Page)
async def list_applications(
    request: Request,
    caller: Caller,
    limit: Limit = 100,
    after: str | None = None,
    state: Annotated[str | None, Query(pattern="^(pending|approved|rejected)$")] = None,
    section: str | None = None,
) -> Page:
    """Account applications (A6R-41), oldest first: registry administrators see all, section
    administrators their sections', everyone else the applications they made."""
    sections = None
    if not (caller.has(REGISTRY_ADMINISTRATOR) or caller.has(REGISTRY_SERVICE)):
        sections = [g.section for g in caller.grants if g.role == SECTION_ADMINISTRATOR and g.section]
    items, nxt = await queries.applications(
        _engine(request),
        limit=limit,
        after=after,
        state=state,
        section=section,
        sections=sections,
        applicant=caller.subject,
    )
    return Page(items=items, next=nxt)


class TransferPreview(BaseModel):
    """What an implicit transfer would move, shown before it is proposed."""

    source: str
    destination: str
    quantity: int
    blocks: list[dict[str, Any]]


@router.post(
    "/transfers/preview",
    dependencies=[require(*PROPOSERS, reads=True)],
    tags=["transactions"],
    response_model=TransferPreview,
    summary="The serial ranges an implicit transfer would move now (A6R-52); writes nothing",
)
async def preview_transfer(request: Request, caller: Caller, command: TransferUnits) -> TransferPreview:
    """A6R-52's selection as the writer runs it, around the serials promised to proposals awaiting
    their verdict. A transfer proposed afterwards moves these ranges unless the account's units
    change in between."""
    if command.units.selection is None:
        raise RegistryError(422, "selection_required", "Preview an implicit transfer: give 'units.selection'.")
    source = await _account_for(request, caller, command.source)
    # Who may only look at the account (a viewer, an observer) learns nothing of what it would
    # move: the answer shows the serials other people's pending transfers have reserved.
    if role_over(caller, source["section"], source["number"], builtin_rules.RULESET) is None:
        raise RegistryError(
            403, "not_authorized", f"You may look at account {command.source} but not transfer from it."
        )
    try:
        chosen = await _writer(request).preview(command.source, command.destination, command.units.selection)
    except DomainError as exc:
        # Named as a proposal's refusal names it: the built-in rule, where one refuses.
        rule = exc.rule if isinstance(exc, RuleRefused) else None
        raise RegistryError(status_for(exc.code), exc.code, str(exc), rule=rule) from exc
    blocks = await queries.pieces(_engine(request), [(p.holding.block_id, p.first, p.last) for p in chosen])
    blocks.sort(key=lambda b: (*b["scope"].values(), b["first"]))
    return TransferPreview(
        source=command.source,
        destination=command.destination,
        quantity=sum(b["quantity"] for b in blocks),
        blocks=blocks,
    )


@router.get("/sections", dependencies=[require(*READERS)], tags=["configuration"])
async def list_sections(request: Request) -> list[dict[str, Any]]:
    return await queries.sections(_engine(request))


@router.get("/cooperative-approaches", dependencies=[require(*READERS)], tags=["configuration"])
async def list_approaches(request: Request) -> list[dict[str, Any]]:
    return await queries.approaches(_engine(request))


@router.get("/journal", dependencies=[require(REGISTRY_ADMINISTRATOR)], tags=["journal"], response_model=Page)
async def journal(request: Request, limit: Limit = 100, after: int = 0) -> Page:
    items, nxt = await queries.journal(_engine(request), limit=limit, after=after)
    return Page(items=items, next=nxt)


@router.get("/journal/keys", dependencies=[public()], tags=["journal"])
async def journal_keys(request: Request) -> dict[str, Any]:
    """The public keys (a JWK Set) the journal's checkpoints are signed with (A6R-48): the current
    one and any retired by a rotation. With them, and without the signing secret, anyone holding
    an export of the journal checks it (`registry-ledger verify --keys FILE`)."""
    keys: dict[str, Any] = request.app.state.runtime.state["journal_keys"]
    return keys


@router.get(
    "/journal/checkpoints", dependencies=[require(REGISTRY_ADMINISTRATOR)], tags=["journal"], response_model=Page
)
async def checkpoints(
    request: Request,
    limit: Limit = 100,
    before: Annotated[int | None, Query(ge=1, le=2**62, description="Tree sizes below this one (the cursor)")] = None,
) -> Page:
    """The journal's signed checkpoints (A6R-48), newest first."""
    items, nxt = await queries.checkpoints(_engine(request), limit=limit, before=before)
    return Page(items=items, next=nxt)
