"""Metrics through the OpenTelemetry API, exposed in Prometheus format on /metrics.

Instruments are created on the global meter; `telemetry.configure_metrics` installs the provider
whose Prometheus reader serves them (names gain their unit and `_total` the Prometheus way, e.g.
`registry_http_request_seconds`, `registry_outbox_published_total`).
"""

from __future__ import annotations

from opentelemetry import metrics

_meter = metrics.get_meter("registry")

OUTBOX_PUBLISHED = _meter.create_counter("registry_outbox_published", description="Outbox rows published")
INBOX_PROCESSED = _meter.create_counter("registry_inbox_processed", description="Events processed by a consumer")
DEAD_LETTERED = _meter.create_counter("registry_dead_lettered", description="Events parked in a dead-letter topic")
HTTP_REQUESTS = _meter.create_histogram(
    "registry_http_request",
    unit="s",
    description="HTTP request duration",
    # Seconds, from a millisecond to ten seconds (A6R-36 budgets one second of registry overhead).
    explicit_bucket_boundaries_advisory=[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
)
