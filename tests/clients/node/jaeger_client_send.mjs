// Sends one trace with the Node.js `jaeger-client` (OpenTracing) and prints
// its trace ID on stdout. Used by crates/spoor/tests/e2e_jaeger_clients.rs.
//
// Environment:
//   PROTOCOL      "udp":  Thrift binary Agent.emitBatch over UDP to TARGET (host:port)
//                 "http": POST Thrift binary to TARGET (a URL, .../api/traces);
//                         Node sends it chunked, with no Content-Length
//   TARGET        see above
//   SERVICE_NAME  service name of the tracer
//
// The trace: a server root span with typed tags, a client child span with a
// log, and a grandchild tagged error=true. Exits 0 only when the reporter
// flushed without logging an error.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { initTracer } = require('jaeger-client');

function fail(message) {
  process.stderr.write(`jaeger_client_send.mjs: ${message}\n`);
  process.exit(1);
}

const protocol = process.env.PROTOCOL;
const target = process.env.TARGET;
const serviceName = process.env.SERVICE_NAME;
if (!target) fail('TARGET is not set');
if (!serviceName) fail('SERVICE_NAME is not set');

setTimeout(() => fail('timed out after 30 s'), 30_000).unref();

const reporter = { flushIntervalMs: 100 };
if (protocol === 'udp') {
  const at = target.lastIndexOf(':');
  reporter.agentHost = target.slice(0, at);
  reporter.agentPort = Number(target.slice(at + 1));
} else if (protocol === 'http') {
  reporter.collectorEndpoint = target;
} else {
  fail(`PROTOCOL must be udp or http, got ${protocol}`);
}

const errors = [];
const logger = {
  info: () => {},
  error: (msg) => errors.push(String(msg)),
};

const tracer = initTracer(
  {
    serviceName,
    sampler: { type: 'const', param: 1 },
    reporter,
  },
  { logger, tags: { 'e2e.suite': 'spoor' } },
);

const root = tracer.startSpan('GET /checkout', {
  tags: {
    'span.kind': 'server',
    'http.method': 'GET',
    'http.status_code': 200,
    'e2e.ratio': 0.25,
    'e2e.cached': false,
  },
});
const child = tracer.startSpan('charge-card', {
  childOf: root,
  tags: { 'span.kind': 'client', 'peer.service': 'payments' },
});
child.log({ event: 'card.validated', 'card.brand': 'visa', 'card.attempt': 1 });
const grandchild = tracer.startSpan('db.query', {
  childOf: child,
  tags: { 'db.type': 'sql', error: true },
});
grandchild.log({ event: 'error', message: 'connection reset' });
grandchild.finish();
child.finish();
root.finish();

const traceId = root.context().toTraceId();
await new Promise((resolve) => tracer.close(resolve));

if (errors.length > 0) fail(`the reporter logged errors: ${errors.join('; ')}`);
process.stdout.write(`${traceId.padStart(traceId.length > 16 ? 32 : 16, '0')}\n`);
process.exit(0);
