// Search-result summaries and their sort orders.

import type { JTrace } from './types';
import { buildTrace } from './trace';
import type { ServiceCount } from './trace';

export interface TraceSummary {
  traceID: string;
  rootService: string;
  rootOperation: string;
  startTime: number;
  duration: number;
  spanCount: number;
  errorCount: number;
  services: ServiceCount[];
  raw: JTrace;
}

export function summarize(raw: JTrace): TraceSummary {
  const m = buildTrace(raw);
  return {
    traceID: m.traceID,
    rootService: m.rootService,
    rootOperation: m.rootOperation,
    startTime: m.startTime,
    duration: m.duration,
    spanCount: m.spans.length,
    errorCount: m.errorCount,
    services: m.services,
    raw,
  };
}

export const SORTS = [
  { value: 'recent', label: 'Most recent' },
  { value: 'oldest', label: 'Oldest first' },
  { value: 'longest', label: 'Longest first' },
  { value: 'shortest', label: 'Shortest first' },
  { value: 'most-spans', label: 'Most spans' },
  { value: 'least-spans', label: 'Least spans' },
  { value: 'most-errors', label: 'Most errors' },
] as const;

export type SortKey = (typeof SORTS)[number]['value'];

export function isSortKey(v: string): v is SortKey {
  return SORTS.some((s) => s.value === v);
}

export function sortSummaries(list: TraceSummary[], key: SortKey): TraceSummary[] {
  const out = [...list];
  const tie = (a: TraceSummary, b: TraceSummary) => b.startTime - a.startTime || a.traceID.localeCompare(b.traceID);
  const cmp: Record<SortKey, (a: TraceSummary, b: TraceSummary) => number> = {
    recent: tie,
    oldest: (a, b) => a.startTime - b.startTime || a.traceID.localeCompare(b.traceID),
    longest: (a, b) => b.duration - a.duration || tie(a, b),
    shortest: (a, b) => a.duration - b.duration || tie(a, b),
    'most-spans': (a, b) => b.spanCount - a.spanCount || tie(a, b),
    'least-spans': (a, b) => a.spanCount - b.spanCount || tie(a, b),
    'most-errors': (a, b) => b.errorCount - a.errorCount || tie(a, b),
  };
  out.sort(cmp[key]);
  return out;
}
