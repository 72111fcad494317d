"""Every service keeps a view of its peers from their ServiceStarted/ServiceHeartbeat events.

This is the event path every service has from its first start: out through its outbox, in through
every other service's inbox. Reporting serves the view to operators.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from registry_contracts.envelope import EventEnvelope

PEERS_DDL = (
    """
    CREATE TABLE service_peers (
        service text NOT NULL,
        instance_id text NOT NULL,
        version text,
        started_at timestamptz,
        last_seen_at timestamptz NOT NULL,
        events_seen bigint NOT NULL DEFAULT 1,
        PRIMARY KEY (service, instance_id)
    )
    """,
)


async def record_peer(conn: AsyncConnection, envelope: EventEnvelope) -> None:
    p = envelope.payload
    await conn.execute(
        text(
            "INSERT INTO service_peers (service, instance_id, version, started_at, last_seen_at) "
            "VALUES (:service, :instance, :version, :started, :seen) "
            "ON CONFLICT (service, instance_id) DO UPDATE SET "
            "last_seen_at = GREATEST(service_peers.last_seen_at, EXCLUDED.last_seen_at), "
            "version = COALESCE(EXCLUDED.version, service_peers.version), "
            "started_at = COALESCE(EXCLUDED.started_at, service_peers.started_at), "
            "events_seen = service_peers.events_seen + 1"
        ),
        {
            "service": p["service"],
            "instance": p["instance_id"],
            "version": p.get("version"),
            "started": p.get("started_at"),
            "seen": envelope.occurred_at,
        },
    )


PEER_HANDLERS = {"platform.ServiceStarted": record_peer, "platform.ServiceHeartbeat": record_peer}


def platform_ddl() -> list[str]:
    """The tables every service's first migration creates in its own schema."""
    from registry_platform.inbox import INBOX_DDL
    from registry_platform.outbox import OUTBOX_DDL

    return [*OUTBOX_DDL, *INBOX_DDL, *PEERS_DDL]
