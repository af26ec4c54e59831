import { describe, expect, it } from 'vitest';
import { layers, layoutDependencies, mergeLinks, neighbourhood } from './depLayout';

const l = (parent: string, child: string, callCount = 1) => ({ parent, child, callCount });

describe('dependency layout', () => {
  it('assigns the longest-path depth', () => {
    const d = layers([l('fe', 'api'), l('api', 'db'), l('fe', 'db'), l('api', 'cache')]);
    expect(Object.fromEntries(d)).toEqual({ fe: 0, api: 1, db: 2, cache: 2 });
  });

  it('breaks cycles and ignores self loops', () => {
    const d = layers([l('fe', 'a'), l('a', 'b'), l('b', 'a'), l('b', 'b')]);
    expect(Object.fromEntries(d)).toEqual({ fe: 0, a: 1, b: 2 });
    const d2 = layers([l('x', 'y'), l('y', 'x')]);
    expect(d2.size).toBe(2);
    expect(new Set(d2.values())).toEqual(new Set([0, 1]));
  });

  it('merges duplicate links and marks back edges', () => {
    expect(mergeLinks([l('a', 'b', 2), l('a', 'b', 3)])).toEqual([l('a', 'b', 5)]);
    const lay = layoutDependencies([l('a', 'b', 2), l('b', 'a', 1), l('a', 'b', 3)]);
    expect(lay.layers).toBe(2);
    expect(lay.edges).toEqual([
      { parent: 'a', child: 'b', calls: 5, back: false },
      { parent: 'b', child: 'a', calls: 1, back: true },
    ]);
    const a = lay.nodes.find((n) => n.id === 'a')!;
    const b = lay.nodes.find((n) => n.id === 'b')!;
    expect(a.x).toBeLessThan(b.x);
  });

  it('wraps tall columns and keeps every service', () => {
    const links = Array.from({ length: 100 }, (_, i) => l('root', `svc-${i}`));
    const lay = layoutDependencies(links, { maxPerColumn: 30 });
    expect(lay.nodes.length).toBe(101);
    const xs = new Set(lay.nodes.filter((n) => n.layer === 1).map((n) => n.x));
    expect(xs.size).toBe(4);
    const ids = new Set(lay.nodes.map((n) => `${n.x},${n.y}`));
    expect(ids.size).toBe(101);
  });

  it('finds neighbours', () => {
    expect(neighbourhood([l('a', 'b'), l('b', 'c'), l('d', 'b'), l('c', 'e')], 'b')).toEqual(new Set(['a', 'b', 'c', 'd']));
  });
});
