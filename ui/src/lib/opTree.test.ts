import { describe, expect, it } from 'vitest';
import { buildTrace } from './trace';
import { diffTrees, flattenDiff, opTree, summarizeDiff } from './opTree';
import { span, trace } from './testdata';

describe('opTree and diff', () => {
  const a = buildTrace(
    trace([
      span('r', null, 0, 100, 'GET /', 'p1'),
      span('b1', 'r', 1, 10, 'query', 'p2'),
      span('b2', 'r', 20, 10, 'query', 'p2'),
      span('c', 'r', 40, 10, 'cache', 'p2'),
    ]),
  );
  const b = buildTrace(
    trace([
      span('r', null, 0, 120, 'GET /', 'p1'),
      span('b1', 'r', 1, 10, 'query', 'p2'),
      span('d', 'r', 40, 10, 'SELECT', 'p3'),
      span('e', 'd', 41, 5, 'disk', 'p3'),
    ]),
  );

  it('aggregates spans by (service, operation) path', () => {
    const t = opTree(a);
    expect(t.length).toBe(1);
    expect(t[0].count).toBe(1);
    expect(t[0].children.map((c) => [c.service, c.operation, c.count, c.totalDuration])).toEqual([
      ['backend', 'query', 2, 20],
      ['backend', 'cache', 1, 10],
    ]);
  });

  it('diffs two call trees', () => {
    const d = flattenDiff(diffTrees(opTree(a), opTree(b)));
    expect(d.map((n) => [n.service, n.operation, n.depth, n.status])).toEqual([
      ['frontend', 'GET /', 0, 'same'],
      ['backend', 'query', 1, 'changed'],
      ['backend', 'cache', 1, 'removed'],
      ['db', 'SELECT', 1, 'added'],
      ['db', 'disk', 2, 'added'],
    ]);
    expect(d[0].a!.totalDuration).toBe(100);
    expect(d[0].b!.totalDuration).toBe(120);
    expect(d[1].a!.count).toBe(2);
    expect(d[1].b!.count).toBe(1);
    expect(summarizeDiff(diffTrees(opTree(a), opTree(b)))).toEqual({ same: 1, changed: 1, removed: 1, added: 2 });
  });

  it('reports identical traces as all same', () => {
    const s = summarizeDiff(diffTrees(opTree(a), opTree(a)));
    expect(s).toEqual({ same: 3, changed: 0, removed: 0, added: 0 });
  });
});
