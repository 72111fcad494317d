"""Refusals as 4xx answers with a machine-readable code and a message a person can act on; a
database that took too long (see `db.Timeouts`) as 503 `database_timeout` with Retry-After."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg.errors import IdleInTransactionSessionTimeout, LockNotAvailable, QueryCanceled
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

# PostgreSQL ended a statement or a session for lasting too long: a statement or a lock wait past its
# limit (QueryCanceled, LockNotAvailable), a transaction idle past its limit (the session ended).
_DATABASE_TIMEOUTS = (QueryCanceled, LockNotAvailable, IdleInTransactionSessionTimeout)
# Whatever held the lock or loaded the database for that long is rarely gone within a second.
DATABASE_TIMEOUT_RETRY_AFTER = 5


class RegistryError(Exception):
    """A refusal the caller can act on. Domain exceptions are translated into this at the edge."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None, **details: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
        self.details = details


def error_body(code: str, message: str, **details: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if details:
        body["error"]["details"] = details
    return body


def database_timeout(exc: BaseException) -> psycopg.Error | None:
    """PostgreSQL's error if `exc` is a statement, lock wait or idle transaction that outlasted its
    limit, as psycopg raises it (pipelines) or SQLAlchemy wraps it; None for anything else."""
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    return cause if isinstance(cause, _DATABASE_TIMEOUTS) else None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RegistryError)
    async def _registry_error(_: Request, exc: RegistryError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message, **exc.details), status_code=exc.status, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg", "")} for e in exc.errors()
        ]
        first = problems[0] if problems else {"field": "", "problem": "invalid"}
        message = f"{first['field']}: {first['problem']}" if first["field"] else first["problem"]
        return JSONResponse(
            error_body("invalid_request", f"The request is not valid: {message}", problems=problems),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {401: "not_authenticated", 403: "not_authorized", 404: "not_found", 405: "method_not_allowed"}
        return JSONResponse(
            error_body(code.get(exc.status_code, "http_error"), str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    async def _database(request: Request, exc: Exception) -> JSONResponse:
        cause = database_timeout(exc)
        if cause is None:
            # Any other database failure is unexpected: the handler of Exception answers it.
            raise exc
        route = getattr(request.scope.get("route"), "path", request.url.path)
        # PostgreSQL's first line says which limit ("canceling statement due to lock timeout").
        first_line = (str(cause) or cause.sqlstate or "").split("\n")[0]
        log.warning("database timeout in %s %s: %s", request.method, route, first_line)
        return JSONResponse(
            error_body(
                "database_timeout",
                "The registry's database took too long to answer (a statement ran, or waited for a lock, past "
                "its limit) and the request was abandoned. Try again in a few seconds.",
            ),
            status_code=503,
            headers={"Retry-After": str(DATABASE_TIMEOUT_RETRY_AFTER)},
        )

    app.add_exception_handler(DBAPIError, _database)
    app.add_exception_handler(psycopg.Error, _database)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return JSONResponse(
            error_body("internal_error", "The registry could not complete the request; nothing was changed."),
            status_code=500,
        )
