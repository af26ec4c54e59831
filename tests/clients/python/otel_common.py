"""Helpers shared by the OpenTelemetry Python senders (otel_jaeger_send.py,
otel_zipkin_send.py): the trace they all send, a wrapper that records each
export result, and a log handler that turns exporter warnings into failures
(some exporters log an HTTP error and still report success)."""

import logging
import sys

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

# The span the child links to (an unrelated trace), as Jaeger FOLLOWS_FROM.
LINKED_TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
LINKED_SPAN_ID = 0xB7AD6B7169203331


class RecordingExporter(SpanExporter):
    """Forwards to `inner` and remembers every export result."""

    def __init__(self, inner):
        self.inner = inner
        self.results = []

    def export(self, spans):
        result = self.inner.export(spans)
        self.results.append(result)
        return result

    def shutdown(self):
        return self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return self.inner.force_flush(timeout_millis)


class Problems(logging.Handler):
    """Collects WARNING and worse log records of the SDK and exporters."""

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(f"{record.name}: {record.getMessage()}")


def fail(script, message):
    sys.stderr.write(f"{script}: {message}\n")
    sys.exit(1)


def send_trace(script, service, exporter):
    """Sends the test trace through `exporter`; returns its 32-hex trace ID.

    The trace: a server root span with typed attributes, a client child with
    an event and a link, and an internal grandchild with status ERROR."""
    problems = Problems()
    logging.getLogger().addHandler(problems)

    recording = RecordingExporter(exporter)
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "deployment.environment.name": "e2e"})
    )
    provider.add_span_processor(BatchSpanProcessor(recording))
    tracer = provider.get_tracer("spoor-e2e-python", "1.0.0")

    with tracer.start_as_current_span(
        "GET /checkout",
        kind=SpanKind.SERVER,
        attributes={
            "http.request.method": "GET",
            "http.response.status_code": 200,
            "e2e.ratio": 0.25,
            "e2e.cached": False,
        },
    ) as root:
        linked = SpanContext(
            LINKED_TRACE_ID, LINKED_SPAN_ID, is_remote=True, trace_flags=TraceFlags(1)
        )
        with tracer.start_as_current_span(
            "charge-card", kind=SpanKind.CLIENT, links=[Link(linked, {"e2e.link": "batch"})]
        ) as child:
            child.add_event("card.validated", {"card.brand": "visa", "card.attempt": 1})
            with tracer.start_as_current_span("db.query", kind=SpanKind.INTERNAL) as grandchild:
                grandchild.set_attribute("db.system.name", "postgresql")
                grandchild.set_status(Status(StatusCode.ERROR, "connection reset"))

    trace_id = root.get_span_context().trace_id
    if not provider.force_flush(20_000):
        fail(script, "force_flush timed out")
    provider.shutdown()

    if not recording.results:
        fail(script, "nothing was exported")
    bad = [r for r in recording.results if r is not SpanExportResult.SUCCESS]
    if bad or problems.messages:
        fail(script, f"export failed: results {recording.results}, log {problems.messages}")
    return format(trace_id, "032x")
