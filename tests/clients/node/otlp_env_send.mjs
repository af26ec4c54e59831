// Sends one small trace with the OpenTelemetry JS SDK through its OTLP/HTTP
// exporters built with no option: the endpoint, the CA, the client
// certificate and key and the headers all come from the standard variables
// of the OpenTelemetry specification. Prints the trace ID on stdout. Used by
// crates/spoor/tests/e2e_tls_clients.rs (TLS, mTLS, bearer tokens).
//
// Environment:
//   OTEL_EXPORTER_OTLP_ENDPOINT            e.g. https://127.0.0.95:4318
//   OTEL_EXPORTER_OTLP_CERTIFICATE         the CA to trust (PEM file)
//   OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE  mTLS: the client certificate
//   OTEL_EXPORTER_OTLP_CLIENT_KEY          mTLS: its key
//   OTEL_EXPORTER_OTLP_HEADERS             e.g. authorization=Bearer%20TOKEN
//   SERVICE_NAME                           service.name of the resource
//   PROTOCOL                               "json" (exporter-trace-otlp-http) or
//                                          "proto" (exporter-trace-otlp-proto)
//
// Exits 0 only when every export succeeded.

import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

function fail(message) {
  process.stderr.write(`otlp_env_send.mjs: ${message}\n`);
  process.exit(1);
}

const serviceName = process.env.SERVICE_NAME;
const protocol = process.env.PROTOCOL ?? 'json';
if (!process.env.OTEL_EXPORTER_OTLP_ENDPOINT) fail('OTEL_EXPORTER_OTLP_ENDPOINT is not set');
if (!serviceName) fail('SERVICE_NAME is not set');
if (protocol !== 'json' && protocol !== 'proto') fail(`PROTOCOL must be json or proto, got ${protocol}`);

// Never hang the calling test.
setTimeout(() => fail('timed out after 30 s'), 30_000).unref();

const inner = protocol === 'json' ? new JsonExporter() : new ProtoExporter();

// Records each export's result: the span processors only log failures.
const results = [];
const exporter = {
  export(spans, done) {
    inner.export(spans, (result) => {
      results.push(result);
      done(result);
    });
  },
  shutdown: () => inner.shutdown(),
  forceFlush: () => (inner.forceFlush ? inner.forceFlush() : Promise.resolve()),
};

const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName }),
  spanProcessors: [new SimpleSpanProcessor(exporter)],
});
const tracer = provider.getTracer('spoor-e2e-node-tls', '1.0.0');

const root = tracer.startSpan('GET /secure', { kind: SpanKind.SERVER });
const child = tracer.startSpan(
  'SELECT accounts',
  { kind: SpanKind.CLIENT },
  trace.setSpan(context.active(), root),
);
child.setStatus({ code: SpanStatusCode.ERROR, message: 'denied' });
child.end();
root.end();

try {
  await provider.forceFlush();
  await provider.shutdown();
} catch (e) {
  fail(`flush failed: ${e?.stack ?? e}`);
}

if (results.length === 0) fail('nothing was exported');
const failed = results.filter((r) => r.code !== 0);
if (failed.length > 0) {
  fail(`export failed: ${failed.map((r) => r.error?.message ?? String(r.error)).join('; ')}`);
}
process.stdout.write(`${root.spanContext().traceId}\n`);
process.exit(0);
