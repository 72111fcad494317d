"""What the rules service's routers share: the service, transactions, and refusals as 4xx answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from registry_platform.auth import Principal
from registry_platform.errors import RegistryError
from rules.domain.idempotency import KEY_PATTERN, KeyedRequest, request_digest
from rules.domain.validation import RuleRefused
from rules.service_layer import idempotency
from rules.service_layer.service import RulesService

T = TypeVar("T")
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=KEY_PATTERN,
        description="Your own name for this request (e.g. a UUID), so that a retry cannot create a second record",
    ),
]
IDEMPOTENCY = """

**Retries.** Send an `Idempotency-Key` header (printable ASCII, at most 255 characters; a fresh
UUID per request is best) to make a retry safe. The first request with a key creates the record;
a repeat of it with the same key and body, even while the first is still being made, creates
nothing and gets the first answer again (same status and body, with `Idempotent-Replayed: true`);
the key sent with a different request is refused (409 `idempotency_key_reused`). Keys are yours
alone: other callers' keys neither answer nor block your requests. A refused request leaves its
key unused, so its repeat is judged again. Without the header every request creates a record.
A key holds for the service's retention period (7 days unless configured otherwise): sent after
that, it is free again, and a retry that late creates a new record."""
KEY_REUSED = {409: {"description": "`idempotency_key_reused`: the Idempotency-Key named another request"}}


def service_of(request: Request) -> RulesService:
    service = request.app.state.runtime.state.get("rules")
    if service is None:
        raise RegistryError(503, "rules_starting", "The rules service is starting; retry in a moment.")
    assert isinstance(service, RulesService)
    return service


def refusal(exc: RuleRefused) -> RegistryError:
    return RegistryError(exc.status, exc.code, exc.message, **exc.details)


async def change(request: Request, work: Callable[[RulesService, AsyncConnection], Awaitable[T]]) -> T:
    """Run a configuration change in one transaction; publish its events right after the commit."""
    service = service_of(request)
    try:
        async with service.engine.begin() as conn:
            result = await work(service, conn)
    except RuleRefused as exc:
        raise refusal(exc) from exc
    service.wake()
    return result


async def change_once(
    request: Request,
    caller: Principal,
    key: str | None,
    body: BaseModel,
    work: Callable[[RulesService, AsyncConnection], Awaitable[Any]],
    *,
    status: int,
) -> JSONResponse:
    """A creating change, made once per Idempotency-Key of the caller (see IDEMPOTENCY)."""
    if key is None:
        return JSONResponse(await change(request, work), status_code=status)
    keyed = KeyedRequest(
        caller.initiator,
        key,
        request_digest(f"{request.method} {request.url.path}", caller.on_behalf_of, body.model_dump(mode="json")),
    )
    answer = await change(
        request,
        lambda service, conn: idempotency.once(
            conn,
            keyed,
            status=status,
            at=service.clock(),
            retention=service.key_retention,
            work=lambda: work(service, conn),
        ),
    )
    headers = {"Idempotent-Replayed": "true"} if answer.replayed else None
    return JSONResponse(answer.body, status_code=answer.status, headers=headers)


async def read(request: Request, work: Callable[[RulesService, AsyncConnection], Awaitable[T]]) -> T:
    service = service_of(request)
    try:
        async with service.engine.connect() as conn:
            return await work(service, conn)
    except RuleRefused as exc:
        raise refusal(exc) from exc


def page(items: list[Any], limit: int, cursor: Callable[[Any], str]) -> dict[str, Any]:
    """A page of `limit` items from up to `limit + 1` read; `next` (the cursor of the page's last
    item) only when more remain."""
    shown = items[:limit]
    return {"items": shown, "next": cursor(shown[-1]) if len(items) > limit else None}
