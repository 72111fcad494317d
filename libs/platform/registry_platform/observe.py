"""Tracing and request metrics for every HTTP request, as a plain ASGI middleware.

Plain ASGI rather than Starlette's BaseHTTPMiddleware, which runs every request through an extra
task and a response stream: this one only wraps `send` to note the status code.
"""

from __future__ import annotations

import time
from typing import Any

from opentelemetry import trace
from opentelemetry.propagate import extract
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry_platform import metrics

tracer = trace.get_tracer(__name__)


class ObserveRequests:
    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}

        async def noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        method, path = scope["method"], scope["path"]
        with tracer.start_as_current_span(f"{method} {path}", context=extract(carrier), kind=trace.SpanKind.SERVER):
            try:
                await self.app(scope, receive, noting_status)
            finally:
                route: Any = scope.get("route")
                metrics.HTTP_REQUESTS.record(
                    time.perf_counter() - started,
                    {
                        "service": self.service,
                        "method": method,
                        "route": getattr(route, "path", "unmatched"),
                        "status": str(status),
                    },
                )
