// The trace model: a Jaeger JSON trace turned into a tree, once, with
// everything the views need precomputed (DFS order, depth, subtree sizes).

import type { JProcess, JSpan, JTrace, KeyValue } from './types';

export interface SpanNode {
  /** Position in `TraceModel.spans` (DFS order). */
  index: number;
  /** Unique key within the trace: the span ID, suffixed when the ID is duplicated. */
  key: string;
  spanID: string;
  parentIndex: number;
  children: number[];
  depth: number;
  /** Number of spans in this span's subtree, itself included. */
  subtreeSize: number;
  service: string;
  operation: string;
  startTime: number;
  duration: number;
  endTime: number;
  hasError: boolean;
  process: JProcess;
  span: JSpan;
  warnings: string[];
}

export interface ServiceCount {
  name: string;
  count: number;
}

export interface TraceModel {
  traceID: string;
  /** All spans in depth-first order; roots sorted by start time, children too. */
  spans: SpanNode[];
  roots: number[];
  byKey: Map<string, number>;
  /** First span with a given span ID (links point at IDs, not keys). */
  bySpanID: Map<string, number>;
  startTime: number;
  endTime: number;
  duration: number;
  depth: number;
  services: ServiceCount[];
  errorCount: number;
  rootService: string;
  rootOperation: string;
  warnings: string[];
  raw: JTrace;
}

/** Whether a span is an error, by the `error` tag or the OTel status code. */
export function spanHasError(tags: KeyValue[] | null | undefined): boolean {
  if (!tags) return false;
  for (const t of tags) {
    if (t.key === 'error') {
      const v = t.value;
      if (v === true || v === 'true' || v === 1) return true;
    } else if (t.key === 'otel.status_code' && t.value === 'ERROR') {
      return true;
    }
  }
  return false;
}

function parentOf(span: JSpan): string | null {
  const refs = span.references;
  if (!refs || refs.length === 0) return null;
  // CHILD_OF in the same trace wins; otherwise the first same-trace reference.
  let fallback: string | null = null;
  for (const r of refs) {
    if (r.traceID && span.traceID && r.traceID !== span.traceID) continue;
    if (r.refType === 'CHILD_OF') return r.spanID;
    if (fallback === null) fallback = r.spanID;
  }
  return fallback;
}

const NO_WARNINGS: string[] = [];

const UNKNOWN_PROCESS: JProcess = { serviceName: 'unknown-service', tags: [] };

/**
 * Builds the tree. Tolerates what real traces contain: spans whose parent is
 * missing (they become roots, with a warning), duplicate span IDs (later
 * copies get a suffixed key), reference cycles (broken, with a warning) and
 * missing processes.
 */
