// Opening trace files from disk: Jaeger UI JSON (`{data:[trace…]}`, a bare
// array of traces, or one trace) and OTLP JSON (`{resourceSpans:[…]}`, as
// written by the OTel collector's file exporter, one object per line allowed).

import type { JProcess, JReference, JSpan, JTrace, KeyValue } from './types';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

/** OTLP JSON IDs are hex; some writers use base64 (the protobuf JSON default). Returns lowercase hex. */
export function normalizeId(v: unknown, bytes: number): string {
  const s = str(v).trim();
  if (!s) return '';
  if (/^[0-9a-fA-F]+$/.test(s) && s.length === bytes * 2) return s.toLowerCase();
  if (/^[A-Za-z0-9+/_-]+=*$/.test(s)) {
    try {
      const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/'));
      if (bin.length === bytes) {
        let hex = '';
        for (let i = 0; i < bin.length; i++) hex += bin.charCodeAt(i).toString(16).padStart(2, '0');
        return hex;
      }
    } catch {
      // fall through
    }
  }
  return s.toLowerCase();
}

/** An OTLP AnyValue as a Jaeger tag value and type. */
function anyValue(v: unknown): { type: string; value: unknown } {
  if (!isObj(v)) return { type: 'string', value: '' };
  if ('stringValue' in v) return { type: 'string', value: str(v.stringValue) };
  if ('boolValue' in v) return { type: 'bool', value: v.boolValue === true || v.boolValue === 'true' };
  if ('intValue' in v) {
    const n = Number(v.intValue);
    return { type: 'int64', value: Number.isSafeInteger(n) ? n : str(v.intValue) };
  }
  if ('doubleValue' in v) return { type: 'float64', value: Number(v.doubleValue) };
  if ('bytesValue' in v) return { type: 'binary', value: str(v.bytesValue) };
  if ('arrayValue' in v) {
    const vals = arr(isObj(v.arrayValue) ? v.arrayValue.values : undefined).map((x) => anyValue(x).value);
    return { type: 'string', value: JSON.stringify(vals) };
  }
  if ('kvlistValue' in v) {
    const o: Record<string, unknown> = {};
    for (const kv of arr(isObj(v.kvlistValue) ? v.kvlistValue.values : undefined)) {
      if (isObj(kv)) o[str(kv.key)] = anyValue(kv.value).value;
    }
    return { type: 'string', value: JSON.stringify(o) };
  }
  return { type: 'string', value: '' };
}

function attrs(list: unknown): KeyValue[] {
  const out: KeyValue[] = [];
  for (const a of arr(list)) {
    if (!isObj(a)) continue;
    const { type, value } = anyValue(a.value);
    out.push({ key: str(a.key), type, value });
  }
  return out;
}

/** Nanoseconds (string or number) to µs. */
function nanosToMicros(v: unknown): number {
  const s = str(v);
  if (!s) return 0;
  if (/^\d+$/.test(s) && s.length > 3) return Number(s.slice(0, -3)) + Number(s.slice(-3)) / 1000;
  return Number(s) / 1000 || 0;
}

const KINDS: Record<string, string> = {
  '1': 'internal',
  '2': 'server',
  '3': 'client',
  '4': 'producer',
  '5': 'consumer',
  SPAN_KIND_INTERNAL: 'internal',
  SPAN_KIND_SERVER: 'server',
  SPAN_KIND_CLIENT: 'client',
  SPAN_KIND_PRODUCER: 'producer',
  SPAN_KIND_CONSUMER: 'consumer',
};

const STATUS: Record<string, string> = {
  '1': 'OK',
  '2': 'ERROR',
  STATUS_CODE_OK: 'OK',
  STATUS_CODE_ERROR: 'ERROR',
};

