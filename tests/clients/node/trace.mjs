// The trace the OpenTelemetry JS senders (otel_jaeger_send.mjs,
// zipkin_send.mjs) send: a server root span with typed attributes, a client
// child with an event and a link, and an internal grandchild with status
// ERROR. Prints the trace ID and exits.

import { SpanKind, SpanStatusCode, TraceFlags, context, trace } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';

/** The span the child links to (an unrelated trace). */
export const LINKED = {
  traceId: '0af7651916cd43dd8448eb211c80319c',
  spanId: 'b7ad6b7169203331',
  traceFlags: TraceFlags.SAMPLED,
  isRemote: true,
};

export function fail(script, message) {
  process.stderr.write(`${script}: ${message}\n`);
  process.exit(1);
}

export async function runTrace(script, inner) {
  const serviceName = process.env.SERVICE_NAME;
  if (!serviceName) fail(script, 'SERVICE_NAME is not set');
  setTimeout(() => fail(script, 'timed out after 30 s'), 30_000).unref();

  // The span processors only log failures: record every export result.
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

  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': serviceName,
      'deployment.environment.name': 'e2e',
    }),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('spoor-e2e-node', '1.0.0');

  const root = tracer.startSpan('GET /checkout', {
    kind: SpanKind.SERVER,
    attributes: {
      'http.request.method': 'GET',
      'http.response.status_code': 200,
      'e2e.ratio': 0.25,
      'e2e.cached': false,
    },
  });
  const rootCtx = trace.setSpan(context.active(), root);
  const child = tracer.startSpan(
    'charge-card',
    { kind: SpanKind.CLIENT, links: [{ context: LINKED, attributes: { 'e2e.link': 'batch' } }] },
    rootCtx,
  );
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
    fail(script, `flush failed: ${e?.stack ?? e}`);
  }
  if (results.length === 0) fail(script, 'nothing was exported');
  const failed = results.filter((r) => r.code !== 0);
  if (failed.length > 0) {
    fail(script, `export failed: ${failed.map((r) => r.error?.message ?? String(r.error)).join('; ')}`);
  }
  process.stdout.write(`${root.spanContext().traceId}\n`);
  process.exit(0);
}
