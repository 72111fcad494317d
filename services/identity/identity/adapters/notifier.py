"""The port through which identity reaches people (activation links and codes, A6R-4).

`OutboundMessages` writes each message into the `outbound_messages` table in the same transaction
as the change that caused it; a mail/SMS gateway (outside this service) delivers and deletes them.
The bodies are the only place activation secrets exist in clear, and they are never logged.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


class Notifier(Protocol):
    async def send(
        self, conn: AsyncConnection, *, user_id: str, channel: str, address: str, purpose: str, body: str
    ) -> None: ...


class OutboundMessages:
    async def send(
        self, conn: AsyncConnection, *, user_id: str, channel: str, address: str, purpose: str, body: str
    ) -> None:
        await conn.execute(
            text(
                "INSERT INTO outbound_messages (user_id, channel, address, purpose, body) VALUES (:u, :c, :a, :p, :b)"
            ),
            {"u": user_id, "c": channel, "a": address, "p": purpose, "b": body},
        )
