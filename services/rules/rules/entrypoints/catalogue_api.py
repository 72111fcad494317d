"""The catalogue API: rules and their versions, retirement, suspension, the journal and rule packs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from registry_platform.auth import REGISTRY_ADMINISTRATOR, SECTION_ADMINISTRATOR
from registry_platform.authz import Caller, require
from registry_platform.errors import RegistryError
from rules.adapters.repository import Repository
from rules.entrypoints.common import (
    IDEMPOTENCY,
    KEY_REUSED,
    IdempotencyKey,
    Limit,
    change,
    change_once,
    page,
    read,
    service_of,
)
from rules.service_layer import configuration, pack, verification, views
from rules.service_layer.commands import PackIn, ReasonIn, RetirementIn, VersionIn
from rules.service_layer.service import RulesService

router = APIRouter(tags=["catalogue"])
RuleName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9-]{1,62}$", examples=["omge-cancellation"])]
READERS = require(REGISTRY_ADMINISTRATOR, SECTION_ADMINISTRATOR)
# Registry administrators audit the rules; system administrators have no business function (A6R-50).
AUDITORS = require(REGISTRY_ADMINISTRATOR)
ADMIN_STEP_UP = require(REGISTRY_ADMINISTRATOR, step_up=True)


async def _rule(service: RulesService, conn: Any, name: str) -> dict[str, Any]:
    repo = Repository(conn)
    versions = await repo.versions(name)
    if not versions:
        raise RegistryError(404, "unknown_rule", f"There is no rule {name}.")
    return views.rule(name, versions, await repo.suspension("rule", name), service.clock())


@router.get("/rules", dependencies=[READERS], summary="The catalogue: every rule with its versions")
async def list_rules(request: Request) -> list[dict[str, Any]]:
    async def work(service: RulesService, conn: Any) -> list[dict[str, Any]]:
        repo = Repository(conn)
        return [
            views.rule(name, versions, await repo.suspension("rule", name), service.clock())
            for name, versions in (await repo.all_versions()).items()
        ]

    return await read(request, work)


@router.get("/rules/{name}", dependencies=[READERS], summary="One rule: versions, version in force, suspension")
async def get_rule(request: Request, name: RuleName) -> dict[str, Any]:
    return await read(request, lambda service, conn: _rule(service, conn, name))


@router.post(
    "/rules/{name}/versions",
    status_code=201,
    dependencies=[ADMIN_STEP_UP],
    summary="Add a version of a rule (the first creates the rule); refused with the position of any CEL problem",
    description="Each version gets the next number; the version in force at an instant is the highest-numbered one"
    " effective then and not retired (A6R-39)." + IDEMPOTENCY,
    responses={422: {"description": "Invalid CEL, unknown field or type error: code, line and column"}, **KEY_REUSED},
)
async def add_version(
    request: Request, caller: Caller, name: RuleName, spec: VersionIn, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    return await change_once(
        request,
        caller,
        idempotency_key,
        spec,
        lambda service, conn: configuration.add_version(service, conn, rule=name, spec=spec, caller=caller),
        status=201,
    )


@router.post(
    "/rules/{name}/versions/{version}/retirement",
    dependencies=[ADMIN_STEP_UP],
    summary="Retire a version at a future instant (A6R-39)",
)
async def retire_version(
    request: Request, caller: Caller, name: RuleName, version: Annotated[int, Path(ge=1)], spec: RetirementIn
) -> dict[str, Any]:
    return await change(
        request,
        lambda service, conn: configuration.retire_version(
            service, conn, rule=name, number=version, spec=spec, caller=caller
        ),
    )


@router.post("/rules/{name}/suspension", dependencies=[ADMIN_STEP_UP], summary="Suspend a rule (A6R-17)")
async def suspend_rule(request: Request, caller: Caller, name: RuleName, body: ReasonIn) -> dict[str, Any]:
    return await change(
        request,
        lambda service, conn: configuration.set_suspension(
            service, conn, target_type="rule", target=name, suspended=True, reason=body.reason, caller=caller
        ),
    )


@router.post("/rules/{name}/reactivation", dependencies=[ADMIN_STEP_UP], summary="Reactivate a suspended rule")
async def reactivate_rule(request: Request, caller: Caller, name: RuleName, body: ReasonIn) -> dict[str, Any]:
    return await change(
        request,
        lambda service, conn: configuration.set_suspension(
            service, conn, target_type="rule", target=name, suspended=False, reason=body.reason, caller=caller
        ),
    )


@router.get("/journal", dependencies=[AUDITORS], tags=["journal"], summary="Configuration changes, oldest first")
async def journal(
    request: Request, limit: Limit = 100, after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0
) -> dict[str, Any]:
    async def work(service: RulesService, conn: Any) -> dict[str, Any]:
        # One more than the page: a next page only when there is one.
        entries = await Repository(conn).journal(after=after, limit=limit + 1)
        return page([views.journal_entry(e) for e in entries], limit, lambda e: str(e["sequence"]))

    return await read(request, work)


@router.get(
    "/journal/verification",
    dependencies=[AUDITORS],
    tags=["journal"],
    summary="Recompute the journal's hash chain and compare the catalogue tables with it (A6R-48)",
    description="`valid` when the chain is sound (else `first_broken_sequence`, `broken_reason`) and the"
    " versions, retirements, bindings, removals and suspensions stored are exactly those the entries make"
    " (else `first_difference`: table, record, field, what the journal says and what is stored), read in"
    " one snapshot.",
)
async def verify_journal(request: Request) -> dict[str, Any]:
    return (await verification.verify_journal(service_of(request).engine)).to_json()


@router.get("/packs", dependencies=[require(REGISTRY_ADMINISTRATOR)], tags=["packs"], summary="Shipped rule packs")
async def list_packs() -> list[dict[str, Any]]:
    found = []
    for name in pack.shipped_packs():
        doc = pack.read_pack(name)
        found.append(
            {
                "pack": doc.pack,
                "version": doc.version,
                "description": doc.description,
                "rules": [r.name for r in doc.rules],
            }
        )
    return found


@router.post(
    "/packs/{name}", dependencies=[ADMIN_STEP_UP], tags=["packs"], summary="Load a shipped rule pack (idempotent)"
)
async def load_shipped_pack(request: Request, caller: Caller, name: RuleName) -> dict[str, Any]:
    if name not in pack.shipped_packs():
        raise RegistryError(404, "unknown_pack", f"No rule pack {name} ships with this service.")
    document = pack.read_pack(name)
    return await change(request, lambda service, conn: pack.load_pack(service, conn, document, caller))


@router.post("/packs", dependencies=[ADMIN_STEP_UP], tags=["packs"], summary="Load a rule pack sent as data")
async def load_pack(request: Request, caller: Caller, document: PackIn) -> dict[str, Any]:
    return await change(request, lambda service, conn: pack.load_pack(service, conn, document, caller))
