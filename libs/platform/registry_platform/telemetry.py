"""JSON logs, OpenTelemetry tracing and metrics; trace context travels in Kafka headers and envelopes."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.propagate import inject
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.util.types import Attributes

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


class RecordWhenExported(Sampler):
    """Spans are recorded only while something receives them (an OTLP exporter, or a processor a
    test adds). Otherwise none is built, at half the cost of one (every request and every event
    has a span), and each still carries its trace context: log lines and Kafka headers keep the
    trace id, so a trace can be followed across services from the logs alone."""

    def __init__(self, exporting: Callable[[], bool]) -> None:
        self._exporting = exporting

    def should_sample(
        self,
        parent_context: Any,
        trace_id: int,
        name: str,
        kind: Any = None,
        attributes: Attributes = None,
        links: Sequence[Any] | None = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        state = parent.trace_state if parent.is_valid else None
        if self._exporting():
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, state)
        return SamplingResult(Decision.DROP, None, state)

    def get_description(self) -> str:
        return "RecordWhenExported"


_provider: TracerProvider | None = None
_exporting = False


def configure_tracing(service: str, otlp_endpoint: str = "", extra: SpanProcessor | None = None) -> TracerProvider:
    """Install the global tracer provider once; later calls only add span processors."""
    global _provider, _exporting
    if _provider is None:
        _provider = TracerProvider(
            resource=Resource.create({"service.name": service}), sampler=RecordWhenExported(lambda: _exporting)
        )
        if otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
            _exporting = True
        trace.set_tracer_provider(_provider)
    if extra is not None:
        _provider.add_span_processor(extra)
        _exporting = True
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
