import { useEffect, useMemo, useState } from 'react';
import { ApiError, getMetrics, getServices } from '../api';
import { config } from '../config';
import { mean, parseMetricFamily } from '../lib/metrics';
import type { Series } from '../lib/metrics';
import { formatDuration } from '../lib/format';
import { useRouter } from '../router';
import { LineChart } from '../components/LineChart';

const LOOKBACKS = [
  { value: '15m', label: 'Last 15 minutes', ms: 15 * 60_000 },
  { value: '1h', label: 'Last hour', ms: 3_600_000 },
  { value: '6h', label: 'Last 6 hours', ms: 6 * 3_600_000 },
  { value: '24h', label: 'Last 24 hours', ms: 24 * 3_600_000 },
  { value: '7d', label: 'Last 7 days', ms: 7 * 86_400_000 },
];
const KINDS = ['server', 'client', 'producer', 'consumer', 'internal'];

interface Data {
  endTs: number;
  calls: Series[];
  errors: Series[];
  p50: Series[];
  p75: Series[];
  p95: Series[];
  opCalls: Series[];
  opErrors: Series[];
  opP95: Series[];
}

type State = { kind: 'idle' } | { kind: 'loading' } | { kind: 'error'; message: string } | { kind: 'done'; data: Data };

const ms = (v: number) => formatDuration(v * 1000);
const rate = (v: number) => `${v === 0 ? '0' : v >= 10 ? v.toFixed(0) : v >= 0.1 ? v.toFixed(2) : v.toPrecision(2)}/s`;
const pct = (v: number) => `${(v * 100).toFixed(v < 0.1 ? 2 : 1)}%`;

