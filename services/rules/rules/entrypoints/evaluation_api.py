"""Dry-run evaluation of a proposal, stored saga evaluations, and compliance checks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from registry_contracts.events.rules import ProposalSubmitted
from registry_platform.auth import REGISTRY_ADMINISTRATOR, SECTION_ADMINISTRATOR, Principal
from registry_platform.authz import Caller, require
from registry_platform.errors import RegistryError
from rules.adapters.repository import Repository
from rules.domain import paging
from rules.entrypoints.common import IDEMPOTENCY, KEY_REUSED, IdempotencyKey, Limit, change_once, page, read
from rules.service_layer import compliance, configuration, saga
from rules.service_layer.commands import ComplianceCheckIn, PreviewIn
from rules.service_layer.service import RulesService

router = APIRouter()
ADMINISTRATORS = require(REGISTRY_ADMINISTRATOR, SECTION_ADMINISTRATOR)


@router.post(
    "/evaluations",
    dependencies=[require(REGISTRY_ADMINISTRATOR, SECTION_ADMINISTRATOR, reads=True)],
    tags=["evaluation"],
    summary="What the catalogue as it stood at the proposal's instant (default now) would decide (dry run)",
)
async def preview(request: Request, caller: Caller, proposal: PreviewIn) -> dict[str, Any]:
    sections = [a.section for a in (proposal.source, proposal.destination) if a is not None]
    if not configuration.may_dry_run(caller, sections):
        raise RegistryError(
            403,
            "not_authorized",
            "Section administrators dry-run proposals whose accounts are in their own sections only;"
            " ask a registry administrator to evaluate this one.",
        )

    async def work(service: RulesService, conn: Any) -> dict[str, Any]:
        at = proposal.proposed_at or service.clock()
        complete = ProposalSubmitted.model_validate({**proposal.model_dump(), "proposed_at": at})
        return await saga.evaluate(service, conn, complete)

    return await read(request, work)


@router.get(
    "/evaluations/{transaction_id}",
    dependencies=[require(REGISTRY_ADMINISTRATOR)],
    tags=["evaluation"],
    summary="The stored evaluation of a proposal the ledger submitted: proposal, verdict, rule versions",
)
async def stored_evaluation(request: Request, transaction_id: str) -> dict[str, Any]:
    async def work(service: RulesService, conn: Any) -> dict[str, Any]:
        found = await Repository(conn).evaluation(transaction_id)
        if found is None:
            raise RegistryError(404, "unknown_evaluation", f"No proposal {transaction_id} was evaluated.")
        return found

    return await read(request, work)


def _sections(caller: Principal) -> list[str] | None:
    """The sections a section administrator sees; None for registry administrators (everything)."""
    if caller.has(REGISTRY_ADMINISTRATOR):
        return None
    return sorted({g.section for g in caller.grants if g.role == SECTION_ADMINISTRATOR and g.section})


@router.post(
    "/compliance/checks",
    dependencies=[ADMINISTRATORS],
    tags=["compliance"],
    summary="Check current holdings against the compliance rules now (A6R-19); violations are stored and published",
    description="Each check is recorded with the violations it found, each published as"
    " rules.ComplianceViolation." + IDEMPOTENCY,
    responses=KEY_REUSED,
)
async def check(
    request: Request, caller: Caller, body: ComplianceCheckIn, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    sections = _sections(caller)
    if sections is not None and (body.section is None or body.section not in sections or body.account is not None):
        raise RegistryError(403, "not_authorized", "Section administrators check their own section: give 'section'.")
    return await change_once(
        request,
        caller,
        idempotency_key,
        body,
        lambda service, conn: compliance.run_check(
            service, conn, section=body.section, account=body.account, requested_by=caller.subject
        ),
        status=200,
    )


@router.get(
    "/compliance/violations",
    dependencies=[ADMINISTRATORS],
    tags=["compliance"],
    summary="Stored compliance violations, newest first",
    description="Newest first by detection, ties in id order (descending). A page has `items` and `next`: pass"
    " `next` as `after` for the following page, until `next` is null. A cursor no page gave is refused"
    " (422 `bad_cursor`). Section administrators see the violations of accounts of their own sections.",
)
async def violations(
    request: Request,
    caller: Caller,
    account: str | None = None,
    limit: Limit = 100,
    after: Annotated[str | None, Query(description="Cursor: the `next` of the previous page")] = None,
) -> dict[str, Any]:
    sections = _sections(caller)

    async def work(service: RulesService, conn: Any) -> dict[str, Any]:
        start = None if after is None else paging.position(after)
        # One more than the page: a next page only when there is one.
        found = await compliance.violations(conn, account=account, sections=sections, after=start, limit=limit + 1)
        return page(found, limit, lambda v: paging.cursor(v["detected_at"], v["id"]))

    return await read(request, work)
