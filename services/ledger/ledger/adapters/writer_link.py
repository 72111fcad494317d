"""The link between the ledger's HTTP front processes and its single writer (docs/ledger-performance.md).

A front process parses, authenticates and validates requests; the writer's process only decides
and records. They talk over a Unix socket in frames: a 4-byte big-endian length, then one JSON
object. Every request carries a number `n` that its answer repeats, so many requests share one
connection and their answers come back in whatever order the writer finishes them.

Requests: `hello` (answered once the writer is ready), `submit` (a proposal; the outcome or an
idempotency conflict), `wait_decision` and `preview`. This module holds the wire format of what
crosses the link and the client the fronts use; `ledger.entrypoints.link_server` is the other end.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import struct
import uuid
from datetime import datetime
from typing import Any

import orjson

from ledger.domain.errors import DomainError
from ledger.service_layer import saga
from ledger.service_layer.commands import Selection
from ledger.service_layer.context import Proposal
from ledger.service_layer.writer import IdempotencyConflict, Outcome
from registry_platform.auth import Grant, Principal

log = logging.getLogger(__name__)

_LENGTH = struct.Struct(">I")
# A proposal is a few kilobytes; anything this large is not one of ours.
MAX_FRAME = 16 * 1024 * 1024


class LinkLost(Exception):
    """The writer's process did not answer: the outcome of a submitted proposal is unknown."""


class LinkRefused(Exception):
    """The writer failed on a request with an error it does not explain over the link."""


# -- frames ----------------------------------------------------------------------------------------


