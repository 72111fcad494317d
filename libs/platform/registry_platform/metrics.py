"""Prometheus metrics shared by every service, exposed on /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

OUTBOX_PUBLISHED = Counter("registry_outbox_published_total", "Outbox rows published to the broker", ["schema"])
INBOX_PROCESSED = Counter("registry_inbox_processed_total", "Events processed by a consumer", ["consumer", "outcome"])
DEAD_LETTERED = Counter("registry_dead_lettered_total", "Events parked in a dead-letter topic", ["consumer"])
HTTP_REQUESTS = Histogram(
    "registry_http_request_seconds", "HTTP request duration", ["service", "method", "route", "status"]
)