/** Converts OTLP JSON `TracesData` into Jaeger UI traces, grouped by trace ID. */
export function otlpToTraces(doc: unknown): JTrace[] {
  const traces = new Map<string, JTrace>();
  const procKeys = new Map<string, Map<string, string>>();
  for (const rs of arr(isObj(doc) ? doc.resourceSpans : undefined)) {
    if (!isObj(rs)) continue;
    const resTags = attrs(isObj(rs.resource) ? rs.resource.attributes : undefined);
    const svcTag = resTags.find((t) => t.key === 'service.name');
    const serviceName = svcTag ? String(svcTag.value) : 'unknown_service';
    const process: JProcess = { serviceName, tags: resTags.filter((t) => t.key !== 'service.name') };
    const processSig = JSON.stringify(process);
    const scopes = arr(rs.scopeSpans).concat(arr(rs.instrumentationLibrarySpans));
    for (const ss of scopes) {
      if (!isObj(ss)) continue;
      const scope = isObj(ss.scope) ? ss.scope : isObj(ss.instrumentationLibrary) ? ss.instrumentationLibrary : {};
      for (const sp of arr(ss.spans)) {
        if (!isObj(sp)) continue;
        const traceID = normalizeId(sp.traceId, 16);
        const spanID = normalizeId(sp.spanId, 8);
        if (!traceID || !spanID) continue;
        let trace = traces.get(traceID);
        if (!trace) {
          trace = { traceID, spans: [], processes: {}, warnings: null };
          traces.set(traceID, trace);
          procKeys.set(traceID, new Map());
        }
        let keys = procKeys.get(traceID);
        if (!keys) {
          keys = new Map();
          procKeys.set(traceID, keys);
        }
        let pid = keys.get(processSig);
        if (!pid) {
          pid = `p${keys.size + 1}`;
          keys.set(processSig, pid);
          trace.processes = { ...(trace.processes ?? {}), [pid]: process };
        }
        const tags = attrs(sp.attributes);
        const kind = KINDS[str(sp.kind)];
        if (kind) tags.push({ key: 'span.kind', type: 'string', value: kind });
        const status = isObj(sp.status) ? sp.status : {};
        const code = STATUS[str(status.code)];
        if (code) tags.push({ key: 'otel.status_code', type: 'string', value: code });
        if (code === 'ERROR') tags.push({ key: 'error', type: 'bool', value: true });
        if (str(status.message)) tags.push({ key: 'otel.status_description', type: 'string', value: str(status.message) });
        if (str(scope.name)) tags.push({ key: 'otel.scope.name', type: 'string', value: str(scope.name) });
        if (str(scope.version)) tags.push({ key: 'otel.scope.version', type: 'string', value: str(scope.version) });
        const references: JReference[] = [];
        const parent = normalizeId(sp.parentSpanId, 8);
        if (parent) references.push({ refType: 'CHILD_OF', traceID, spanID: parent });
        for (const l of arr(sp.links)) {
          if (!isObj(l)) continue;
          const lt = normalizeId(l.traceId, 16);
          const ls = normalizeId(l.spanId, 8);
          if (lt && ls) references.push({ refType: 'FOLLOWS_FROM', traceID: lt, spanID: ls });
        }
        const start = nanosToMicros(sp.startTimeUnixNano);
        const end = nanosToMicros(sp.endTimeUnixNano);
        const logs = arr(sp.events)
          .filter(isObj)
          .map((e) => ({
            timestamp: nanosToMicros(e.timeUnixNano),
            fields: [{ key: 'event', type: 'string', value: str(e.name) }, ...attrs(e.attributes)],
          }));
        const span: JSpan = {
          traceID,
          spanID,
          operationName: str(sp.name),
          references,
          startTime: start,
          duration: Math.max(0, end - start),
          tags,
          logs,
          processID: pid,
          warnings: null,
        };
        trace.spans.push(span);
      }
    }
  }
  return [...traces.values()];
}

function isJaegerTrace(v: unknown): v is JTrace {
  return isObj(v) && Array.isArray(v.spans) && (typeof v.traceID === 'string' || v.spans.length === 0);
}

/**
 * Reads a file's text as traces. Accepts Jaeger UI JSON (envelope, array or
 * one trace), OTLP JSON, and JSON Lines of either. Throws an Error with a
 * readable message otherwise.
 */
export function parseTraceFile(text: string): JTrace[] {
  const docs: unknown[] = [];
  try {
    docs.push(JSON.parse(text));
  } catch {
    // JSON Lines: one document per line.
    const lines = text.split(/\r?\n/).filter((l) => l.trim());
    for (let i = 0; i < lines.length; i++) {
      try {
        docs.push(JSON.parse(lines[i]));
      } catch {
        throw new Error(`not JSON (line ${i + 1} does not parse)`);
      }
    }
  }
  const out: JTrace[] = [];
  for (const doc of docs) {
    if (isObj(doc) && Array.isArray(doc.resourceSpans)) {
      out.push(...otlpToTraces(doc));
    } else if (isObj(doc) && Array.isArray(doc.data)) {
      out.push(...doc.data.filter(isJaegerTrace));
    } else if (Array.isArray(doc)) {
      out.push(...doc.filter(isJaegerTrace));
    } else if (isJaegerTrace(doc)) {
      out.push(doc);
    } else {
      throw new Error('not a Jaeger JSON ({"data":[…]}) or OTLP JSON ({"resourceSpans":[…]}) document');
    }
  }
  // Merge documents that carry pieces of the same trace.
  const byId = new Map<string, JTrace>();
  for (const t of out) {
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
  if (!byId.size) throw new Error('the file holds no traces');
  return [...byId.values()];
}