def frame(message: dict[str, Any]) -> bytes:
    body = orjson.dumps(message)
    return _LENGTH.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any]:
    """The next message; `asyncio.IncompleteReadError` at the end of the stream."""
    (size,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    if size > MAX_FRAME:
        raise ValueError(f"a frame of {size} bytes is over the link's limit of {MAX_FRAME}")
    message = orjson.loads(await reader.readexactly(size))
    if not isinstance(message, dict):
        raise ValueError("a link message must be a JSON object")
    return message


# -- what crosses the link -------------------------------------------------------------------------


def principal_to_wire(p: Principal) -> dict[str, Any]:
    return {
        "subject": p.subject,
        "grants": [g.claim() for g in p.grants],
        "actor": p.actor,
        "amr": list(p.amr),
        "session": p.session,
        "auth_time": p.auth_time,
    }


def principal_from_wire(d: dict[str, Any]) -> Principal:
    return Principal(
        subject=d["subject"],
        grants=tuple(Grant(**g) for g in d["grants"]),
        actor=d["actor"],
        amr=tuple(d["amr"]),
        session=d["session"],
        auth_time=d["auth_time"],
    )


def proposal_to_wire(p: Proposal) -> dict[str, Any]:
    return {
        "transaction_id": str(p.transaction_id),
        "command": p.command.model_dump(mode="json"),
        "principal": principal_to_wire(p.principal),
        "proposed_at": p.proposed_at.isoformat(),
        "verdict": p.verdict,
        "request_digest": p.request_digest.hex() if p.request_digest is not None else None,
        "ruleset": p.ruleset,
    }


def proposal_from_wire(d: dict[str, Any]) -> Proposal:
    digest = d["request_digest"]
    return Proposal(
        transaction_id=uuid.UUID(d["transaction_id"]),
        command=saga.COMMAND.validate_python(d["command"]),
        principal=principal_from_wire(d["principal"]),
        proposed_at=datetime.fromisoformat(d["proposed_at"]),
        verdict=d["verdict"],
        request_digest=bytes.fromhex(digest) if digest is not None else None,
        ruleset=d["ruleset"],
    )


def outcome_to_wire(o: Outcome) -> dict[str, Any]:
    return {
        "transaction_id": str(o.transaction_id),
        "outcome": o.outcome,
        "result": o.result,
        "journal_sequence": o.journal_sequence,
        "recorded_at": o.recorded_at.isoformat(),
        "replayed": o.replayed,
    }


def outcome_from_wire(d: dict[str, Any]) -> Outcome:
    return Outcome(
        transaction_id=uuid.UUID(d["transaction_id"]),
        outcome=d["outcome"],
        result=d["result"],
        journal_sequence=d["journal_sequence"],
        recorded_at=datetime.fromisoformat(d["recorded_at"]),
        replayed=d["replayed"],
    )


def error_to_wire(exc: Exception) -> dict[str, Any]:
    """The refusals the API answers with a 4xx; anything else stays in the writer's log."""
    if isinstance(exc, IdempotencyConflict):
        return {"kind": "idempotency_conflict", "message": str(exc)}
    if isinstance(exc, DomainError):
        return {"kind": "domain", "code": exc.code, "message": exc.message}
    return {"kind": "internal", "message": type(exc).__name__}


def error_from_wire(d: dict[str, Any]) -> Exception:
    if d["kind"] == "idempotency_conflict":
        return IdempotencyConflict(d["message"])
    if d["kind"] == "domain":
        return DomainError(d["message"], code=d["code"])
    return LinkRefused(f"the writer failed on the request ({d['message']}); see the ledger's log")


# -- the fronts' end -------------------------------------------------------------------------------


class WriterLink:
    """What a front process holds instead of a writer: the same calls, answered over the socket.

    `ready` is set while the link is up and the writer behind it is ready. When the link drops,
    every request in flight fails with `LinkLost` (the client repeats it under the same
    transaction id, which is idempotent) and the link connects again."""

    def __init__(self, path: str, *, retry_seconds: float = 0.2) -> None:
        self._path = path
        self._retry = retry_seconds
        self.ready = asyncio.Event()
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._numbers = itertools.count(1)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                reader, writer = await asyncio.open_unix_connection(self._path)
            except OSError:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._retry)
                continue
            self._writer = writer
            answers = asyncio.create_task(self._read_answers(reader))
            stopping = asyncio.create_task(stop.wait())
            # The writer answers hello once it is ready (after loading its state).
            hello = asyncio.create_task(self._call({"op": "hello"}))
            try:
                await asyncio.wait({hello, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if hello.done() and hello.exception() is None:
                    self.ready.set()
                    await asyncio.wait({answers, stopping}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (hello, stopping, answers):
                    task.cancel()
                await asyncio.gather(hello, stopping, answers, return_exceptions=True)
                self.ready.clear()
                self._writer = None
                self._fail_pending()
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
            if not stop.is_set():
                log.warning("the link to the ledger writer at %s dropped; connecting again", self._path)

    async def _read_answers(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                message = await read_frame(reader)
                future = self._pending.pop(message["n"], None)
                if future is not None and not future.done():
                    future.set_result(message)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            # From here on no answer can come: nothing may wait for one.
            self.ready.clear()
            self._writer = None
            self._fail_pending()

    def _fail_pending(self) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(LinkLost("the link to the ledger writer dropped"))

    async def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        if self._writer is None:
            raise LinkLost("the link to the ledger writer is down")
        n = next(self._numbers)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[n] = future
        self._writer.write(frame({**request, "n": n}))
        answer = await future
        if "error" in answer:
            raise error_from_wire(answer["error"])
        return answer

    async def submit(self, proposal: Proposal) -> Outcome:
        answer = await self._call({"op": "submit", "proposal": proposal_to_wire(proposal)})
        return outcome_from_wire(answer["outcome"])

    async def wait_decision(self, tx: uuid.UUID, timeout: float) -> Outcome | None:
        answer = await self._call({"op": "wait_decision", "transaction_id": str(tx), "timeout": timeout})
        return outcome_from_wire(answer["outcome"]) if answer["outcome"] is not None else None

    async def preview(self, source: str, selection: Selection) -> list[tuple[int, int, int]]:
        answer = await self._call({"op": "preview", "source": source, "selection": selection.model_dump(mode="json")})
        return [(b, f, last) for b, f, last in answer["pieces"]]
