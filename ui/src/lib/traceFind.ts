// Search within a trace (Jaeger's `uiFind`): space-separated terms, all of
// which must occur (case-insensitively) in a span's service, operation, span
// ID, attributes, event fields or resource attributes.

import type { TraceModel } from './trace';
import { tagText } from './trace';

interface SearchText {
  /** Per span: service, operation, span ID, attributes and events. */
  own: string[];
  /** Per span: its process's resource attributes (one shared string per process). */
  proc: string[];
}

const textCache = new WeakMap<TraceModel, SearchText>();

/** Lowercased text per span for in-trace search, built on first use and kept per trace. */
export function searchText(model: TraceModel): SearchText {
  const cached = textCache.get(model);
  if (cached) return cached;
  const procText = new Map<object, string>();
  const own: string[] = new Array(model.spans.length);
  const proc: string[] = new Array(model.spans.length);
  for (const s of model.spans) {
    let p = procText.get(s.process);
    if (p === undefined) {
      p = (s.process.tags ?? [])
        .map((t) => `${t.key}=${tagText(t.value)}`)
        .join(' ')
        .toLowerCase();
      procText.set(s.process, p);
    }
    const parts = [s.service, s.operation, s.spanID];
    for (const t of s.span.tags ?? []) parts.push(`${t.key}=${tagText(t.value)}`);
    for (const l of s.span.logs ?? []) for (const f of l.fields ?? []) parts.push(`${f.key}=${tagText(f.value)}`);
    own[s.index] = parts.join(' ').toLowerCase();
    proc[s.index] = p;
  }
  const out = { own, proc };
  textCache.set(model, out);
  return out;
}

/** Indices of the spans matching `query`; empty for an empty query. */
export function findSpans(model: TraceModel, query: string): Set<number> {
  const out = new Set<number>();
  const terms = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (!terms.length) return out;
  const { own, proc } = searchText(model);
  for (let i = 0; i < own.length; i++) if (terms.every((t) => own[i].includes(t) || proc[i].includes(t))) out.add(i);
  return out;
}