export function MonitorPage() {
  const { location, navigate } = useRouter();
  const [services, setServices] = useState<string[] | null>(null);
  const [svcError, setSvcError] = useState<string | null>(null);
  const metricsOff = config.capabilities.metrics === false;
  const p = location.search;
  const service = p.get('service') ?? services?.[0] ?? '';
  const spanKind = KINDS.includes(p.get('spanKind') ?? '') ? (p.get('spanKind') as string) : 'server';
  const lb = LOOKBACKS.find((l) => l.value === p.get('lookback')) ?? LOOKBACKS[1];
  const [state, setState] = useState<State>({ kind: 'idle' });

  const setParam = (k: string, v: string) => {
    const q = new URLSearchParams(location.searchText);
    q.set(k, v);
    navigate(`/monitor?${q.toString()}`, { replace: true });
  };

  useEffect(() => {
    const ac = new AbortController();
    getServices(ac.signal)
      .then(setServices)
      .catch((e: unknown) => {
        if (!ac.signal.aborted) setSvcError(e instanceof Error ? e.message : String(e));
      });
    return () => ac.abort();
  }, []);

  useEffect(() => {
    if (metricsOff || !service) return;
    const ac = new AbortController();
    const endTs = Date.now();
    const base = () => {
      const q = new URLSearchParams();
      q.set('service', service);
      q.set('spanKind', spanKind);
      q.set('endTs', String(endTs));
      q.set('lookback', String(lb.ms));
      q.set('step', String(Math.max(5_000, Math.round(lb.ms / 60 / 5_000) * 5_000)));
      q.set('ratePer', '600000');
      return q;
    };
    const with_ = (extra: Record<string, string>) => {
      const q = base();
      for (const [k, v] of Object.entries(extra)) q.set(k, v);
      return q;
    };
    const get = async (kind: 'calls' | 'errors' | 'latencies', extra: Record<string, string> = {}) =>
      parseMetricFamily(await getMetrics(kind, with_(extra), ac.signal));
    setState({ kind: 'loading' });
    // The call rate first: when the backend has no metrics, one request says so.
    get('calls')
      .then((calls) =>
        Promise.all([
          calls,
          get('errors'),
          get('latencies', { quantile: '0.5' }),
          get('latencies', { quantile: '0.75' }),
          get('latencies', { quantile: '0.95' }),
          get('calls', { groupByOperation: 'true' }),
          get('errors', { groupByOperation: 'true' }),
          get('latencies', { quantile: '0.95', groupByOperation: 'true' }),
        ]),
      )
      .then(([calls, errors, p50, p75, p95, opCalls, opErrors, opP95]) =>
        setState({ kind: 'done', data: { endTs, calls, errors, p50, p75, p95, opCalls, opErrors, opP95 } }),
      )
      .catch((e: unknown) => {
        if (ac.signal.aborted) return;
        const message =
          e instanceof ApiError && (e.status === 404 || e.status === 501)
            ? `this server does not serve the metrics API (HTTP ${e.status}: ${e.message})`
            : e instanceof Error
              ? e.message
              : String(e);
        setState({ kind: 'error', message });
      });
    return () => ac.abort();
  }, [service, spanKind, lb.ms, metricsOff, location.nonce]);

  const data = state.kind === 'done' ? state.data : null;
  // One time axis for every chart: the window that was asked for.
  const domain = useMemo<[number, number] | undefined>(() => (data ? [data.endTs - lb.ms, data.endTs] : undefined), [data, lb.ms]);
  const hasData = !!data && [data.calls, data.errors, data.p50, data.p75, data.p95].some((s) => s.some((x) => x.points.length));

  const ops = useMemo(() => {
    if (!data) return [];
    const byOp = new Map<string, { op: string; calls: number | null; errors: number | null; p95: number | null }>();
    const row = (s: Series) => {
      const op = s.labels.operation ?? s.labels.span_name ?? '';
      let r = byOp.get(op);
      if (!r) {
        r = { op, calls: null, errors: null, p95: null };
        byOp.set(op, r);
      }
      return r;
    };
    for (const s of data.opCalls) row(s).calls = mean(s.points);
    for (const s of data.opErrors) row(s).errors = mean(s.points);
    for (const s of data.opP95) row(s).p95 = mean(s.points);
    const list = [...byOp.values()];
    const maxImpact = Math.max(1e-12, ...list.map((r) => (r.calls ?? 0) * (r.p95 ?? 0)));
    return list.map((r) => ({ ...r, impact: ((r.calls ?? 0) * (r.p95 ?? 0)) / maxImpact })).sort((a, b) => b.impact - a.impact || a.op.localeCompare(b.op));
  }, [data]);

  const first = (s: Series[] | undefined) => s?.[0]?.points ?? [];
  const operation = p.get('operation') ?? '';
  const ofOp = (s: Series[] | undefined) => s?.find((x) => (x.labels.operation ?? x.labels.span_name) === operation)?.points ?? [];
  const selectOp = (op: string) => {
    const q = new URLSearchParams(location.searchText);
    if (op && op !== operation) q.set('operation', op);
    else q.delete('operation');
    navigate(`/monitor?${q.toString()}`, { replace: true });
  };

  return (
    <div className="page monitor-page" data-testid="monitor-view">
      <div className="toolbar">
        <label className="inline">
          Service
          <select data-testid="monitor-service" value={service} onChange={(e) => setParam('service', e.target.value)}>
            {!services?.length && <option value="">{services ? 'No services' : 'Loading…'}</option>}
            {services?.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label className="inline">
          Span kind
          <select data-testid="monitor-span-kind" value={spanKind} onChange={(e) => setParam('spanKind', e.target.value)}>
            {KINDS.map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
          </select>
        </label>
        <label className="inline">
          Time window
          <select data-testid="monitor-lookback" value={lb.value} onChange={(e) => setParam('lookback', e.target.value)}>
            {LOOKBACKS.map((l) => (
              <option key={l.value} value={l.value}>
                {l.label}
              </option>
            ))}
          </select>
        </label>
      </div>
      {svcError && <div className="error-box">Could not load services: {svcError}</div>}
      {metricsOff ? (
        <div className="empty-state" data-testid="monitor-empty">
          <h2>Service performance monitoring is not enabled</h2>
          <p>
            This Spoor has no metrics backend, so request rate, error rate and latency charts are not available. Traces are still searchable; see the
            configuration docs to turn on span metrics.
          </p>
        </div>
      ) : state.kind === 'loading' ? (
        <div className="loading">Loading metrics…</div>
      ) : state.kind === 'error' || (state.kind === 'done' && !hasData) || (services && services.length === 0) ? (
        <div className="empty-state" data-testid="monitor-empty">
          <h2>No metrics to show</h2>
          {state.kind === 'error' ? (
            <p>
              The metrics API answered: <code>{state.message}</code>
            </p>
          ) : (
            <p>
              No request, error or latency data for {service ? <strong>{service}</strong> : 'this service'} ({spanKind} spans) in this window.
            </p>
          )}
        </div>
      ) : data ? (
        <>
          <h2 className="section-title">
            {operation ? (
              <>
                {service}: {operation}{' '}
                <button type="button" className="btn-link" onClick={() => selectOp('')}>
                  back to the whole service
                </button>
              </>
            ) : (
              service
            )}
          </h2>
          <div className="charts">
            <LineChart
              domain={domain}
              title="Latency"
              format={ms}
              series={
                operation
                  ? [{ name: 'p95', color: '#e5484d', points: ofOp(data.opP95) }]
                  : [
                      { name: 'p95', color: '#e5484d', points: first(data.p95) },
                      { name: 'p75', color: '#f5a524', points: first(data.p75) },
                      { name: 'p50', color: '#3e8ef7', points: first(data.p50) },
                    ]
              }
            />
            <LineChart
              domain={domain}
              title="Error rate"
              format={pct}
              series={[{ name: 'errors', color: '#e5484d', points: operation ? ofOp(data.opErrors) : first(data.errors) }]}
            />
            <LineChart
              domain={domain}
              title="Request rate"
              format={rate}
              series={[{ name: 'requests', color: '#30a46c', points: operation ? ofOp(data.opCalls) : first(data.calls) }]}
            />
          </div>
          <h2 className="section-title">
            Operations <span className="muted">(click one for its charts)</span>
          </h2>
          <table className="data-table" data-testid="monitor-ops-table">
            <thead>
              <tr>
                <th>Operation</th>
                <th className="num">P95 latency</th>
                <th className="num">Request rate</th>
                <th className="num">Error rate</th>
                <th>Impact</th>
              </tr>
            </thead>
            <tbody>
              {ops.map((r) => (
                <tr
                  key={r.op}
                  data-testid="monitor-op-row"
                  data-operation={r.op}
                  className={r.op === operation ? 'clickable selected-row' : 'clickable'}
                  onClick={() => selectOp(r.op)}
                >
                  <td>
                    <button
                      type="button"
                      className="btn-link"
                      onClick={(e) => {
                        e.stopPropagation();
                        selectOp(r.op);
                      }}
                      title="Show this operation's charts"
                    >
                      {r.op}
                    </button>
                  </td>
                  <td className="num">{r.p95 === null ? '–' : ms(r.p95)}</td>
                  <td className="num">{r.calls === null ? '–' : rate(r.calls)}</td>
                  <td className="num">{r.errors === null ? '–' : pct(r.errors)}</td>
                  <td>
                    <div className="impact">
                      <div style={{ width: `${r.impact * 100}%` }} />
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
    </div>
  );
}
