"""Tracing (W3C trace context in every envelope, ARCHITECTURE.md §2): spans are recorded only
while something exports them, and trace context travels either way, so log lines and Kafka headers
can always be followed across services."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from registry_platform.telemetry import RecordWhenExported

PARENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
INCOMING = {"traceparent": f"00-{PARENT_TRACE}-00f067aa0ba902b7-01", "tracestate": "registry=1"}


def test_spans_are_recorded_only_while_exported_and_always_carry_the_trace() -> None:
    exporting = False
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=RecordWhenExported(lambda: exporting))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer(__name__)

    def handle(name: str) -> dict[str, str]:
        with tracer.start_as_current_span(name, context=extract(INCOMING), kind=trace.SpanKind.SERVER) as span:
            context = span.get_span_context()
            assert context.is_valid and format(context.trace_id, "032x") == PARENT_TRACE
            assert context.trace_state.get("registry") == "1"
            outgoing: dict[str, str] = {}
            inject(outgoing)
            assert span.is_recording() == exporting
            return outgoing

    outgoing = handle("unexported")
    assert exporter.get_finished_spans() == ()
    # The next service continues the same trace; the span is not marked sampled.
    assert outgoing["traceparent"].startswith(f"00-{PARENT_TRACE}-") and outgoing["traceparent"].endswith("-00")
    exporting = True
    outgoing = handle("exported")
    (span,) = exporter.get_finished_spans()
    assert span.name == "exported" and format(span.context.trace_id, "032x") == PARENT_TRACE
    assert outgoing["traceparent"].endswith("-01")
