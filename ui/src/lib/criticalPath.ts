// Critical path: the chain of work that determined the trace's end-to-end
// latency. Walk back from the root's end: at each moment, the span that is on
// the path is the child that finished last before the cursor; where no child
// was running, the parent itself is on the path.

import type { TraceModel } from './trace';

export interface CriticalSegment {
  index: number;
  start: number;
  end: number;
}

/**
 * Computes the critical path of the tree under `rootIndex` (the first root by
 * default). Children are clipped to their parent's interval first; children
 * that start after their parent ends are ignored. Returns segments ordered by
 * start time.
 */
export function criticalPath(model: TraceModel, rootIndex?: number): CriticalSegment[] {
  const root = rootIndex ?? model.roots[0];
  if (root === undefined || !model.spans[root]) return [];
  const spans = model.spans;

  // Clipped intervals, computed top-down.
  const clipStart = new Float64Array(spans.length);
  const clipEnd = new Float64Array(spans.length);
  const live = new Uint8Array(spans.length);
  const order: number[] = [root];
  clipStart[root] = spans[root].startTime;
  clipEnd[root] = spans[root].endTime;
  live[root] = 1;
  for (let k = 0; k < order.length; k++) {
    const p = order[k];
    for (const c of spans[p].children) {
      const s = spans[c];
      if (s.startTime > clipEnd[p]) continue;
      clipStart[c] = Math.max(s.startTime, clipStart[p]);
      clipEnd[c] = Math.min(s.endTime, clipEnd[p]);
      if (clipEnd[c] < clipStart[c]) continue;
      live[c] = 1;
      order.push(c);
    }
  }

  const lastFinishingChild = (p: number, before: number | null): number => {
    let best = -1;
    for (const c of spans[p].children) {
      if (!live[c]) continue;
      if (before !== null && !(clipEnd[c] < before)) continue;
      if (best < 0 || clipEnd[c] > clipEnd[best]) best = c;
    }
    return best;
  };

  const out: CriticalSegment[] = [];
  let current = root;
  let returning: number | null = null;
  // Each step either descends into a child or climbs to the parent, and the
  // cursor only moves backwards; the cap guards against malformed input.
  const cap = spans.length * 4 + 10;
  for (let step = 0; step < cap; step++) {
    const end = returning ?? clipEnd[current];
    const child = lastFinishingChild(current, returning);
    if (child >= 0) {
      if (clipEnd[child] < end) out.push({ index: current, start: clipEnd[child], end });
      current = child;
      returning = null;
      continue;
    }
    if (clipStart[current] < end) out.push({ index: current, start: clipStart[current], end });
    if (current === root) break;
    const parent = spans[current].parentIndex;
    returning = clipStart[current];
    current = parent;
  }
  out.sort((a, b) => a.start - b.start);
  return out;
}

/** Groups segments by span index. */
export function segmentsBySpan(segments: CriticalSegment[]): Map<number, CriticalSegment[]> {
  const m = new Map<number, CriticalSegment[]>();
  for (const s of segments) {
    const list = m.get(s.index);
    if (list) list.push(s);
    else m.set(s.index, [s]);
  }
  return m;
}
