"""Sends one trace with the OpenTelemetry Python SDK through its OTLP
exporter and prints its trace ID (32 hex digits) on stdout.

The exporter is built with no argument: everything comes from the standard
variables of the OpenTelemetry specification, as an application configured by
its operator would have it. Used by crates/spoor/tests/e2e_tls_clients.rs
(TLS, mTLS and bearer tokens). Runs in the venv of requirements-otel-otlp.txt.

Environment:
  OTEL_EXPORTER_OTLP_PROTOCOL            grpc or http/protobuf
  OTEL_EXPORTER_OTLP_ENDPOINT            e.g. https://127.0.0.95:4317 (gRPC) or
                                         https://127.0.0.95:4318 (HTTP)
  OTEL_EXPORTER_OTLP_CERTIFICATE         the CA to trust (PEM)
  OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE  mTLS: the client certificate (PEM)
  OTEL_EXPORTER_OTLP_CLIENT_KEY          mTLS: its key (PEM)
  OTEL_EXPORTER_OTLP_HEADERS             e.g. authorization=Bearer%20TOKEN
  SERVICE_NAME                           service.name of the resource

Exits non-zero when an export failed (an error, or a warning the exporter
logged).
"""

import os

from otel_common import fail, send_trace

SCRIPT = "otel_otlp_send.py"


def main():
    service = os.environ.get("SERVICE_NAME") or fail(SCRIPT, "SERVICE_NAME is not set")
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    elif protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    else:
        fail(SCRIPT, f"OTEL_EXPORTER_OTLP_PROTOCOL must be grpc or http/protobuf, got {protocol!r}")
    print(send_trace(SCRIPT, service, OTLPSpanExporter()), flush=True)


if __name__ == "__main__":
    main()
