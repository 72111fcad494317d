"""The paths the web composes with values from the browser cannot be bent into another request."""

from __future__ import annotations

import httpx
import pytest

from web.adapters.backends import Backends, ServiceError, checked_path
from web.domain.formatting import day_window, is_day
from web.domain.forms import is_uuid


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/GHA-1?limit=1",
        "/accounts/GHA-1#top",
        "/users/../grants",
        "/users/./x",
        "/accounts/..",
        "/accounts/a\\..",
        "/accounts/a%2F..",
        "/accounts/a b",
        "/accounts/a\nb",
    ],
)
def test_a_bent_path_is_refused_as_not_found(path: str) -> None:
    with pytest.raises(ServiceError) as refused:
        checked_path("ledger", path)
    assert (refused.value.status, refused.value.code) == (404, "not_found")


def test_an_ordinary_path_passes() -> None:
    path = "/users/0b3db0e8-bcfb-448a-bd32-78ed2459b0fa/grants"
    assert checked_path("identity", path) == path
    assert checked_path("ledger", "/accounts/GHA-1/blocks") == "/accounts/GHA-1/blocks"


def test_a6r30_a_report_day_is_year_month_day() -> None:
    assert is_day("2026-11-27")
    for text in ("2026-13-01", "2026-02-30", "20261127", "2026-11-27T00:00", "\U0001f4a9", ""):
        assert not is_day(text), text


def test_a6r30_a_report_day_is_asked_of_the_ledger_as_a_window_of_utc_instants() -> None:
    assert day_window("2026-02-28") == {
        "recorded_from": "2026-02-28T00:00:00Z",
        "recorded_before": "2026-03-01T00:00:00Z",
    }
    assert day_window("9999-12-31") == {"recorded_from": "9999-12-31T00:00:00Z"}, "no day after the last one"


def test_an_id_field_must_be_a_uuid() -> None:
    assert is_uuid("0b3db0e8-bcfb-448a-bd32-78ed2459b0fa")
    assert not is_uuid("")
    assert not is_uuid("../x")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "\ud800"])
async def test_a_request_json_cannot_carry_is_refused_before_it_is_sent(value: object) -> None:
    """Before, httpx's encoding raised ValueError or UnicodeEncodeError: a 500 on the page."""
    sent: list[httpx.Request] = []
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(204)))
    backends = Backends({"identity": "http://identity"}, client)
    for send in (backends.call, backends.call_with_status):
        with pytest.raises(ServiceError) as refused:
            await send("identity", "POST", "/external-systems", token="t", json={"public_jwk": {"x": value}})
        assert (refused.value.status, refused.value.code) == (400, "unsendable_request")
    await client.aclose()
    assert sent == []


async def test_a_request_body_is_sent_as_json() -> None:
    sent: list[httpx.Request] = []
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(201)))
    backends = Backends({"identity": "http://identity"}, client)
    assert await backends.call_with_status("identity", "POST", "/x", json={"name": "Société"}) == (201, None)
    assert await backends.call("identity", "GET", "/y", token="t") is None
    await client.aclose()
    post, get = sent
    assert post.headers["content-type"] == "application/json"
    assert post.content == '{"name":"Société"}'.encode()
    assert get.content == b"" and "content-type" not in get.headers
    assert get.headers["authorization"] == "Bearer t"


async def test_a_connection_idle_as_long_as_the_servers_keep_alive_is_not_reused() -> None:
    """A server like uvicorn closes a connection idle for 5 s; one that gets a request just as it
    closes answers nothing (here: every request on a connection idle for 1.5 s or more). The web's
    client drops idle connections first, so its next request goes on a new connection and is
    answered: the crawl of every page once got a 503 "service did not answer" this way."""
    import asyncio

    import uvicorn

    from web.adapters.backends import IDLE_CONNECTION_SECONDS, backend_client

    # The services run under uvicorn with its default keep-alive (make up, compose, the tests).
    assert IDLE_CONNECTION_SECONDS < uvicorn.Config(app="x:y").timeout_keep_alive - 2

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while await reader.readuntil(b"\r\n\r\n"):
            if loop.time() - last >= 1.5:
                break  # closed as the request arrives: no answer
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()
            last = loop.time()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    try:
        async with backend_client(5.0) as client:
            assert (await client.get(url)).text == "ok"
            await asyncio.sleep(IDLE_CONNECTION_SECONDS + 0.2)
            assert (await client.get(url)).text == "ok"
        async with httpx.AsyncClient(timeout=5.0) as default:
            assert (await default.get(url)).text == "ok"
            await asyncio.sleep(IDLE_CONNECTION_SECONDS + 0.2)
            with pytest.raises(httpx.RemoteProtocolError):
                await default.get(url)
    finally:
        server.close()
        await server.wait_closed()
