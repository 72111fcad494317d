"""The writer's end of the link to the HTTP front processes (`ledger.adapters.writer_link`).

Each request is answered in a task of its own, so a proposal that waits for its batch does not hold
up the hello or preview behind it. Only processes of the ledger's own OS user reach the socket: it
sits in a directory only that user may enter, and the fronts authenticate every caller before they
forward a proposal (what the writer receives carries the verified principal).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from typing import Any

from ledger.adapters.writer_link import (
    error_to_wire,
    frame,
    outcome_to_wire,
    proposal_from_wire,
    read_frame,
)
from ledger.domain.errors import DomainError
from ledger.service_layer.commands import Selection
from ledger.service_layer.writer import IdempotencyConflict, LedgerWriter

log = logging.getLogger(__name__)


class LinkServer:
    def __init__(self, writer: LedgerWriter, path: str) -> None:
        self._writer = writer
        self._path = path
        self._connections: set[asyncio.StreamWriter] = set()

    async def run(self, stop: asyncio.Event) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path)
        server = await asyncio.start_unix_server(self._serve, path=self._path)
        os.chmod(self._path, 0o600)
        try:
            await stop.wait()
        finally:
            server.close()
            for connection in list(self._connections):
                connection.close()
            await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, out: asyncio.StreamWriter) -> None:
        self._connections.add(out)
        answering: set[asyncio.Task[None]] = set()
        try:
            while True:
                message = await read_frame(reader)
                task = asyncio.create_task(self._answer(message, out))
                answering.add(task)
                task.add_done_callback(answering.discard)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except ValueError as exc:
            log.error("closing a writer link that sent a malformed frame: %s", exc)
        finally:
            self._connections.discard(out)
            out.close()

    async def _answer(self, message: dict[str, Any], out: asyncio.StreamWriter) -> None:
        try:
            answer = await self._handle(message)
        except (IdempotencyConflict, DomainError) as exc:
            answer = {"error": error_to_wire(exc)}
        except Exception as exc:
            log.exception("the writer failed on a %s request from the link", message.get("op"))
            answer = {"error": error_to_wire(exc)}
        if not out.is_closing():
            out.write(frame({**answer, "n": message.get("n")}))

    async def _handle(self, message: dict[str, Any]) -> dict[str, Any]:
        writer = self._writer
        op = message.get("op")
        if op == "hello":
            await writer.ready.wait()
            return {"ready": True}
        if op == "submit":
            return {"outcome": outcome_to_wire(await writer.submit(proposal_from_wire(message["proposal"])))}
        if op == "wait_decision":
            outcome = await writer.wait_decision(uuid.UUID(message["transaction_id"]), float(message["timeout"]))
            return {"outcome": outcome_to_wire(outcome) if outcome is not None else None}
        if op == "preview":
            selection = Selection.model_validate(message["selection"])
            return {"pieces": await writer.preview(message["source"], selection)}
        raise ValueError(f"unknown link request {op!r}")
