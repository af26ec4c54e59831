// Sends one small trace to Spoor with the OpenTelemetry JS SDK and prints its
// trace ID on stdout. Used by crates/spoor/tests/e2e_node.rs.
//
// Environment:
//   SPOOR_OTLP_HTTP  base URL of the OTLP/HTTP receiver, e.g. http://127.0.0.1:4318
//   SERVICE_NAME     service.name of the resource
//   PROTOCOL         "json" (exporter-trace-otlp-http) or "proto" (exporter-trace-otlp-proto)
//
// The trace: a server root span, a client child span with an event, and an
// internal grandchild span with status ERROR. Exits 0 only when every export
// succeeded.

import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

function fail(message) {
  process.stderr.write(`send.mjs: ${message}\n`);
  process.exit(1);
}

const base = process.env.SPOOR_OTLP_HTTP;
const serviceName = process.env.SERVICE_NAME;
const protocol = process.env.PROTOCOL ?? 'json';
if (!base) fail('SPOOR_OTLP_HTTP is not set');
if (!serviceName) fail('SERVICE_NAME is not set');
if (protocol !== 'json' && protocol !== 'proto') fail(`PROTOCOL must be json or proto, got ${protocol}`);

// Never hang the calling test.
setTimeout(() => fail('timed out after 30 s'), 30_000).unref();

const url = `${base.replace(/\/+$/, '')}/v1/traces`;
const inner = protocol === 'json' ? new JsonExporter({ url }) : new ProtoExporter({ url });

// Wraps the exporter to learn whether each export succeeded: the span
// processors only log failures.
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
  resource: resourceFromAttributes({
    [ATTR_SERVICE_NAME]: serviceName,
    'deployment.environment.name': 'e2e',
  }),
  spanProcessors: [new SimpleSpanProcessor(exporter)],
});
const tracer = provider.getTracer('spoor-e2e-node', '1.0.0');

const root = tracer.startSpan('GET /checkout', {
  kind: SpanKind.SERVER,
  attributes: {
    'http.request.method': 'GET',
    'http.response.status_code': 200,
    'e2e.ratio': 0.25,
    'e2e.cached': false,
    'e2e.tags': ['a', 'b'],
  },
});
const rootCtx = trace.setSpan(context.active(), root);

const child = tracer.startSpan('charge-card', { kind: SpanKind.CLIENT }, rootCtx);
child.addEvent('card.validated', { 'card.brand': 'visa', 'card.attempt': 1 });
const childCtx = trace.setSpan(rootCtx, child);

const grandchild = tracer.startSpan('db.query', { kind: SpanKind.INTERNAL }, childCtx);
grandchild.setAttribute('db.system.name', 'postgresql');
grandchild.setStatus({ code: SpanStatusCode.ERROR, message: 'connection reset' });

grandchild.end();
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
