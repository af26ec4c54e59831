// The deterministic traces the UI tests post over OTLP HTTP JSON, so the
// structure, attributes and dependency edges the pages must show are known
// exactly. Three "checkout" traces (A1–A3) share one shape; B differs from
// it (one span removed, one added, one call repeated) for the compare page.
//
//   frontend  GET /checkout            (server, root; in B linked to A1's root)
//   frontend    HTTP POST /cart        (client)
//   cart          POST /cart/checkout  (server; customer.tier, cart.items, …)
//   cart            reserve stock      (internal; ERROR "out of stock", exception event)
//   cart            SELECT cart_items  (client)
//   db                query cart_items (server)
//   frontend    render page            (internal)            ← not in B
//
// Dependency edges over the four traces: frontend → cart 4 calls,
// cart → db 5 calls (B queries twice).

import assert from 'node:assert/strict';

const KIND = { internal: 1, server: 2, client: 3 };

/** 32 hex digits; `e2e…` so the IDs are easy to spot. */
export function traceId(n) {
  return 'e2e0' + n.toString(16).padStart(28, '0');
}

function spanId(trace, n) {
  return 'e2' + trace.toString(16).padStart(6, '0') + n.toString(16).padStart(8, '0');
}

export const TRACES = {
  A1: traceId(0xa1),
  A2: traceId(0xa2),
  A3: traceId(0xa3),
  B: traceId(0xb1),
  /** The 50,000-span trace of the time-to-interactive measurement. */
  HUGE: traceId(0x50000),
};

export const SERVICES = ['frontend', 'cart', 'db'];

/**
 * The spans of one checkout trace as a flat, depth-first list:
 * `{ key, parent, service, name, kind, start, dur, attrs, error, events }`,
 * times in ms relative to the trace start.
 */
export function checkoutShape(variant, total) {
  const B = variant === 'B';
  const spans = [
    { key: 'root', parent: null, service: 'frontend', name: 'GET /checkout', kind: 'server', start: 0, dur: total,
      attrs: { 'http.request.method': 'GET', 'http.route': '/checkout', 'http.response.status_code': 500 },
      // B retries the checkout of A1: a link to A1's root span.
      links: B ? [{ trace: 0xa1, key: 'root' }] : [] },
    { key: 'call', parent: 'root', service: 'frontend', name: 'HTTP POST /cart', kind: 'client', start: 5, dur: total - 40,
      attrs: { 'http.request.method': 'POST', 'server.address': 'cart' } },
    { key: 'cart', parent: 'call', service: 'cart', name: 'POST /cart/checkout', kind: 'server', start: 8, dur: total - 48,
      attrs: {
        'http.request.method': 'POST',
        'http.route': '/cart/checkout',
        'customer.tier': B ? 'silver' : 'gold',
        'cart.items': 3,
        'e2e.flag': true,
      } },
    { key: 'reserve', parent: 'cart', service: 'cart', name: 'reserve stock', kind: 'internal', start: 10, dur: 12,
      attrs: { 'stock.sku': 'SKU-42' }, error: 'out of stock',
      events: [{ at: 20, name: 'exception', attrs: { 'exception.type': 'OutOfStock', 'exception.message': 'out of stock: SKU-42' } }] },
    { key: 'select', parent: 'cart', service: 'cart', name: 'SELECT cart_items', kind: 'client', start: 25, dur: 30,
      attrs: { 'db.system': 'postgresql', 'db.query.text': 'SELECT * FROM cart_items WHERE cart_id = $1' } },
    { key: 'query', parent: 'select', service: 'db', name: 'query cart_items', kind: 'server', start: 27, dur: 26,
      attrs: { 'db.system': 'postgresql' } },
  ];
  if (B) {
    spans.push(
      { key: 'select2', parent: 'cart', service: 'cart', name: 'SELECT cart_items', kind: 'client', start: 60, dur: 20,
        attrs: { 'db.system': 'postgresql' } },
      { key: 'query2', parent: 'select2', service: 'db', name: 'query cart_items', kind: 'server', start: 62, dur: 16,
        attrs: { 'db.system': 'postgresql' } },
      { key: 'log', parent: 'root', service: 'frontend', name: 'log event', kind: 'internal', start: total - 20, dur: 5, attrs: {} },
    );
  } else {
    spans.push({ key: 'render', parent: 'root', service: 'frontend', name: 'render page', kind: 'internal', start: total - 30, dur: 25,
      attrs: { 'template': 'checkout.html' } });
  }
  return spans;
}

/** The rows the timeline must show for an A trace, fully expanded, in order. */
export const EXPECTED_A_ROWS = [
  { depth: 0, service: 'frontend', operation: 'GET /checkout' },
  { depth: 1, service: 'frontend', operation: 'HTTP POST /cart' },
  { depth: 2, service: 'cart', operation: 'POST /cart/checkout' },
  { depth: 3, service: 'cart', operation: 'reserve stock' },
  { depth: 3, service: 'cart', operation: 'SELECT cart_items' },
  { depth: 4, service: 'db', operation: 'query cart_items' },
  { depth: 1, service: 'frontend', operation: 'render page' },
];

/** Span ID of `key` in trace number `n` (the low bits of its trace ID). */
export function spanIdOf(trace, key, variant = 'A') {
  const n = parseInt(trace.slice(-7), 16);
  const i = checkoutShape(variant, 200).findIndex((s) => s.key === key);
  assert.ok(i >= 0, key);
  return spanId(n, i + 1);
}

