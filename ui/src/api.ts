// The HTTP API client: Jaeger's query API as served by Spoor, under the base path.

import { config } from './config';
import { onUnauthorized, sessionHeaders } from './session';
import type { JEnvelope, JTrace } from './lib/types';

export class ApiError extends Error {
  status: number;
  constructor(message: string, status: number) {
    super(message);
    this.status = status;
  }
}

export function apiUrl(path: string, params?: URLSearchParams): string {
  const qs = params && [...params.keys()].length ? `?${params.toString()}` : '';
  return `${config.basePath}${path}${qs}`;
}

async function request<T>(path: string, params?: URLSearchParams, signal?: AbortSignal, method: 'GET' | 'POST' = 'GET', body?: string): Promise<T> {
  let resp: Response;
  const headers: Record<string, string> = { Accept: 'application/json', ...sessionHeaders() };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  try {
    resp = await fetch(apiUrl(path, params), { method, signal, headers, body });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(`cannot reach the server: ${e instanceof Error ? e.message : String(e)}`, 0);
  }
  const text = await resp.text();
  let answer: unknown = undefined;
  try {
    answer = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON
  }
  if (resp.status === 401) onUnauthorized();
  if (!resp.ok) {
    throw new ApiError(messageOf(answer) ?? (text.trim().slice(0, 500) || `HTTP ${resp.status} ${resp.statusText}`), resp.status);
  }
  if (answer === undefined) throw new ApiError('the server answered with something that is not JSON', resp.status);
  const env = answer as JEnvelope<unknown>;
  if (env && typeof env === 'object' && Array.isArray(env.errors) && env.errors.length && (env.data === null || env.data === undefined)) {
    throw new ApiError(messageOf(answer) ?? 'the server reported an error', resp.status);
  }
  return answer as T;
}

function messageOf(body: unknown): string | null {
  if (!body || typeof body !== 'object') return null;
  const b = body as Record<string, unknown>;
  if (Array.isArray(b.errors) && b.errors.length) {
    const msgs = b.errors.map((e) => (e && typeof e === 'object' ? String((e as Record<string, unknown>).msg ?? '') : String(e))).filter(Boolean);
    if (msgs.length) return msgs.join('; ');
  }
  if (typeof b.error === 'string') return b.error;
  if (typeof b.message === 'string') return b.message;
  return null;
}

export async function getServices(signal?: AbortSignal): Promise<string[]> {
  const r = await request<JEnvelope<string[]>>('/api/services', undefined, signal);
  return [...(r.data ?? [])].sort();
}

export interface Operation {
  name: string;
  spanKind: string;
}

export async function getOperations(service: string, signal?: AbortSignal): Promise<Operation[]> {
  const r = await request<JEnvelope<Operation[]>>('/api/operations', new URLSearchParams({ service }), signal);
  const ops = (r.data ?? []).filter((o) => o && typeof o.name === 'string');
  ops.sort((a, b) => a.name.localeCompare(b.name));
  return ops;
}

export interface SearchResponse {
  traces: JTrace[];
  warnings: string[];
}

export async function searchTraces(params: URLSearchParams, signal?: AbortSignal): Promise<SearchResponse> {
  const r = await request<JEnvelope<JTrace[]>>('/api/traces', params, signal);
  const warnings = (r.errors ?? []).map((e) => e.msg ?? '').filter(Boolean);
  return { traces: r.data ?? [], warnings };
}

export async function getTrace(id: string, raw = false, signal?: AbortSignal): Promise<JTrace> {
  const params = raw ? new URLSearchParams({ raw: 'true' }) : undefined;
  const r = await request<JEnvelope<JTrace[]>>(`/api/traces/${encodeURIComponent(id)}`, params, signal);
  const t = r.data?.[0];
  if (!t) throw new ApiError(`trace ${id} not found`, 404);
  return t;
}

/** `POST /api/archive/{id}`: keeps the trace beyond retention (when the server has archive storage). */
export async function archiveTrace(id: string): Promise<void> {
  await request<unknown>(`/api/archive/${encodeURIComponent(id)}`, undefined, undefined, 'POST');
}

/**
 * `POST /api/transform`: the server converts one OTLP JSON document
 * (`{"resourceSpans":[…]}`, sent as it was read) into Jaeger UI traces,
 * grouped by trace ID. A document the server cannot read is an `ApiError`
 * with its message (400); one larger than its request limit is a 413.
 */
export async function transformOtlp(otlpJson: string, signal?: AbortSignal): Promise<JTrace[]> {
  const r = await request<JEnvelope<JTrace[]>>('/api/transform', undefined, signal, 'POST', otlpJson);
  return r.data ?? [];
}

export interface DependencyLink {
  parent: string;
  child: string;
  callCount: number;
}

export async function getDependencies(endTs: number, lookback: number, signal?: AbortSignal): Promise<DependencyLink[]> {
  const p = new URLSearchParams({ endTs: String(Math.floor(endTs)), lookback: String(Math.floor(lookback)) });
  const r = await request<JEnvelope<DependencyLink[]>>('/api/dependencies', p, signal);
  return (r.data ?? []).filter((d) => d && typeof d.parent === 'string' && typeof d.child === 'string');
}

export async function getMetrics(kind: 'calls' | 'errors' | 'latencies', params: URLSearchParams, signal?: AbortSignal): Promise<unknown> {
  return request<unknown>(`/api/metrics/${kind}`, params, signal);
}
