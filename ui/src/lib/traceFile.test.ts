import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError, transformOtlp } from '../api';
import { config } from '../config';
import { readTraceFile } from './traceFile';
import type { OtlpTransform } from './traceFile';
import type { JTrace } from './types';

const TRACE_ID = '5b8efff798038103d269b633813fc60c';

/** An OTLP JSON document (its content does not matter here: the server converts it). */
const otlpText = JSON.stringify({
  resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ spans: [{ traceId: TRACE_ID, spanId: 'eee19b7ec3c1b174', name: 'op' }] }] }],
});

/** What `POST /api/transform` answers for one document: one trace of two spans. */
function converted(spanPrefix: string): JTrace {
  return {
    traceID: TRACE_ID,
    spans: [
      { traceID: TRACE_ID, spanID: `${spanPrefix}01`, operationName: 'POST /pay', references: [], startTime: 1, duration: 2, processID: 'p1' },
      {
        traceID: TRACE_ID,
        spanID: `${spanPrefix}02`,
        operationName: 'charge',
        references: [{ refType: 'CHILD_OF', traceID: TRACE_ID, spanID: `${spanPrefix}01` }],
        startTime: 1,
        duration: 1,
        processID: 'p2',
      },
    ],
    processes: { p1: { serviceName: 'checkout', tags: [] }, p2: { serviceName: '', tags: [] } },
    warnings: null,
  };
}

function fakeServer(answers: (JTrace[] | Error)[]) {
  const sent: string[] = [];
  const transform: OtlpTransform = (text) => {
    sent.push(text);
    const a = answers[sent.length - 1];
    return a instanceof Error ? Promise.reject(a) : Promise.resolve(a ?? []);
  };
  return { sent, transform };
}

describe('opening a trace file', () => {
  it('reads Jaeger JSON (envelope, array, one trace) without the server', async () => {
    const { sent, transform } = fakeServer([]);
    const trace = { traceID: 'abc', spans: [], processes: {} };
    expect((await readTraceFile(JSON.stringify({ data: [trace] }), transform)).map((t) => t.traceID)).toEqual(['abc']);
    expect((await readTraceFile(JSON.stringify([trace]), transform)).map((t) => t.traceID)).toEqual(['abc']);
    expect((await readTraceFile(JSON.stringify(trace), transform)).map((t) => t.traceID)).toEqual(['abc']);
    expect(sent).toEqual([]);
  });

  it('sends an OTLP JSON document to the server unchanged and shows what it returns', async () => {
    const { sent, transform } = fakeServer([[converted('aa')]]);
    const traces = await readTraceFile(otlpText, transform);
    expect(sent).toEqual([otlpText]);
    expect(traces).toEqual([converted('aa')]);
  });

  it('sends each OTLP line of a JSON Lines file and merges pieces of one trace', async () => {
    const { sent, transform } = fakeServer([[converted('aa')], [converted('bb')]]);
    const jaegerLine = JSON.stringify({ data: [{ traceID: 'abc', spans: [], processes: {} }] });
    const traces = await readTraceFile(`${otlpText}\n\n${jaegerLine}\r\n${otlpText}\n`, transform);
    expect(sent).toEqual([otlpText, otlpText]);
    expect(traces.map((t) => t.traceID)).toEqual([TRACE_ID, 'abc']);
    const [t] = traces;
    expect(t.spans.map((s) => s.spanID)).toEqual(['aa01', 'aa02', 'bb01', 'bb02']);
    // The second piece's processes are re-keyed, so each span keeps its service.
    const services = t.spans.map((s) => t.processes![s.processID!].serviceName);
    expect(services).toEqual(['checkout', '', 'checkout', '']);
  });

  it("reports the server's refusal with its message (and line)", async () => {
    const refused = new ApiError('cannot unmarshal OTLP JSON: bad traceId', 400);
    await expect(readTraceFile(otlpText, fakeServer([refused]).transform)).rejects.toThrow(
      'the server could not convert the OTLP JSON: cannot unmarshal OTLP JSON: bad traceId',
    );
    const lines = `${otlpText}\n${otlpText}\n`;
    await expect(readTraceFile(lines, fakeServer([[converted('aa')], refused]).transform)).rejects.toThrow(
      'the server could not convert the OTLP JSON (line 2): cannot unmarshal OTLP JSON: bad traceId',
    );
  });

  it('refuses what is neither Jaeger nor OTLP JSON before sending anything', async () => {
    const { sent, transform } = fakeServer([]);
    await expect(readTraceFile('{"hello":1}', transform)).rejects.toThrow(/not a Jaeger JSON/);
    await expect(readTraceFile(`${otlpText}\n{"hello":1}`, transform)).rejects.toThrow(/not a Jaeger JSON/);
    await expect(readTraceFile('nope', transform)).rejects.toThrow('not JSON (line 1 does not parse)');
    expect(sent).toEqual([]);
    await expect(readTraceFile(otlpText, transform)).rejects.toThrow('the file holds no traces');
  });
});

describe('POST /api/transform', () => {
  const base = config.basePath;
  afterEach(() => {
    config.basePath = base;
    vi.unstubAllGlobals();
  });

  it('posts the OTLP JSON under the base path and returns the Jaeger traces', async () => {
    config.basePath = '/spoor';
    const fetch = vi.fn(async () => new Response(JSON.stringify({ data: [converted('aa')], total: 0, limit: 0, offset: 0, errors: null }), { status: 200 }));
    vi.stubGlobal('fetch', fetch);
    expect(await transformOtlp(otlpText)).toEqual([converted('aa')]);
    expect(fetch).toHaveBeenCalledTimes(1);
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/spoor/api/transform');
    expect(init.method).toBe('POST');
    expect(init.body).toBe(otlpText);
    expect(init.headers).toMatchObject({ 'Content-Type': 'application/json' });
  });

  it("throws the server's message on a 400", async () => {
    const body = { data: null, total: 0, limit: 0, offset: 0, errors: [{ code: 400, msg: 'cannot unmarshal OTLP JSON: bad traceId' }] };
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => new Response(JSON.stringify(body), { status: 400 })),
    );
    const err = await transformOtlp(otlpText).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(400);
    expect((err as ApiError).message).toBe('cannot unmarshal OTLP JSON: bad traceId');
  });

  it('throws the plain-text answer of a refused body (413)', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => new Response('request body exceeds 16777216 bytes', { status: 413 })),
    );
    await expect(transformOtlp(otlpText)).rejects.toThrow('request body exceeds 16777216 bytes');
  });
});
