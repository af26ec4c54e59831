// Opening trace files from disk: Jaeger UI JSON (`{data:[trace…]}`, a bare
// array of traces, or one trace) is read here; OTLP JSON
// (`{resourceSpans:[…]}`, as written by the OTel collector's file exporter)
// is converted by the server (`POST /api/transform`), so the UI shows
// exactly what the server would store and serve. JSON Lines of either (one
// document per line) are accepted.

import type { JTrace } from './types';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Converts one OTLP JSON document, given as its text, into Jaeger UI traces. */
export type OtlpTransform = (otlpJson: string) => Promise<JTrace[]>;

/** A document of a trace file: its text as read and its parsed value. */
interface Doc {
  text: string;
  value: unknown;
  /** 1-based line of a JSON Lines file; absent for a whole-file document. */
  line?: number;
}

function isJaegerTrace(v: unknown): v is JTrace {
  return isObj(v) && Array.isArray(v.spans) && (typeof v.traceID === 'string' || v.spans.length === 0);
}

/** Whether a parsed document is OTLP JSON `TracesData`. */
export function isOtlpDocument(v: unknown): boolean {
  return isObj(v) && Array.isArray(v.resourceSpans);
}

function splitDocuments(text: string): Doc[] {
  try {
    return [{ text, value: JSON.parse(text) }];
  } catch {
    // JSON Lines: one document per line.
  }
  const docs: Doc[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].trim()) continue;
    try {
      docs.push({ text: lines[i], value: JSON.parse(lines[i]), line: i + 1 });
    } catch {
      throw new Error(`not JSON (line ${i + 1} does not parse)`);
    }
  }
  return docs;
}

/** Jaeger traces of a Jaeger JSON document; throws when it is not one. */
function jaegerTraces(doc: unknown): JTrace[] {
  if (isObj(doc) && Array.isArray(doc.data)) return doc.data.filter(isJaegerTrace);
  if (Array.isArray(doc)) return doc.filter(isJaegerTrace);
  if (isJaegerTrace(doc)) return [doc];
  throw new Error('not a Jaeger JSON ({"data":[…]}) or OTLP JSON ({"resourceSpans":[…]}) document');
}

/** Merges traces that carry pieces of the same trace ID (several documents of one file). */
export function mergeTraces(traces: JTrace[]): JTrace[] {
  const byId = new Map<string, JTrace>();
  for (const t of traces) {
    const prev = byId.get(t.traceID);
    if (!prev) {
      byId.set(t.traceID, { ...t, spans: [...t.spans], processes: { ...(t.processes ?? {}) } });
      continue;
    }
    // Re-key the processes of the later piece to avoid clashes.
    const remap = new Map<string, string>();
    const procs = prev.processes ?? {};
    for (const [pid, proc] of Object.entries(t.processes ?? {})) {
      const np = `${pid}_${Object.keys(procs).length}`;
      procs[np] = proc;
      remap.set(pid, np);
    }
    prev.processes = procs;
    for (const s of t.spans) prev.spans.push({ ...s, processID: s.processID ? (remap.get(s.processID) ?? s.processID) : s.processID });
  }
  return [...byId.values()];
}

/**
 * Reads a file's text as traces. Jaeger JSON documents are taken as they
 * are; each OTLP JSON document is sent, unchanged, to `transform` (the
 * server). Throws an Error with a readable message when the file is neither,
 * when the server refuses an OTLP document (its message, and the line of a
 * JSON Lines file), or when the file holds no traces.
 */
export async function readTraceFile(text: string, transform: OtlpTransform): Promise<JTrace[]> {
  // Every document is classified before anything is sent to the server.
  const parts: (JTrace[] | Doc)[] = splitDocuments(text).map((doc) => (isOtlpDocument(doc.value) ? doc : jaegerTraces(doc.value)));
  const out: JTrace[] = [];
  for (const part of parts) {
    if (Array.isArray(part)) {
      out.push(...part);
      continue;
    }
    try {
      out.push(...(await transform(part.text)));
    } catch (e) {
      const where = part.line === undefined ? '' : ` (line ${part.line})`;
      throw new Error(`the server could not convert the OTLP JSON${where}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }
  const merged = mergeTraces(out);
  if (!merged.length) throw new Error('the file holds no traces');
  return merged;
}
