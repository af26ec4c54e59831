// Sends one trace with the OpenTelemetry JS SDK through
// @opentelemetry/exporter-jaeger and prints its trace ID on stdout.
// Used by crates/spoor/tests/e2e_jaeger_clients.rs.
//
// Environment:
//   PROTOCOL      "udp":  Thrift binary Agent.emitBatch over UDP to TARGET (host:port)
//                 "http": POST Thrift binary to TARGET (a URL, .../api/traces), chunked
//   TARGET        see above
//   SERVICE_NAME  service.name of the resource
//
// The trace is the one of trace.mjs. Exits 0 only when every export succeeded.

import { JaegerExporter } from '@opentelemetry/exporter-jaeger';
import { runTrace, fail } from './trace.mjs';

const script = 'otel_jaeger_send.mjs';
const protocol = process.env.PROTOCOL;
const target = process.env.TARGET;
if (!target) fail(script, 'TARGET is not set');

let exporter;
if (protocol === 'udp') {
  const at = target.lastIndexOf(':');
  exporter = new JaegerExporter({ host: target.slice(0, at), port: Number(target.slice(at + 1)) });
} else if (protocol === 'http') {
  exporter = new JaegerExporter({ endpoint: target });
} else {
  fail(script, `PROTOCOL must be udp or http, got ${protocol}`);
}

await runTrace(script, exporter);
