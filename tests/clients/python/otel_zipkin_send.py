"""Sends one trace with the OpenTelemetry Python SDK through
opentelemetry-exporter-zipkin-json (Zipkin v2 JSON) and prints its trace ID
(32 hex digits) on stdout.

Used by crates/spoor/tests/e2e_zipkin_clients.rs. Runs in the venv of
requirements-otel-zipkin.txt.

Environment:
  TARGET        the spans URL, e.g. http://127.0.0.1:9411/api/v2/spans
  SERVICE_NAME  service.name of the resource
"""

import os

from opentelemetry.exporter.zipkin.json import ZipkinExporter

from otel_common import fail, send_trace

SCRIPT = "otel_zipkin_send.py"


def main():
    service = os.environ.get("SERVICE_NAME") or fail(SCRIPT, "SERVICE_NAME is not set")
    target = os.environ.get("TARGET") or fail(SCRIPT, "TARGET is not set")
    print(send_trace(SCRIPT, service, ZipkinExporter(endpoint=target)), flush=True)


if __name__ == "__main__":
    main()
