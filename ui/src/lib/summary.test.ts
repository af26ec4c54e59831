import { describe, expect, it } from 'vitest';
import { sortSummaries, summarize } from './summary';
import { span, trace } from './testdata';

describe('search result summaries', () => {
  const t1 = { ...trace([span('a', null, 100, 50), span('b', 'a', 110, 5, 'b', 'p2', { tags: [{ key: 'error', value: 'true' }] })]), traceID: 'x1' };
  const t2 = { ...trace([span('a', null, 200, 10)]), traceID: 'x2' };
  const t3 = { ...trace([span('a', null, 50, 500), span('b', 'a', 60, 5), span('c', 'a', 70, 5)]), traceID: 'x3' };
  const list = [t1, t2, t3].map(summarize);

  it('summarizes a trace', () => {
    expect(list[0]).toMatchObject({ traceID: 'x1', rootService: 'frontend', rootOperation: 'a', spanCount: 2, errorCount: 1, duration: 50, startTime: 100 });
    expect(list[0].services).toEqual([
      { name: 'backend', count: 1 },
      { name: 'frontend', count: 1 },
    ]);
  });

  it('sorts', () => {
    const ids = (k: Parameters<typeof sortSummaries>[1]) => sortSummaries(list, k).map((s) => s.traceID);
    expect(ids('recent')).toEqual(['x2', 'x1', 'x3']);
    expect(ids('oldest')).toEqual(['x3', 'x1', 'x2']);
    expect(ids('longest')).toEqual(['x3', 'x1', 'x2']);
    expect(ids('shortest')).toEqual(['x2', 'x1', 'x3']);
    expect(ids('most-spans')).toEqual(['x3', 'x1', 'x2']);
    expect(ids('least-spans')).toEqual(['x2', 'x1', 'x3']);
    expect(ids('most-errors')).toEqual(['x1', 'x2', 'x3']);
  });
});
