import { describe, expect, it } from 'vitest';
import { buildTrace, visibleRows, spanHasError } from './trace';
import { span, trace } from './testdata';

describe('buildTrace', () => {
  it('orders spans depth-first with children by start time', () => {
    const m = buildTrace(
      trace([span('c', 'a', 30, 10, 'c', 'p2'), span('a', null, 0, 100), span('b', 'a', 10, 10, 'b', 'p2'), span('d', 'b', 12, 5, 'd', 'p3')]),
    );
    expect(m.spans.map((s) => s.spanID)).toEqual(['a', 'b', 'd', 'c']);
    expect(m.spans.map((s) => s.depth)).toEqual([0, 1, 2, 1]);
    expect(m.spans.map((s) => s.subtreeSize)).toEqual([4, 2, 1, 1]);
    expect(m.depth).toBe(3);
    expect(m.rootService).toBe('frontend');
    expect(m.rootOperation).toBe('a');
    expect(m.services).toEqual([
      { name: 'backend', count: 2 },
      { name: 'db', count: 1 },
      { name: 'frontend', count: 1 },
    ]);
    expect(m.duration).toBe(100);
    expect(m.warnings).toEqual([]);
  });

  it('turns spans with a missing parent into roots, with warnings', () => {
    const m = buildTrace(trace([span('a', null, 0, 50), span('x', 'gone', 5, 10), span('y', 'x', 6, 2)]));
    expect(m.roots.map((i) => m.spans[i].spanID)).toEqual(['a', 'x']);
    expect(m.spans[m.bySpanID.get('x')!].warnings[0]).toContain('gone');
    expect(m.spans[m.bySpanID.get('y')!].depth).toBe(1);
    expect(m.warnings.join(' ')).toContain('1 span(s) reference a parent');
  });

  it('keeps duplicate span IDs apart with suffixed keys', () => {
    const m = buildTrace(trace([span('a', null, 0, 50), span('b', 'a', 1, 5), span('b', 'a', 2, 5, 'b2'), span('c', 'b', 3, 1)]));
    expect(m.spans.length).toBe(4);
    expect(m.spans.map((s) => s.key)).toEqual(['a', 'b', 'c', 'b~2']);
    // The child attaches to the first span with the ID.
    expect(m.spans[m.byKey.get('c')!].parentIndex).toBe(m.byKey.get('b'));
    expect(m.spans[m.byKey.get('b~2')!].warnings[0]).toContain('duplicate');
  });

  it('breaks reference cycles instead of losing spans', () => {
    const m = buildTrace(trace([span('a', 'b', 0, 10), span('b', 'a', 1, 5)]));
    expect(m.spans.length).toBe(2);
    expect(m.roots.length).toBe(1);
    expect(m.spans[0].spanID).toBe('a');
    expect(m.warnings.join(' ')).toContain('cycle');
  });

  it('uses the embedded process when there is no processes map, and detects errors', () => {
    const s = span('a', null, 0, 5, 'op', 'nope', {
      process: { serviceName: 'svc', tags: [] },
      tags: [{ key: 'error', type: 'bool', value: true }],
    });
    const m = buildTrace({ traceID: 't', spans: [s] });
    expect(m.spans[0].service).toBe('svc');
    expect(m.errorCount).toBe(1);
    expect(spanHasError([{ key: 'otel.status_code', value: 'ERROR' }])).toBe(true);
    expect(spanHasError([{ key: 'error', value: false }])).toBe(false);
  });

  it('hides the subtree of collapsed spans', () => {
    const m = buildTrace(trace([span('a', null, 0, 100), span('b', 'a', 10, 10), span('d', 'b', 12, 5), span('c', 'a', 30, 10)]));
    expect(visibleRows(m, new Set())).toEqual([0, 1, 2, 3]);
    expect(visibleRows(m, new Set([1]))).toEqual([0, 1, 3]);
    expect(visibleRows(m, new Set([0]))).toEqual([0]);
  });

  it('hides short spans with their subtrees, never roots', () => {
    // a 0..100, b 10..20 (10) with d (5), c 30..40 (10), e 50..95 (45)
    const m = buildTrace(trace([span('a', null, 0, 100), span('b', 'a', 10, 10), span('d', 'b', 12, 5), span('c', 'a', 30, 10), span('e', 'a', 50, 45)]));
    const ids = (rows: number[]) => rows.map((i) => m.spans[i].spanID);
    expect(ids(visibleRows(m, new Set(), 6))).toEqual(['a', 'b', 'c', 'e']);
    expect(ids(visibleRows(m, new Set(), 11))).toEqual(['a', 'e']);
    expect(ids(visibleRows(m, new Set(), 1000))).toEqual(['a']);
  });

  it('handles a deep chain without recursion limits', () => {
    const spans = [span('s0', null, 0, 200000)];
    for (let i = 1; i < 20000; i++) spans.push(span(`s${i}`, `s${i - 1}`, i, 200000 - 2 * i));
    const m = buildTrace(trace(spans));
    expect(m.depth).toBe(20000);
    expect(m.spans[0].subtreeSize).toBe(20000);
  });
});
