"""Sends one trace with the Python `jaeger-client` (OpenTracing) over UDP,
Thrift compact `Agent.emitBatch`, and prints its trace ID on stdout.

Used by crates/spoor/tests/e2e_jaeger_clients.rs and e2e_agent.rs.
Runs in the venv of requirements-jaeger-client.txt.

Environment:
  AGENT_HOST      host of the UDP receiver (default 127.0.0.1)
  AGENT_PORT      port of the Thrift compact UDP receiver (6831)
  SERVICE_NAME    service name of the tracer
  TRACE_ID_128    "1" for 128-bit trace IDs (default: 64-bit)

The trace: a server root span with typed tags, a client child span with a
log, and a grandchild span tagged error=true. Exits 0 once the reporter
flushed every span without an error.
"""

import os
import sys
import time

from jaeger_client import Config
from jaeger_client.metrics import MetricsFactory


class CountingMetrics(MetricsFactory):
    """Counts the client's own counters (e.g. jaeger:reporter_spans)."""

    def __init__(self):
        super().__init__()
        self.counts = {}

    def create_counter(self, name, tags=None):
        key = name + "".join(f",{k}={v}" for k, v in sorted((tags or {}).items()))

        def increment(value):
            self.counts[key] = self.counts.get(key, 0) + value

        return increment


def fail(message):
    sys.stderr.write(f"jaeger_client_send.py: {message}\n")
    sys.exit(1)


def wait_done(future, what, timeout=20.0):
    """Waits for a Tornado future resolved on the tracer's own I/O thread."""
    deadline = time.monotonic() + timeout
    while not future.done():
        if time.monotonic() > deadline:
            fail(f"{what} did not finish within {timeout} s")
        time.sleep(0.02)
    if future.exception() is not None:
        fail(f"{what} failed: {future.exception()!r}")


def main():
    service = os.environ.get("SERVICE_NAME") or fail("SERVICE_NAME is not set")
    host = os.environ.get("AGENT_HOST", "127.0.0.1")
    port = int(os.environ.get("AGENT_PORT", "6831"))
    wide = os.environ.get("TRACE_ID_128") == "1"

    metrics = CountingMetrics()
    config = Config(
        config={
            "sampler": {"type": "const", "param": 1},
            "local_agent": {"reporting_host": host, "reporting_port": port},
            "generate_128bit_trace_id": wide,
            "reporter_flush_interval": 0.1,
            "tags": {"e2e.suite": "spoor"},
        },
        service_name=service,
        validate=True,
        metrics_factory=metrics,
    )
    tracer = config.new_tracer()

    with tracer.start_span("GET /checkout") as root:
        root.set_tag("span.kind", "server")
        root.set_tag("http.method", "GET")
        root.set_tag("http.status_code", 200)
        root.set_tag("e2e.ratio", 0.25)
        root.set_tag("e2e.cached", False)
        with tracer.start_span("charge-card", child_of=root) as child:
            child.set_tag("span.kind", "client")
            child.set_tag("peer.service", "payments")
            child.log_kv({"event": "card.validated", "card.brand": "visa", "card.attempt": 1})
            with tracer.start_span("db.query", child_of=child) as grandchild:
                grandchild.set_tag("db.type", "sql")
                grandchild.set_tag("error", True)
                grandchild.log_kv({"event": "error", "message": "connection reset"})

    trace_id = root.context.trace_id
    wait_done(tracer.close(), "flushing the tracer")

    sent = metrics.counts.get("jaeger:reporter_spans,result=ok", 0)
    problems = {k: v for k, v in metrics.counts.items() if "reporter_spans" in k and "result=ok" not in k}
    if sent != 3 or any(problems.values()):
        fail(f"the reporter did not send the 3 spans cleanly: {metrics.counts}")

    print(format(trace_id, "032x" if wide else "016x"), flush=True)


if __name__ == "__main__":
    main()
