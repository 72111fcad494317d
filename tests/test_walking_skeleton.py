"""All eight services start on one PostgreSQL and one broker, migrate their own schemas, serve
OpenAPI, /health, /ready and /metrics, and exchange real events through outbox and inbox, traced
end to end (issue: platform foundation)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from registry_platform import db
from registry_platform.roles import url_for_owner, url_for_service
from registry_platform.telemetry import configure_tracing
from registry_platform.testing.services import serve_all

pytestmark = pytest.mark.integration
SERVICES = sorted(p.name for p in (Path(__file__).resolve().parents[1] / "services").iterdir() if p.is_dir())


async def test_all_services_start_exchange_events_and_are_traced(service_settings, database_url, infra):
    exporter = InMemorySpanExporter()
    configure_tracing("tests", extra=SimpleSpanProcessor(exporter))
    assert len(SERVICES) == 8
    async with contextlib.AsyncExitStack() as stack:
        urls = await serve_all(stack, infra, database_url, service_settings)
        async with httpx.AsyncClient(timeout=5) as client:
            for name, url in urls.items():
                assert (await client.get(f"{url}/health")).json()["status"] == "ok"
                ready = await client.get(f"{url}/ready")
                assert ready.status_code == 200, (name, ready.text)
                spec = (await client.get(f"{url}/openapi.json")).json()
                assert spec["info"]["title"] == f"registry {name}"
                assert "registry_http_request_seconds" in (await client.get(f"{url}/metrics")).text

            seen: set[str] = set()
            for _ in range(200):
                instances = (await client.get(f"{urls['reporting']}/services")).json()
                seen = {i["service"] for i in instances}
                if seen == set(SERVICES):
                    break
                await asyncio.sleep(0.1)
            assert seen == set(SERVICES), "reporting collected every service's ServiceStarted event"

            page = await client.get(f"{urls['web']}/")
            assert page.status_code == 200
            for name in SERVICES:
                assert f"<td>{name}</td>" in page.text

    # Every service migrated its own schema, with its own version table.
    engine = db.create_engine(database_url, "public")
    async with engine.connect() as conn:
        schemas = set(
            (
                await conn.execute(
                    text("SELECT table_schema FROM information_schema.tables WHERE table_name = 'alembic_version'")
                )
            ).scalars()
        )
    await engine.dispose()
    assert schemas == {s.replace("-", "_") for s in SERVICES}

    # PostgreSQL itself keeps each service out of the others' schemas.
    crm = db.create_engine(url_for_service(database_url, "crm"), "crm")
    try:
        async with crm.connect() as conn:
            with pytest.raises(DBAPIError, match="permission denied"):
                await conn.execute(text("SELECT count(*) FROM ledger.outbox"))
    finally:
        await crm.dispose()

    # A running service cannot alter its own tables: the ledger's role cannot disable the trigger
    # that keeps its journal insert-only, nor drop the table, nor create one; the schema's owner,
    # which migrated it, can.
    ledger = db.create_engine(url_for_service(database_url, "ledger"), "ledger")
    try:
        for statement in (
            "ALTER TABLE journal DISABLE TRIGGER journal_immutable",
            "DROP TABLE journal_checkpoints",
            "CREATE TABLE journal_copy (n int)",
        ):
            async with ledger.connect() as conn:
                with pytest.raises(DBAPIError, match=r"must be owner|permission denied"):
                    await conn.execute(text(statement))
        async with ledger.begin() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM journal")) is not None, "it reads its rows"
            with pytest.raises(DBAPIError, match="immutable"):
                await conn.execute(text("DELETE FROM journal"))
    finally:
        await ledger.dispose()
    owner = db.create_engine(url_for_owner(database_url, "ledger"), "ledger")
    try:
        async with owner.begin() as conn:
            await conn.execute(text("ALTER TABLE journal DISABLE TRIGGER journal_immutable"))
            await conn.execute(text("ALTER TABLE journal ENABLE TRIGGER journal_immutable"))
    finally:
        await owner.dispose()

    # The ServiceStarted span of a producer and the consume span in reporting share one trace.
    spans = exporter.get_finished_spans()
    produced = {s.context.trace_id for s in spans if s.name == "announce platform.ServiceStarted"}
    consumed = {s.context.trace_id for s in spans if s.name == "consume platform.ServiceStarted"}
    assert produced & consumed, "trace context travelled from the outbox through Kafka to the inbox"
