// Per service / operation statistics with self time.

import type { TraceModel } from './trace';

/** Time a span spent not waiting on any of its children (children clipped to the span). */
export function selfTimes(model: TraceModel): Float64Array {
  const out = new Float64Array(model.spans.length);
  for (const n of model.spans) {
    if (!n.children.length) {
      out[n.index] = n.duration;
      continue;
    }
    const iv: [number, number][] = [];
    for (const c of n.children) {
      const s = model.spans[c];
      const a = Math.max(s.startTime, n.startTime);
      const b = Math.min(s.endTime, n.endTime);
      if (b > a) iv.push([a, b]);
    }
    iv.sort((x, y) => x[0] - y[0]);
    let covered = 0;
    let curA = -Infinity;
    let curB = -Infinity;
    for (const [a, b] of iv) {
      if (a > curB) {
        if (curB > curA) covered += curB - curA;
        curA = a;
        curB = b;
      } else if (b > curB) {
        curB = b;
      }
    }
    if (curB > curA) covered += curB - curA;
    out[n.index] = Math.max(0, n.duration - covered);
  }
  return out;
}

export interface StatRow {
  service: string;
  operation: string;
  count: number;
  errors: number;
  total: number;
  avg: number;
  min: number;
  max: number;
  selfTotal: number;
  selfAvg: number;
  /** Self time as a share of the trace duration, 0..1. */
  selfShare: number;
}

export type StatsGrouping = 'service-operation' | 'service';

/** Statistics grouped by service and operation (or by service only). Sorted by self time, largest first. */
export function traceStats(model: TraceModel, grouping: StatsGrouping = 'service-operation'): StatRow[] {
  const self = selfTimes(model);
  const m = new Map<string, StatRow>();
  for (const n of model.spans) {
    const op = grouping === 'service' ? '' : n.operation;
    const key = `${n.service}\u0000${op}`;
    let r = m.get(key);
    if (!r) {
      r = {
        service: n.service,
        operation: op,
        count: 0,
        errors: 0,
        total: 0,
        avg: 0,
        min: Infinity,
        max: -Infinity,
        selfTotal: 0,
        selfAvg: 0,
        selfShare: 0,
      };
      m.set(key, r);
    }
    r.count++;
    if (n.hasError) r.errors++;
    r.total += n.duration;
    r.min = Math.min(r.min, n.duration);
    r.max = Math.max(r.max, n.duration);
    r.selfTotal += self[n.index];
  }
  const rows = [...m.values()];
  for (const r of rows) {
    r.avg = r.total / r.count;
    r.selfAvg = r.selfTotal / r.count;
    r.selfShare = model.duration > 0 ? r.selfTotal / model.duration : 0;
  }
  rows.sort((a, b) => b.selfTotal - a.selfTotal || a.service.localeCompare(b.service) || a.operation.localeCompare(b.operation));
  return rows;
}
