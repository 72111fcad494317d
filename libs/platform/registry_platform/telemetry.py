"""JSON logs, OpenTelemetry tracing and metrics; trace context travels in Kafka headers and envelopes."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from opentelemetry import metrics, trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.propagate import inject
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

# Keys whose values never reach a log line, whatever a caller passes in `extra`.
_SECRET_KEYS = {"password", "token", "secret", "authorization", "otp", "code", "private_key"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
            entry["span_id"] = format(span.span_id, "016x")
        for key, value in getattr(record, "fields", {}).items():
            entry[key] = "[redacted]" if key.lower() in _SECRET_KEYS else value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


_provider: TracerProvider | None = None


def configure_tracing(service: str, otlp_endpoint: str = "", extra: SpanProcessor | None = None) -> TracerProvider:
    """Install the global tracer provider once; later calls only add span processors."""
    global _provider
    if _provider is None:
        _provider = TracerProvider(resource=Resource.create({"service.name": service}))
        if otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
        trace.set_tracer_provider(_provider)
    if extra is not None:
        _provider.add_span_processor(extra)
    return _provider


_meter_provider: MeterProvider | None = None


def configure_metrics(service: str) -> None:
    """Install the global meter provider once, read by the Prometheus exporter behind /metrics."""
    global _meter_provider
    if _meter_provider is None:
        _meter_provider = MeterProvider(
            resource=Resource.create({"service.name": service}), metric_readers=[PrometheusMetricReader()]
        )
        metrics.set_meter_provider(_meter_provider)


def current_trace_headers() -> dict[str, str]:
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier
