// The search query: the URL is its source of truth. It round-trips through
// `/search?...` (Jaeger UI compatible: `tags` is a JSON object) and turns into
// the `/api/traces` parameters.

import { parseLogfmt, toLogfmt } from './logfmt';
import { parseGoDuration } from './format';

export interface SearchQuery {
  service: string;
  operation: string;
  /** logfmt text as typed in the form. */
  tags: string;
  filter: string;
  lookback: string;
  /** µs since the epoch, as text; only used when lookback is `custom`. */
  start: string;
  end: string;
  minDuration: string;
  maxDuration: string;
  minTraceDuration: string;
  maxTraceDuration: string;
  limit: number;
}

export const DEFAULT_LIMIT = 20;
export const MAX_LIMIT = 1500;

export const LOOKBACKS: { value: string; label: string }[] = [
  { value: '5m', label: 'Last 5 minutes' },
  { value: '15m', label: 'Last 15 minutes' },
  { value: '30m', label: 'Last 30 minutes' },
  { value: '1h', label: 'Last hour' },
  { value: '2h', label: 'Last 2 hours' },
  { value: '3h', label: 'Last 3 hours' },
  { value: '6h', label: 'Last 6 hours' },
  { value: '12h', label: 'Last 12 hours' },
  { value: '24h', label: 'Last 24 hours' },
  { value: '2d', label: 'Last 2 days' },
  { value: '7d', label: 'Last 7 days' },
  { value: 'custom', label: 'Custom time range' },
];

export function defaultQuery(): SearchQuery {
  return {
    service: '',
    operation: '',
    tags: '',
    filter: '',
    lookback: '1h',
    start: '',
    end: '',
    minDuration: '',
    maxDuration: '',
    minTraceDuration: '',
    maxTraceDuration: '',
    limit: DEFAULT_LIMIT,
  };
}

/** Lookback (`15m`, `1h`, `2d`, `1w`) in µs, or null. */
export function lookbackMicros(lookback: string): number | null {
  const m = /^(\d+)(m|h|d|w)$/.exec(lookback.trim());
  if (!m) return null;
  const n = parseInt(m[1], 10);
  const unit = { m: 60, h: 3600, d: 86400, w: 604800 }[m[2] as 'm' | 'h' | 'd' | 'w'];
  return n * unit * 1_000_000;
}

function tagsFromUrl(v: string): string {
  const t = v.trim();
  if (!t.startsWith('{')) return t;
  try {
    const obj: unknown = JSON.parse(t);
    if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
      const out: Record<string, string> = {};
      for (const [k, val] of Object.entries(obj as Record<string, unknown>)) out[k] = String(val);
      return toLogfmt(out);
    }
  } catch {
    // not JSON: keep the text as typed
  }
  return t;
}

/** Reads a query from `/search` URL parameters. Missing values take defaults. */
export function queryFromParams(p: URLSearchParams): SearchQuery {
  const q = defaultQuery();
  const get = (k: string) => p.get(k) ?? '';
  q.service = get('service');
  q.operation = get('operation');
  if (q.operation === 'all') q.operation = '';
  q.tags = tagsFromUrl(get('tags'));
  q.filter = get('filter');
  q.lookback = get('lookback') || (p.has('start') ? 'custom' : '1h');
  q.start = get('start');
  q.end = get('end');
  q.minDuration = get('minDuration');
  q.maxDuration = get('maxDuration');
  q.minTraceDuration = get('minTraceDuration');
  q.maxTraceDuration = get('maxTraceDuration');
  const lim = parseInt(get('limit'), 10);
  q.limit = Number.isFinite(lim) && lim > 0 ? Math.min(lim, MAX_LIMIT) : DEFAULT_LIMIT;
  return q;
}

/** Writes a query as `/search` URL parameters (empty values left out). */
export function queryToParams(q: SearchQuery): URLSearchParams {
  const p = new URLSearchParams();
  const set = (k: string, v: string) => {
    if (v !== '') p.set(k, v);
  };
  set('service', q.service);
  set('operation', q.operation);
  const parsed = parseLogfmt(q.tags);
  if (parsed.ok) {
    if (Object.keys(parsed.tags).length) p.set('tags', JSON.stringify(parsed.tags));
  } else {
    set('tags', q.tags.trim());
  }
  set('filter', q.filter.trim());
  set('lookback', q.lookback);
  if (q.lookback === 'custom') {
    set('start', q.start);
    set('end', q.end);
  }
  set('minDuration', q.minDuration.trim());
  set('maxDuration', q.maxDuration.trim());
  set('minTraceDuration', q.minTraceDuration.trim());
  set('maxTraceDuration', q.maxTraceDuration.trim());
  p.set('limit', String(q.limit));
  return p;
}

/** Problems that keep the query from being sent, in words. Empty when fine. */
export function validateQuery(q: SearchQuery): string[] {
  const errs: string[] = [];
  const tags = parseLogfmt(q.tags);
  if (!tags.ok) errs.push(`Tags: ${tags.error}`);
  const durs: [string, string][] = [
    ['Min duration', q.minDuration],
    ['Max duration', q.maxDuration],
    ['Min trace duration', q.minTraceDuration],
    ['Max trace duration', q.maxTraceDuration],
  ];
  for (const [label, v] of durs) {
    if (v.trim() && parseGoDuration(v) === null) errs.push(`${label}: "${v}" is not a duration (use e.g. 1.2s, 100ms, 500us)`);
  }
  const pairs: [string, string, string][] = [
    ['duration', q.minDuration, q.maxDuration],
    ['trace duration', q.minTraceDuration, q.maxTraceDuration],
  ];
  for (const [label, a, b] of pairs) {
    const x = parseGoDuration(a);
    const y = parseGoDuration(b);
    if (x !== null && y !== null && y < x) errs.push(`Max ${label} must not be less than min ${label}`);
  }
  if (q.lookback === 'custom') {
    const s = Number(q.start);
    const e = Number(q.end);
    if (!q.start || !Number.isFinite(s)) errs.push('Custom range: a start time is required');
    if (!q.end || !Number.isFinite(e)) errs.push('Custom range: an end time is required');
    if (Number.isFinite(s) && Number.isFinite(e) && q.start && q.end && e < s) errs.push('Custom range: end is before start');
  } else if (lookbackMicros(q.lookback) === null) {
    errs.push(`Lookback: "${q.lookback}" is not understood`);
  }
  return errs;
}

/** The `/api/traces` parameters for a query, given the current time in µs. */
export function queryToApiParams(q: SearchQuery, nowUs: number): URLSearchParams {
  const p = new URLSearchParams();
  if (q.service) p.set('service', q.service);
  if (q.operation) p.set('operation', q.operation);
  const tags = parseLogfmt(q.tags);
  if (tags.ok && Object.keys(tags.tags).length) p.set('tags', JSON.stringify(tags.tags));
  if (q.filter.trim()) p.set('filter', q.filter.trim());
  if (q.lookback === 'custom') {
    if (q.start) p.set('start', String(Math.floor(Number(q.start))));
    if (q.end) p.set('end', String(Math.floor(Number(q.end))));
  } else {
    const lb = lookbackMicros(q.lookback) ?? 3_600_000_000;
    p.set('start', String(Math.floor(nowUs - lb)));
    p.set('end', String(Math.floor(nowUs)));
    p.set('lookback', q.lookback);
  }
  if (q.minDuration.trim()) p.set('minDuration', q.minDuration.trim());
  if (q.maxDuration.trim()) p.set('maxDuration', q.maxDuration.trim());
  if (q.minTraceDuration.trim()) p.set('minTraceDuration', q.minTraceDuration.trim());
  if (q.maxTraceDuration.trim()) p.set('maxTraceDuration', q.maxTraceDuration.trim());
  p.set('limit', String(q.limit));
  return p;
}
