"""The bindings API: which rules apply to which approach, section or account, and their suspension."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from registry_platform.auth import REGISTRY_ADMINISTRATOR, SECTION_ADMINISTRATOR
from registry_platform.authz import Caller, require
from rules.adapters.repository import Repository
from rules.entrypoints.common import IDEMPOTENCY, KEY_REUSED, IdempotencyKey, change, change_once, read
from rules.service_layer import configuration
from rules.service_layer.commands import BindingIn, ReasonIn
from rules.service_layer.service import RulesService

router = APIRouter(tags=["bindings"])
# Parsed, so that the id is stored and compared in its one canonical (lower-case) text.
BindingId = Annotated[uuid.UUID, Path(description="The binding's id")]
ADMIN_STEP_UP = require(REGISTRY_ADMINISTRATOR, step_up=True)
BINDERS = require(REGISTRY_ADMINISTRATOR, SECTION_ADMINISTRATOR, step_up=True)


@router.get(
    "/bindings",
    dependencies=[require(REGISTRY_ADMINISTRATOR, SECTION_ADMINISTRATOR)],
    summary="Bindings, with their removal and suspension state",
)
async def list_bindings(
    request: Request,
    caller: Caller,
    rule: str | None = None,
    target_type: str | None = None,
    target: str | None = None,
) -> list[dict[str, Any]]:
    async def work(service: RulesService, conn: Any) -> list[dict[str, Any]]:
        repo = Repository(conn)
        found = [
            b
            for b in await repo.bindings(rule=rule, target_type=target_type, target=target)
            if configuration.may_read_binding(caller, b["target_type"], b["target"])
        ]
        suspended_rules, suspended_bindings = await repo.suspended()
        return [
            {**b, "suspended": b["id"] in suspended_bindings, "rule_suspended": b["rule"] in suspended_rules}
            for b in found
        ]

    return await read(request, work)


@router.post(
    "/bindings",
    status_code=201,
    dependencies=[BINDERS],
    summary="Bind a rule to the registry, an approach, a section or an account",
    description="The binding gets a new id; its parameters must fit every version of the rule not yet retired"
    " (A6R-38)." + IDEMPOTENCY,
    responses=KEY_REUSED,
)
async def add_binding(
    request: Request, caller: Caller, spec: BindingIn, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    return await change_once(
        request,
        caller,
        idempotency_key,
        spec,
        lambda service, conn: configuration.add_binding(service, conn, spec=spec, caller=caller),
        status=201,
    )


@router.post("/bindings/{binding_id}/removal", dependencies=[BINDERS], summary="Remove a binding")
async def remove_binding(request: Request, caller: Caller, binding_id: BindingId, body: ReasonIn) -> dict[str, Any]:
    return await change(
        request,
        lambda service, conn: configuration.remove_binding(
            service, conn, binding_id=str(binding_id), reason=body.reason, caller=caller
        ),
    )


@router.post("/bindings/{binding_id}/suspension", dependencies=[ADMIN_STEP_UP], summary="Suspend a binding (A6R-17)")
async def suspend_binding(request: Request, caller: Caller, binding_id: BindingId, body: ReasonIn) -> dict[str, Any]:
    return await change(
        request,
        lambda service, conn: configuration.set_suspension(
            service,
            conn,
            target_type="binding",
            target=str(binding_id),
            suspended=True,
            reason=body.reason,
            caller=caller,
        ),
    )


@router.post("/bindings/{binding_id}/reactivation", dependencies=[ADMIN_STEP_UP], summary="Reactivate a binding")
async def reactivate_binding(request: Request, caller: Caller, binding_id: BindingId, body: ReasonIn) -> dict[str, Any]:
    return await change(
        request,
        lambda service, conn: configuration.set_suspension(
            service,
            conn,
            target_type="binding",
            target=str(binding_id),
            suspended=False,
            reason=body.reason,
            caller=caller,
        ),
    )
