"""A small HTTP/1.1 client for load: a fixed pool of keep-alive connections (the bench's load
generator, and tests that make long histories).

The load generator shares the machine with what it measures. httpx spends about a millisecond of
CPU per request and more as its pool grows; once a backlog formed, the generator itself ran at
100% of a core and the latencies it reported were its own. This client does only what load
needs (JSON requests, Content-Length or chunked answers) at a small, constant cost per request.
Requests beyond the pool wait for a free connection; open-loop latency still counts that wait.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


class HttpFailure(Exception):
    """The connection broke or the answer was not HTTP/1.1."""


@dataclass(frozen=True)
class Answer:
    status_code: int
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")


class _Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def exchange(self, head: bytes, body: bytes) -> Answer:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise HttpFailure(f"not an HTTP answer: {status_line[:80]!r}")
        headers: dict[bytes, bytes] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            content = await self._chunks()
        else:
            content = await self.reader.readexactly(int(headers.get(b"content-length", b"0")))
        if headers.get(b"connection", b"").lower() == b"close":
            self.close()
        return Answer(int(parts[1]), content)

    async def _chunks(self) -> bytes:
        assert self.reader is not None
        content = bytearray()
        while size := int((await self.reader.readline()).split(b";")[0], 16):
            content += await self.reader.readexactly(size)
            await self.reader.readline()
        await self.reader.readline()
        return bytes(content)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class HttpPool:
    """`size` keep-alive connections to one origin, each carrying one request at a time."""

    def __init__(self, base_url: str, *, size: int, headers: dict[str, str]) -> None:
        url = urlsplit(base_url)
        self._host, self._port = url.hostname or "127.0.0.1", url.port or 80
        self._headers = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._all = [_Connection(self._host, self._port) for _ in range(size)]
        self._idle: asyncio.Queue[_Connection] = asyncio.Queue()
        for connection in self._all:
            self._idle.put_nowait(connection)

    async def request(self, method: str, path: str, payload: Any = None) -> Answer:
        body = b"" if payload is None else json.dumps(payload).encode()
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self._host}:{self._port}\r\n{self._headers}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        connection = await self._idle.get()
        try:
            return await connection.exchange(head, body)
        except (OSError, asyncio.IncompleteReadError, ValueError, HttpFailure) as exc:
            connection.close()
            raise HttpFailure(f"{method} {path}: {exc!r}") from exc
        except BaseException:
            connection.close()  # cancelled mid-exchange: what is left on the wire is unknown
            raise
        finally:
            self._idle.put_nowait(connection)

    def close(self) -> None:
        for connection in self._all:
            connection.close()
