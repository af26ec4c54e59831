// The trace's call tree aggregated by (service, operation) path: all spans
// reached by the same path from a root collapse into one node. Used by the
// trace graph and the structural diff.

import type { TraceModel } from './trace';

export interface OpNode {
  /** Path key: `service\u0001operation` segments joined by `\u0002`. */
  path: string;
  service: string;
  operation: string;
  depth: number;
  count: number;
  errors: number;
  totalDuration: number;
  children: OpNode[];
}

const SEG = '\u0001';
const SEP = '\u0002';

export function opTree(model: TraceModel): OpNode[] {
  const nodeOf = new Array<OpNode | undefined>(model.spans.length);
  const roots: OpNode[] = [];
  const rootByPath = new Map<string, OpNode>();
  const childIndex = new Map<OpNode, Map<string, OpNode>>();
  for (const n of model.spans) {
    const seg = `${n.service}${SEG}${n.operation}`;
    const parent = n.parentIndex >= 0 ? nodeOf[n.parentIndex] : undefined;
    let node: OpNode | undefined;
    if (parent) {
      let idx = childIndex.get(parent);
      if (!idx) {
        idx = new Map();
        childIndex.set(parent, idx);
      }
      node = idx.get(seg);
      if (!node) {
        node = mk(`${parent.path}${SEP}${seg}`, n.service, n.operation, parent.depth + 1);
        idx.set(seg, node);
        parent.children.push(node);
      }
    } else {
      node = rootByPath.get(seg);
      if (!node) {
        node = mk(seg, n.service, n.operation, 0);
        rootByPath.set(seg, node);
        roots.push(node);
      }
    }
    node.count++;
    if (n.hasError) node.errors++;
    node.totalDuration += n.duration;
    nodeOf[n.index] = node;
  }
  return roots;
}

function mk(path: string, service: string, operation: string, depth: number): OpNode {
  return { path, service, operation, depth, count: 0, errors: 0, totalDuration: 0, children: [] };
}

/** Depth-first list of all nodes. */
export function flattenOps(roots: OpNode[]): OpNode[] {
  const out: OpNode[] = [];
  const stack = [...roots].reverse();
  for (let n = stack.pop(); n; n = stack.pop()) {
    out.push(n);
    for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i]);
  }
  return out;
}

export type DiffStatus = 'same' | 'added' | 'removed' | 'changed';

export interface DiffNode {
  path: string;
  service: string;
  operation: string;
  depth: number;
  status: DiffStatus;
  a: { count: number; errors: number; totalDuration: number } | null;
  b: { count: number; errors: number; totalDuration: number } | null;
  children: DiffNode[];
}

/**
 * Structural diff of two traces' call trees. A node present in both is
 * `changed` when its span count or error count differs, `same` otherwise;
 * nodes only in A are `removed`, only in B `added`. Children keep A's order,
 * then B's new ones.
 */
export function diffTrees(a: OpNode[], b: OpNode[]): DiffNode[] {
  const merge = (xs: OpNode[], ys: OpNode[], depth: number): DiffNode[] => {
    const out: DiffNode[] = [];
    const yByPath = new Map(ys.map((y) => [y.path, y]));
    const seen = new Set<string>();
    for (const x of xs) {
      const y = yByPath.get(x.path);
      seen.add(x.path);
      out.push(pair(x, y ?? null, depth));
    }
    for (const y of ys) if (!seen.has(y.path)) out.push(pair(null, y, depth));
    return out;
  };
  const stats = (n: OpNode) => ({ count: n.count, errors: n.errors, totalDuration: n.totalDuration });
  const pair = (x: OpNode | null, y: OpNode | null, depth: number): DiffNode => {
    const any = x ?? y;
    if (!any) throw new Error('diff pair without either side');
    const status: DiffStatus = !x ? 'added' : !y ? 'removed' : x.count !== y.count || x.errors !== y.errors ? 'changed' : 'same';
    return {
      path: any.path,
      service: any.service,
      operation: any.operation,
      depth,
      status,
      a: x ? stats(x) : null,
      b: y ? stats(y) : null,
      children: merge(x?.children ?? [], y?.children ?? [], depth + 1),
    };
  };
  return merge(a, b, 0);
}

export function flattenDiff(roots: DiffNode[]): DiffNode[] {
  const out: DiffNode[] = [];
  const stack = [...roots].reverse();
  for (let n = stack.pop(); n; n = stack.pop()) {
    out.push(n);
    for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i]);
  }
  return out;
}

export interface DiffSummary {
  same: number;
  added: number;
  removed: number;
  changed: number;
}

export function summarizeDiff(roots: DiffNode[]): DiffSummary {
  const s: DiffSummary = { same: 0, added: 0, removed: 0, changed: 0 };
  for (const n of flattenDiff(roots)) s[n.status]++;
  return s;
}