function anyValue(v) {
  if (typeof v === 'boolean') return { boolValue: v };
  if (Number.isInteger(v)) return { intValue: String(v) };
  if (typeof v === 'number') return { doubleValue: v };
  return { stringValue: String(v) };
}

function kvs(obj) {
  return Object.entries(obj).map(([key, value]) => ({ key, value: anyValue(value) }));
}

const ms = (n) => BigInt(Math.round(n * 1e6));

/** OTLP JSON `resourceSpans` of spans given as {service, ...otlpSpan}. */
export function resourceSpans(spans) {
  const by = new Map();
  for (const { service, ...span } of spans) {
    if (!by.has(service)) by.set(service, []);
    by.get(service).push(span);
  }
  return [...by].map(([service, list]) => ({
    resource: {
      attributes: kvs({ 'service.name': service, 'service.version': '1.4.2', 'deployment.environment': 'e2e', 'host.name': `${service}-7f9c` }),
    },
    scopeSpans: [{ scope: { name: 'spoor-ui-e2e', version: '1' }, spans: list }],
  }));
}

/** One checkout trace as OTLP spans, starting at `startMs` (Unix ms). */
export function checkoutTrace(n, variant, startMs, total) {
  const shape = checkoutShape(variant, total);
  const ids = new Map(shape.map((s, i) => [s.key, spanId(n, i + 1)]));
  const t0 = ms(startMs);
  return shape.map((s) => ({
    service: s.service,
    traceId: traceId(n),
    spanId: ids.get(s.key),
    ...(s.parent ? { parentSpanId: ids.get(s.parent) } : {}),
    name: s.name,
    kind: KIND[s.kind],
    startTimeUnixNano: String(t0 + ms(s.start)),
    endTimeUnixNano: String(t0 + ms(s.start + s.dur)),
    attributes: kvs(s.attrs),
    events: (s.events ?? []).map((e) => ({ timeUnixNano: String(t0 + ms(e.at)), name: e.name, attributes: kvs(e.attrs) })),
    links: (s.links ?? []).map((l) => ({
      traceId: traceId(l.trace),
      spanId: spanId(l.trace, checkoutShape('A', total).findIndex((x) => x.key === l.key) + 1),
      attributes: kvs({ 'link.reason': 'retry' }),
    })),
    status: s.error ? { code: 2, message: s.error } : { code: 0 },
  }));
}

/** POSTs OTLP JSON to `${otlpUrl}/v1/traces`. */
export async function postOtlp(otlpUrl, spans) {
  const body = JSON.stringify({ resourceSpans: resourceSpans(spans) });
  const res = await fetch(`${otlpUrl}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const text = await res.text();
  assert.equal(res.status, 200, `POST /v1/traces: ${res.status} ${text.slice(0, 300)}`);
}

/** Durations (ms) of the fixture traces; minDuration=130ms keeps A2, A3 and B. */
export const DURATIONS = { A1: 120, A2: 150, A3: 180, B: 200 };

/** Posts A1–A3 and B, a few minutes in the past, to one instance. */
export async function postCheckoutTraces(otlpUrl) {
  const now = Date.now();
  const spans = [
    ...checkoutTrace(0xa1, 'A', now - 5 * 60_000, DURATIONS.A1),
    ...checkoutTrace(0xa2, 'A', now - 4 * 60_000, DURATIONS.A2),
    ...checkoutTrace(0xa3, 'A', now - 3 * 60_000, DURATIONS.A3),
    ...checkoutTrace(0xb1, 'B', now - 2 * 60_000, DURATIONS.B),
  ];
  await postOtlp(otlpUrl, spans);
}

/**
 * A trace of exactly `total` spans over 12 services: a root, then a tree in
 * which each span has up to `fanout` children (depth about log_fanout(total)).
 * Posted in chunks so no request passes the body limit.
 */
export async function postHugeTrace(otlpUrl, total = 50_000, { fanout = 8, chunk = 5000 } = {}) {
  const n = 0x50000;
  const tid = traceId(n);
  const start = ms(Date.now() - 60_000);
  const services = Array.from({ length: 12 }, (_, i) => `bulk-svc-${String(i).padStart(2, '0')}`);
  const dur = (depth) => ms(Math.max(1, 20_000 / (depth + 1) ** 2));
  const depthOf = [0];
  let batch = [];
  for (let i = 0; i < total; i++) {
    const parent = i === 0 ? -1 : Math.floor((i - 1) / fanout);
    const depth = i === 0 ? 0 : depthOf[parent] + 1;
    depthOf.push(depth);
    const offset = ms((i % 997) * 0.01 * (depth + 1));
    batch.push({
      service: services[i % services.length],
      traceId: tid,
      spanId: spanId(n, i + 1),
      ...(parent >= 0 ? { parentSpanId: spanId(n, parent + 1) } : {}),
      name: i === 0 ? 'GET /bulk/report' : `step ${depth}.${i % 50}`,
      kind: KIND[i === 0 ? 'server' : 'internal'],
      startTimeUnixNano: String(start + offset),
      endTimeUnixNano: String(start + offset + dur(depth)),
      attributes: kvs({ 'bulk.index': i, 'bulk.depth': depth, 'bulk.note': 'generated for the 50k-span UI measurement' }),
      status: { code: 0 },
    });
    if (batch.length === chunk) {
      await postOtlp(otlpUrl, batch);
      batch = [];
    }
  }
  if (batch.length) await postOtlp(otlpUrl, batch);
  return tid;
}