export function buildTrace(raw: JTrace): TraceModel {
  const input = Array.isArray(raw.spans) ? raw.spans : [];
  const processes = raw.processes ?? {};
  const traceWarnings: string[] = [...(raw.warnings ?? [])];

  interface Tmp {
    key: string;
    span: JSpan;
    process: JProcess;
    parentKey: string | null;
    children: number[];
    warnings: string[];
  }
  const tmp: Tmp[] = [];
  const keyToTmp = new Map<string, number>();
  const firstBySpanID = new Map<string, number>();
  const dupCount = new Map<string, number>();

  for (const span of input) {
    if (!span || typeof span.spanID !== 'string') continue;
    let key = span.spanID;
    // Most spans have no warnings: share one empty list until one is added.
    let warnings: string[] = span.warnings?.length ? [...span.warnings] : NO_WARNINGS;
    if (keyToTmp.has(key)) {
      const n = (dupCount.get(key) ?? 1) + 1;
      dupCount.set(key, n);
      key = `${span.spanID}~${n}`;
      warnings = [...warnings, `duplicate span ID ${span.spanID} (copy ${n})`];
    }
    const process = span.process ?? (span.processID ? processes[span.processID] : undefined) ?? UNKNOWN_PROCESS;
    keyToTmp.set(key, tmp.length);
    if (!firstBySpanID.has(span.spanID)) firstBySpanID.set(span.spanID, tmp.length);
    tmp.push({ key, span, process, parentKey: parentOf(span), children: [], warnings });
  }
  if (dupCount.size > 0) {
    traceWarnings.push(`${dupCount.size} span ID(s) appear more than once`);
  }

  const rootTmp: number[] = [];
  let orphans = 0;
  for (let i = 0; i < tmp.length; i++) {
    const t = tmp[i];
    if (t.parentKey === null) {
      rootTmp.push(i);
      continue;
    }
    const p = firstBySpanID.get(t.parentKey);
    if (p === undefined || p === i) {
      orphans++;
      t.warnings = [...t.warnings, `parent span ${t.parentKey} is not in the trace`];
      rootTmp.push(i);
      continue;
    }
    tmp[p].children.push(i);
  }
  if (orphans > 0) traceWarnings.push(`${orphans} span(s) reference a parent that is not in the trace`);

  const startOf = (i: number) => tmp[i].span.startTime;
  const byStart = (a: number, b: number) => startOf(a) - startOf(b) || a - b;
  for (const t of tmp) if (t.children.length > 1) t.children.sort(byStart);

  // Iterative DFS (deep traces would overflow the stack with recursion).
  const spans: SpanNode[] = [];
  const visited = new Uint8Array(tmp.length);
  const tmpToIndex = new Int32Array(tmp.length).fill(-1);

  const walk = (rootI: number) => {
    const stack: [number, number][] = [[rootI, -1]];
    for (let top = stack.pop(); top; top = stack.pop()) {
      const [ti, parentIndex] = top;
      if (visited[ti]) continue;
      visited[ti] = 1;
      const t = tmp[ti];
      const s = t.span;
      const start = Number(s.startTime) || 0;
      const dur = Math.max(0, Number(s.duration) || 0);
      const node: SpanNode = {
        index: spans.length,
        key: t.key,
        spanID: s.spanID,
        parentIndex,
        children: [],
        depth: parentIndex >= 0 ? spans[parentIndex].depth + 1 : 0,
        subtreeSize: 1,
        service: t.process.serviceName || 'unknown-service',
        operation: s.operationName ?? '',
        startTime: start,
        duration: dur,
        endTime: start + dur,
        hasError: spanHasError(s.tags),
        process: t.process,
        span: s,
        warnings: t.warnings,
      };
      tmpToIndex[ti] = node.index;
      spans.push(node);
      if (parentIndex >= 0) spans[parentIndex].children.push(node.index);
      for (let c = t.children.length - 1; c >= 0; c--) stack.push([t.children[c], node.index]);
    }
  };

  rootTmp.sort(byStart);
  for (const r of rootTmp) walk(r);
  // Anything not reached sits on a reference cycle: break it at the earliest span.
  let cyclic = 0;
  const rest: number[] = [];
  for (let i = 0; i < tmp.length; i++) if (!visited[i]) rest.push(i);
  rest.sort(byStart);
  for (const r of rest) {
    if (visited[r]) continue;
    cyclic++;
    tmp[r].warnings = [...tmp[r].warnings, 'span is part of a reference cycle'];
    walk(r);
  }
  if (cyclic > 0) traceWarnings.push(`${cyclic} reference cycle(s) broken`);

  // Subtree sizes: children come after parents in DFS order.
  for (let i = spans.length - 1; i >= 0; i--) {
    const p = spans[i].parentIndex;
    if (p >= 0) spans[p].subtreeSize += spans[i].subtreeSize;
  }

  const roots: number[] = [];
  const byKey = new Map<string, number>();
  const bySpanID = new Map<string, number>();
  let startTime = Infinity;
  let endTime = -Infinity;
  let depth = 0;
  let errorCount = 0;
  const svc = new Map<string, number>();
  for (const n of spans) {
    if (n.parentIndex < 0) roots.push(n.index);
    byKey.set(n.key, n.index);
    if (!bySpanID.has(n.spanID)) bySpanID.set(n.spanID, n.index);
    if (n.startTime < startTime) startTime = n.startTime;
    if (n.endTime > endTime) endTime = n.endTime;
    if (n.depth + 1 > depth) depth = n.depth + 1;
    if (n.hasError) errorCount++;
    svc.set(n.service, (svc.get(n.service) ?? 0) + 1);
  }
  if (!spans.length) {
    startTime = 0;
    endTime = 0;
  }
  const services = [...svc.entries()].map(([name, count]) => ({ name, count })).sort((a, b) => b.count - a.count || a.name.localeCompare(b.name));
  const root = roots.length ? spans[roots[0]] : undefined;
  return {
    traceID: raw.traceID ?? root?.span.traceID ?? '',
    spans,
    roots,
    byKey,
    bySpanID,
    startTime,
    endTime,
    duration: endTime - startTime,
    depth,
    services,
    errorCount,
    rootService: root?.service ?? 'unknown-service',
    rootOperation: root?.operation ?? '',
    warnings: traceWarnings,
    raw,
  };
}

/** Keys of the ancestors of a span, nearest first. */
export function ancestors(model: TraceModel, index: number): number[] {
  const out: number[] = [];
  let p = model.spans[index]?.parentIndex ?? -1;
  while (p >= 0) {
    out.push(p);
    p = model.spans[p].parentIndex;
  }
  return out;
}

/**
 * The rows shown by the timeline: DFS order, skipping the descendants of
 * collapsed spans, and (to cut noise) every non-root span shorter than
 * `minDuration` µs together with its subtree. O(rows shown + rows skipped
 * as whole subtrees).
 */
export function visibleRows(model: TraceModel, collapsed: ReadonlySet<number>, minDuration = 0): number[] {
  const out: number[] = [];
  const n = model.spans.length;
  let i = 0;
  while (i < n) {
    const s = model.spans[i];
    if (minDuration > 0 && s.parentIndex >= 0 && s.duration < minDuration) {
      i += s.subtreeSize;
      continue;
    }
    out.push(i);
    i = collapsed.has(i) ? i + s.subtreeSize : i + 1;
  }
  return out;
}

/** Value of a tag as display text. */
export function tagText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}
