// Traces opened from a file live here, in memory, so they can be viewed
// without the server. Keyed by trace ID.

import type { JTrace } from './lib/types';

interface LocalSet {
  fileName: string;
  traces: JTrace[];
}

let current: LocalSet | null = null;
const byId = new Map<string, JTrace>();
const listeners = new Set<() => void>();

export function setLocalTraces(fileName: string, traces: JTrace[]) {
  current = { fileName, traces };
  for (const t of traces) byId.set(t.traceID, t);
  for (const l of listeners) l();
}

export function clearLocalTraces() {
  current = null;
  for (const l of listeners) l();
}

export function getLocalSet(): LocalSet | null {
  return current;
}

export function getLocalTrace(id: string): JTrace | undefined {
  return byId.get(id);
}

export function subscribeLocal(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
