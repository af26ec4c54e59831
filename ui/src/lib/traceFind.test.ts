import { describe, expect, it } from 'vitest';
import { buildTrace } from './trace';
import { findSpans } from './traceFind';
import { span, trace } from './testdata';

describe('find in trace', () => {
  const t = trace([
    span('a1', null, 0, 100, 'GET /home', 'p1', { tags: [{ key: 'http.status_code', value: 200 }] }),
    span('b2', 'a1', 1, 10, 'SELECT users', 'p2', { logs: [{ timestamp: 5, fields: [{ key: 'event', value: 'Retry' }] }] }),
    span('c3', 'a1', 20, 10, 'GET /cache', 'p3'),
  ]);
  t.processes = { ...t.processes, p3: { serviceName: 'db', tags: [{ key: 'host.name', value: 'Node-7' }] } };
  const m = buildTrace(t);
  const ids = (q: string) => [...findSpans(m, q)].map((i) => m.spans[i].spanID).sort();

  it('matches service, operation, span ID, attributes, events and resource', () => {
    expect(ids('get')).toEqual(['a1', 'c3']);
    expect(ids('backend')).toEqual(['b2']);
    expect(ids('c3')).toEqual(['c3']);
    expect(ids('http.status_code=200')).toEqual(['a1']);
    expect(ids('retry')).toEqual(['b2']);
    expect(ids('node-7')).toEqual(['c3']);
  });

  it('requires every term and ignores empty queries', () => {
    expect(ids('get cache')).toEqual(['c3']);
    expect(ids('get users')).toEqual([]);
    expect(ids('   ')).toEqual([]);
  });
});
