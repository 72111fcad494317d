"""What the rules service's routers share: the service, transactions, and refusals as 4xx answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Query, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from registry_platform.errors import RegistryError
from rules.domain.validation import RuleRefused
from rules.service_layer.service import RulesService

T = TypeVar("T")
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size")]


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


async def read(request: Request, work: Callable[[RulesService, AsyncConnection], Awaitable[T]]) -> T:
    service = service_of(request)
    try:
        async with service.engine.connect() as conn:
            return await work(service, conn)
    except RuleRefused as exc:
        raise refusal(exc) from exc


def page(items: list[Any], limit: int, key: str) -> dict[str, Any]:
    """A page of `limit` items from up to `limit + 1` read; `next` only when more remain."""
    shown = items[:limit]
    return {"items": shown, "next": str(shown[-1][key]) if len(items) > limit else None}
