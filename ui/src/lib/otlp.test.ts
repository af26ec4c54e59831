import { describe, expect, it } from 'vitest';
import { normalizeId, otlpToTraces, parseTraceFile } from './otlp';
import { buildTrace } from './trace';

const otlp = {
  resourceSpans: [
    {
      resource: {
        attributes: [
          { key: 'service.name', value: { stringValue: 'checkout' } },
          { key: 'host.name', value: { stringValue: 'h1' } },
        ],
      },
      scopeSpans: [
        {
          scope: { name: 'lib', version: '1.0' },
          spans: [
            {
              traceId: '5b8efff798038103d269b633813fc60c',
              spanId: 'eee19b7ec3c1b174',
              name: 'POST /pay',
              kind: 2,
              startTimeUnixNano: '1544712660000000000',
              endTimeUnixNano: '1544712661000000000',
              attributes: [
                { key: 'http.status_code', value: { intValue: '500' } },
                { key: 'ok', value: { boolValue: false } },
              ],
              status: { code: 2, message: 'boom' },
              events: [{ timeUnixNano: '1544712660500000000', name: 'retry', attributes: [{ key: 'n', value: { intValue: 1 } }] }],
              links: [{ traceId: '00000000000000000000000000000001', spanId: '0000000000000002' }],
            },
            {
              traceId: '5b8efff798038103d269b633813fc60c',
              spanId: 'eee19b7ec3c1b175',
              parentSpanId: 'eee19b7ec3c1b174',
              name: 'charge',
              kind: 'SPAN_KIND_CLIENT',
              startTimeUnixNano: '1544712660100000000',
              endTimeUnixNano: '1544712660200000000',
            },
          ],
        },
      ],
    },
  ],
};

describe('OTLP JSON', () => {
  it('converts spans, attributes, status, events and links', () => {
    const [t] = otlpToTraces(otlp);
    expect(t.traceID).toBe('5b8efff798038103d269b633813fc60c');
    expect(t.spans.length).toBe(2);
    const root = t.spans[0];
    expect(root.startTime).toBe(1544712660000000);
    expect(root.duration).toBe(1_000_000);
    expect(root.tags).toContainEqual({ key: 'http.status_code', type: 'int64', value: 500 });
    expect(root.tags).toContainEqual({ key: 'span.kind', type: 'string', value: 'server' });
    expect(root.tags).toContainEqual({ key: 'error', type: 'bool', value: true });
    expect(root.logs![0].timestamp).toBe(1544712660500000);
    expect(root.logs![0].fields[0]).toEqual({ key: 'event', type: 'string', value: 'retry' });
    expect(root.references).toEqual([{ refType: 'FOLLOWS_FROM', traceID: '00000000000000000000000000000001', spanID: '0000000000000002' }]);
    expect(t.processes![root.processID!].serviceName).toBe('checkout');
    expect(t.processes![root.processID!].tags).toEqual([{ key: 'host.name', type: 'string', value: 'h1' }]);
    const m = buildTrace(t);
    expect(m.depth).toBe(2);
    expect(m.errorCount).toBe(1);
    expect(m.spans[1].span.tags).toContainEqual({ key: 'span.kind', type: 'string', value: 'client' });
  });

  it('decodes base64 IDs', () => {
    expect(normalizeId('W47/95gDgQPSabYzgT/GDA==', 16)).toBe('5b8efff798038103d269b633813fc60c');
    expect(normalizeId('7uGbfsPBsXQ=', 8)).toBe('eee19b7ec3c1b174');
  });

  it('reads Jaeger envelopes, OTLP and JSON Lines files', () => {
    const jaeger = JSON.stringify({ data: [{ traceID: 'abc', spans: [], processes: {} }] });
    expect(parseTraceFile(jaeger).map((t) => t.traceID)).toEqual(['abc']);
    expect(parseTraceFile(JSON.stringify(otlp))[0].spans.length).toBe(2);
    const lines = JSON.stringify(otlp) + '\n' + JSON.stringify(otlp) + '\n';
    expect(parseTraceFile(lines)[0].spans.length).toBe(4);
    expect(() => parseTraceFile('{"hello":1}')).toThrow(/not a Jaeger JSON/);
    expect(() => parseTraceFile('nope')).toThrow(/not JSON/);
  });
});
