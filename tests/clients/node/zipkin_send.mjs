// Sends one trace with the OpenTelemetry JS SDK through
// @opentelemetry/exporter-zipkin (Zipkin v2 JSON, chunked body) and prints
// its trace ID on stdout. Used by crates/spoor/tests/e2e_zipkin_clients.rs.
//
// Environment:
//   TARGET        the spans URL, e.g. http://127.0.0.1:9411/api/v2/spans
//   SERVICE_NAME  service.name of the resource
//
// The trace is the one of trace.mjs. Exits 0 only when every export succeeded.

import { ZipkinExporter } from '@opentelemetry/exporter-zipkin';
import { runTrace, fail } from './trace.mjs';

const script = 'zipkin_send.mjs';
const target = process.env.TARGET;
if (!target) fail(script, 'TARGET is not set');

await runTrace(script, new ZipkinExporter({ url: target }));
