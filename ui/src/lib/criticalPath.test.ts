import { describe, expect, it } from 'vitest';
import { buildTrace } from './trace';
import { criticalPath } from './criticalPath';
import { span, trace } from './testdata';

const seg = (m: ReturnType<typeof buildTrace>, out: ReturnType<typeof criticalPath>) => out.map((s) => [m.spans[s.index].spanID, s.start, s.end]);

describe('criticalPath', () => {
  it('is the root alone when it has no children', () => {
    const m = buildTrace(trace([span('a', null, 0, 100)]));
    expect(seg(m, criticalPath(m))).toEqual([['a', 0, 100]]);
  });

  it('follows the last-finishing child and returns to the parent between children', () => {
    // a: 0..100; b: 10..40; c: 50..90 (c finishes last), d under c: 60..80
    const m = buildTrace(trace([span('a', null, 0, 100), span('b', 'a', 10, 30), span('c', 'a', 50, 40), span('d', 'c', 60, 20)]));
    expect(seg(m, criticalPath(m))).toEqual([
      ['a', 0, 10],
      ['b', 10, 40],
      ['a', 40, 50],
      ['c', 50, 60],
      ['d', 60, 80],
      ['c', 80, 90],
      ['a', 90, 100],
    ]);
  });

  it('skips overlapping children that finished after the cursor', () => {
    // Parallel children: b 10..80, c 20..60. b finishes last; c ends after b starts, so c is off the path.
    const m = buildTrace(trace([span('a', null, 0, 100), span('b', 'a', 10, 70), span('c', 'a', 20, 40)]));
    expect(seg(m, criticalPath(m))).toEqual([
      ['a', 0, 10],
      ['b', 10, 80],
      ['a', 80, 100],
    ]);
  });

  it('clips children that overflow the parent', () => {
    const m = buildTrace(trace([span('a', null, 0, 100), span('b', 'a', 50, 100), span('late', 'a', 150, 10)]));
    expect(seg(m, criticalPath(m))).toEqual([
      ['a', 0, 50],
      ['b', 50, 100],
    ]);
  });

  it('covers the whole root interval exactly once', () => {
    const spans = [span('r', null, 0, 1000)];
    for (let i = 0; i < 30; i++) spans.push(span(`c${i}`, 'r', i * 30, 45));
    const m = buildTrace(trace(spans));
    const out = criticalPath(m);
    let total = 0;
    for (let i = 0; i < out.length; i++) {
      total += out[i].end - out[i].start;
      if (i > 0) expect(out[i].start).toBe(out[i - 1].end);
    }
    expect(total).toBe(1000);
  });
});
