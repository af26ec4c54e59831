"""Sends one trace with the OpenTelemetry Python SDK through the (last, 1.21)
Jaeger exporters and prints its trace ID (32 hex digits) on stdout.

Used by crates/spoor/tests/e2e_jaeger_clients.rs. Runs in the venv of
requirements-otel-jaeger.txt. The gRPC exporter needs
PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python with protobuf 4.

Environment:
  PROTOCOL      "udp"  : opentelemetry-exporter-jaeger-thrift, agent mode:
                         Thrift compact emitBatch over UDP to TARGET (host:port)
                "http" : opentelemetry-exporter-jaeger-thrift, collector mode:
                         POST Thrift binary to TARGET (a URL, .../api/traces)
                "grpc" : opentelemetry-exporter-jaeger-proto-grpc:
                         CollectorService/PostSpans to TARGET (host:port)
  TARGET        see above
  SERVICE_NAME  service.name of the resource
"""

import os
import warnings

from otel_common import fail, send_trace

SCRIPT = "otel_jaeger_send.py"

# The exporters are deprecated (Jaeger takes OTLP natively); that is the point.
warnings.filterwarnings("ignore", category=DeprecationWarning)


def exporter(protocol, target):
    if protocol == "udp":
        from opentelemetry.exporter.jaeger.thrift import JaegerExporter

        host, _, port = target.rpartition(":")
        return JaegerExporter(agent_host_name=host, agent_port=int(port))
    if protocol == "http":
        from opentelemetry.exporter.jaeger.thrift import JaegerExporter

        return JaegerExporter(collector_endpoint=target)
    if protocol == "grpc":
        from opentelemetry.exporter.jaeger.proto.grpc import JaegerExporter

        return JaegerExporter(collector_endpoint=target, insecure=True)
    fail(SCRIPT, f"PROTOCOL must be udp, http or grpc, got {protocol!r}")


def main():
    service = os.environ.get("SERVICE_NAME") or fail(SCRIPT, "SERVICE_NAME is not set")
    target = os.environ.get("TARGET") or fail(SCRIPT, "TARGET is not set")
    protocol = os.environ.get("PROTOCOL", "")
    print(send_trace(SCRIPT, service, exporter(protocol, target)), flush=True)


if __name__ == "__main__":
    main()
