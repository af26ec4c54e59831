import { describe, expect, it } from 'vitest';
import { buildTrace } from './trace';
import { selfTimes, traceStats } from './stats';
import { span, trace } from './testdata';

describe('trace statistics', () => {
  // a (frontend) 0..100 with children b 10..40 and c 30..60 (overlapping), b has child d 15..20.
  const m = buildTrace(
    trace([
      span('a', null, 0, 100, 'GET /', 'p1'),
      span('b', 'a', 10, 30, 'query', 'p2'),
      span('c', 'a', 30, 30, 'query', 'p2', { tags: [{ key: 'error', value: true }] }),
      span('d', 'b', 15, 5, 'SELECT', 'p3'),
    ]),
  );

  it('computes self time with overlapping children merged', () => {
    const self = selfTimes(m);
    const by = (id: string) => self[m.bySpanID.get(id)!];
    expect(by('a')).toBe(50); // 100 - union(10..60)
    expect(by('b')).toBe(25);
    expect(by('c')).toBe(30);
    expect(by('d')).toBe(5);
  });

  it('groups by service and operation', () => {
    const rows = traceStats(m);
    const q = rows.find((r) => r.service === 'backend' && r.operation === 'query')!;
    expect(q.count).toBe(2);
    expect(q.errors).toBe(1);
    expect(q.total).toBe(60);
    expect(q.avg).toBe(30);
    expect(q.min).toBe(30);
    expect(q.max).toBe(30);
    expect(q.selfTotal).toBe(55);
    expect(q.selfShare).toBeCloseTo(0.55);
    expect(rows[0].service).toBe('backend'); // largest self time first
    expect(rows.length).toBe(3);
  });

  it('groups by service only', () => {
    const rows = traceStats(m, 'service');
    expect(rows.map((r) => [r.service, r.count, r.selfTotal])).toEqual([
      ['backend', 2, 55],
      ['frontend', 1, 50],
      ['db', 1, 5],
    ]);
  });
});
