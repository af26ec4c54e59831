// Layered layout of the service dependency graph: services sorted into
// columns by topological depth (cycles broken), ordered within a column by
// the barycentre of their neighbours, tall columns wrapped.

export interface DepLink {
  parent: string;
  child: string;
  callCount: number;
}

export interface DepNode {
  id: string;
  layer: number;
  x: number;
  y: number;
  calls: number;
}

export interface DepEdge {
  parent: string;
  child: string;
  calls: number;
  /** Points backwards (part of a cycle) or to itself. */
  back: boolean;
}

export interface DepLayout {
  nodes: DepNode[];
  edges: DepEdge[];
  width: number;
  height: number;
  layers: number;
}

export interface LayoutOptions {
  colWidth?: number;
  rowHeight?: number;
  maxPerColumn?: number;
}

function addTo(m: Map<string, string[]>, k: string, v: string) {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

/** Merges duplicate (parent, child) pairs by summing their counts. */
export function mergeLinks(links: DepLink[]): DepLink[] {
  const m = new Map<string, DepLink>();
  for (const l of links) {
    const k = `${l.parent}\u0000${l.child}`;
    const prev = m.get(k);
    if (prev) prev.callCount += l.callCount;
    else m.set(k, { ...l });
  }
  return [...m.values()];
}

/** Topological depth of each service: sources are 0, others 1 + max depth of their parents, cycles broken by DFS. */
export function layers(links: DepLink[]): Map<string, number> {
  const nodes = new Set<string>();
  const out = new Map<string, string[]>();
  const indeg = new Map<string, number>();
  for (const l of links) {
    nodes.add(l.parent);
    nodes.add(l.child);
  }
  for (const n of nodes) {
    out.set(n, []);
    indeg.set(n, 0);
  }
  // Break cycles: keep only edges that are not back edges of a DFS (started from sources first).
  const state = new Map<string, 0 | 1 | 2>();
  const forward: [string, string][] = [];
  const adj = new Map<string, string[]>();
  for (const n of nodes) adj.set(n, []);
  for (const l of links) if (l.parent !== l.child) adj.get(l.parent)?.push(l.child);
  const hasParent = new Set(links.filter((l) => l.parent !== l.child).map((l) => l.child));
  const starts = [...nodes].sort((a, b) => Number(hasParent.has(a)) - Number(hasParent.has(b)) || a.localeCompare(b));
  for (const s of starts) {
    if (state.get(s)) continue;
    const stack: [string, number][] = [[s, 0]];
    state.set(s, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const kids = adj.get(top[0]) ?? [];
      if (top[1] < kids.length) {
        const c = kids[top[1]++];
        const st = state.get(c) ?? 0;
        if (st === 1) continue; // back edge
        forward.push([top[0], c]);
        if (st === 0) {
          state.set(c, 1);
          stack.push([c, 0]);
        }
      } else {
        state.set(top[0], 2);
        stack.pop();
      }
    }
  }
  for (const [p, c] of forward) {
    out.get(p)?.push(c);
    indeg.set(c, (indeg.get(c) ?? 0) + 1);
  }
  // Longest path from the sources (Kahn's order).
  const depth = new Map<string, number>();
  const queue = [...nodes].filter((n) => indeg.get(n) === 0).sort();
  for (const n of queue) depth.set(n, 0);
  for (let k = 0; k < queue.length; k++) {
    const n = queue[k];
    for (const c of out.get(n) ?? []) {
      depth.set(c, Math.max(depth.get(c) ?? 0, (depth.get(n) ?? 0) + 1));
      const d = (indeg.get(c) ?? 1) - 1;
      indeg.set(c, d);
      if (d === 0) queue.push(c);
    }
  }
  return depth;
}

export function layoutDependencies(input: DepLink[], opts: LayoutOptions = {}): DepLayout {
  const colWidth = opts.colWidth ?? 260;
  const rowHeight = opts.rowHeight ?? 56;
  const maxPerColumn = opts.maxPerColumn ?? 30;
  const links = mergeLinks(input);
  const depth = layers(links);
  const calls = new Map<string, number>();
  const neighbours = new Map<string, string[]>();
  for (const l of links) {
    calls.set(l.child, (calls.get(l.child) ?? 0) + l.callCount);
    if (!calls.has(l.parent)) calls.set(l.parent, 0);
    if (l.parent === l.child) continue;
    addTo(neighbours, l.parent, l.child);
    addTo(neighbours, l.child, l.parent);
  }
  const nLayers = depth.size ? Math.max(...depth.values()) + 1 : 0;
  const cols: string[][] = Array.from({ length: nLayers }, () => []);
  for (const [n, d] of [...depth.entries()].sort((a, b) => a[0].localeCompare(b[0]))) cols[d].push(n);

  // Barycentre ordering, a few sweeps left-to-right then right-to-left.
  const pos = new Map<string, number>();
  const setPos = () => cols.forEach((c) => c.forEach((n, i) => pos.set(n, i / Math.max(1, c.length - 1))));
  setPos();
  for (let sweep = 0; sweep < 4; sweep++) {
    const order = sweep % 2 === 0 ? cols.map((_, i) => i) : cols.map((_, i) => cols.length - 1 - i);
    for (const li of order) {
      const bary = new Map<string, number>();
      for (const n of cols[li]) {
        const ns = (neighbours.get(n) ?? []).filter((m) => depth.get(m) !== li);
        bary.set(n, ns.length ? ns.reduce((s, m) => s + (pos.get(m) ?? 0), 0) / ns.length : (pos.get(n) ?? 0));
      }
      cols[li].sort((a, b) => (bary.get(a) ?? 0) - (bary.get(b) ?? 0) || a.localeCompare(b));
      cols[li].forEach((n, i) => pos.set(n, i / Math.max(1, cols[li].length - 1)));
    }
  }

  // Place, wrapping tall columns into several sub-columns.
  const nodes: DepNode[] = [];
  let x = 0;
  let height = 0;
  const tallest = Math.min(maxPerColumn, Math.max(1, ...cols.map((c) => c.length)));
  for (let li = 0; li < cols.length; li++) {
    const c = cols[li];
    const sub = Math.max(1, Math.ceil(c.length / maxPerColumn));
    const perCol = Math.ceil(c.length / sub);
    for (let i = 0; i < c.length; i++) {
      const sc = Math.floor(i / perCol);
      const row = i % perCol;
      // Centre short columns vertically against the tallest one.
      const offset = ((tallest - Math.min(perCol, c.length - sc * perCol)) * rowHeight) / 2;
      const y = offset + row * rowHeight;
      nodes.push({ id: c[i], layer: li, x: x + sc * colWidth * 0.8, y, calls: calls.get(c[i]) ?? 0 });
      height = Math.max(height, y + rowHeight);
    }
    x += colWidth + (sub - 1) * colWidth * 0.8;
  }
  const edges: DepEdge[] = links.map((l) => ({
    parent: l.parent,
    child: l.child,
    calls: l.callCount,
    back: l.parent === l.child || (depth.get(l.child) ?? 0) <= (depth.get(l.parent) ?? 0),
  }));
  return { nodes, edges, width: x, height, layers: nLayers };
}

/** Services adjacent to `service` (callers and callees), itself included. */
export function neighbourhood(links: DepLink[], service: string): Set<string> {
  const s = new Set<string>([service]);
  for (const l of links) {
    if (l.parent === service) s.add(l.child);
    if (l.child === service) s.add(l.parent);
  }
  return s;
}
