"""The test harness never hangs the suite: an app that does not stop (a request a failed test left
open) is stopped at once after `STOP_SECONDS`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from registry_platform.testing import infra


async def test_an_app_with_a_request_that_never_ends_is_stopped_after_its_grace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(infra, "STOP_SECONDS", 1.0)
    app = FastAPI()

    @app.get("/forever")
    async def forever() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            while True:
                yield b"."
                await asyncio.sleep(0.05)

        return StreamingResponse(chunks())

    async with httpx.AsyncClient(timeout=30) as client:
        served = infra.serve_app(app)
        url = await served.__aenter__()
        response = await client.send(client.build_request("GET", f"{url}/forever"), stream=True)
        assert response.status_code == 200
        started = time.monotonic()
        with pytest.warns(UserWarning, match="did not stop"):
            # Without the grace, uvicorn waits for the response to end: for ever.
            await asyncio.wait_for(served.__aexit__(None, None, None), timeout=30)
        elapsed = time.monotonic() - started
        await response.aclose()
    assert 1.0 <= elapsed < 15
