import { useCallback, useEffect, useMemo, useState } from 'react';
import { archiveTrace, getTrace } from '../api';
import { config } from '../config';
import { buildTrace } from '../lib/trace';
import type { TraceModel } from '../lib/trace';
import type { JTrace } from '../lib/types';
import { formatDuration, formatTimestamp } from '../lib/format';
import { getLocalTrace } from '../localTraces';
import { useRouter } from '../router';
import { usePrefs } from '../prefs';
import { Timeline } from '../components/Timeline';
import { TraceGraph } from '../components/TraceGraph';
import { StatsView } from '../components/StatsView';
import { FlameGraph } from '../components/FlameGraph';
import { SpansTable } from '../components/SpansTable';
import { JsonView } from '../components/JsonView';

const VIEWS = [
  { id: 'timeline', label: 'Timeline' },
  { id: 'graph', label: 'Graph' },
  { id: 'statistics', label: 'Statistics' },
  { id: 'flamegraph', label: 'Flame graph' },
  { id: 'table', label: 'Spans table' },
  { id: 'json', label: 'JSON' },
] as const;

type ViewId = (typeof VIEWS)[number]['id'];

type Load = { kind: 'loading' } | { kind: 'error'; message: string } | { kind: 'done'; trace: JTrace; local: boolean };

export function useTraceData(traceID: string): Load {
  const [load, setLoad] = useState<Load>(() => {
    const local = getLocalTrace(traceID);
    return local ? { kind: 'done', trace: local, local: true } : { kind: 'loading' };
  });
  useEffect(() => {
    if (getLocalTrace(traceID)) return;
    const ac = new AbortController();
    getTrace(traceID, false, ac.signal)
      .then((t) => setLoad({ kind: 'done', trace: t, local: false }))
      .catch((e: unknown) => {
        if (!ac.signal.aborted) setLoad({ kind: 'error', message: e instanceof Error ? e.message : String(e) });
      });
    return () => ac.abort();
  }, [traceID]);
  return load;
}

export function TracePage({ traceID }: { traceID: string }) {
  const load = useTraceData(traceID);
  const model = useMemo(() => (load.kind === 'done' ? buildTrace(load.trace) : null), [load]);
  if (load.kind === 'loading') return <div className="page loading">Loading trace {traceID}…</div>;
  if (load.kind === 'error' || !model)
    return (
      <div className="page">
        <div className="error-box" role="alert" data-testid="trace-error">
          <strong>Could not load trace {traceID}.</strong>
          <pre>{load.kind === 'error' ? load.message : 'unknown error'}</pre>
        </div>
      </div>
    );
  return <TraceView model={model} local={load.kind === 'done' && load.local} />;
}

function TraceView({ model, local }: { model: TraceModel; local: boolean }) {
  const { location, navigate } = useRouter();
  const { tz } = usePrefs();
  const params = location.search;
  const v = params.get('view') ?? 'timeline';
  const view: ViewId = VIEWS.some((x) => x.id === v) ? (v as ViewId) : 'timeline';

  const setParams = useCallback(
    (changes: Record<string, string | null>, replace = true) => {
      const p = new URLSearchParams(window.location.search);
      for (const [k, val] of Object.entries(changes)) {
        if (val === null || val === '') p.delete(k);
        else p.set(k, val);
      }
      const qs = p.toString();
      navigate(`/trace/${encodeURIComponent(model.traceID)}${qs ? `?${qs}` : ''}`, { replace });
    },
    [navigate, model.traceID],
  );

  return (
    <div className="page trace-page">
      <header className="trace-header" data-testid="trace-header">
        <h1 data-testid="trace-title" className="trace-title">
          <span className="svc-dot" style={{ background: 'var(--accent)' }} />
          {model.rootService}: {model.rootOperation}
          <span className="trace-id mono muted"> {model.traceID}</span>
        </h1>
        <dl className="trace-facts">
          <div>
            <dt>Start</dt>
            <dd>{formatTimestamp(model.startTime, tz)}</dd>
          </div>
          <div>
            <dt>Duration</dt>
            <dd data-testid="trace-duration">{formatDuration(model.duration)}</dd>
          </div>
          <div>
            <dt>Services</dt>
            <dd data-testid="trace-services-count">{model.services.length}</dd>
          </div>
          <div>
            <dt>Depth</dt>
            <dd data-testid="trace-depth">{model.depth}</dd>
          </div>
          <div>
            <dt>Total spans</dt>
            <dd data-testid="trace-span-count">{model.spans.length}</dd>
          </div>
          <div>
            <dt>Errors</dt>
            <dd className={model.errorCount ? 'text-error' : undefined}>{model.errorCount}</dd>
          </div>
        </dl>
        {config.capabilities.archive && !local && <ArchiveButton traceID={model.traceID} />}
        {local && <div className="banner">Opened from a file: this trace is not read from the server.</div>}
        {model.warnings.length > 0 && (
          <details className="warning-box">
            <summary>{model.warnings.length} warning(s) about this trace</summary>
            {model.warnings.map((w) => (
              <div key={w}>{w}</div>
            ))}
          </details>
        )}
        <div className="view-switch" role="tablist">
          {VIEWS.map((x) => (
            <button
              key={x.id}
              type="button"
              role="tab"
              aria-selected={view === x.id}
              className={view === x.id ? 'tab active' : 'tab'}
              data-testid={`view-${x.id}`}
              onClick={() => setParams({ view: x.id === 'timeline' ? null : x.id }, false)}
            >
              {x.label}
            </button>
          ))}
        </div>
      </header>
      {view === 'timeline' && <Timeline model={model} setParams={setParams} />}
      {view === 'graph' && <TraceGraph model={model} />}
      {view === 'statistics' && <StatsView model={model} />}
      {view === 'flamegraph' && <FlameGraph model={model} onSelect={(key) => setParams({ view: null, span: key }, false)} />}
      {view === 'table' && <SpansTable model={model} onSelect={(key) => setParams({ view: null, span: key }, false)} />}
      {view === 'json' && <JsonView model={model} local={local} raw={params.get('raw') === 'true'} setRaw={(r) => setParams({ raw: r ? 'true' : null })} />}
    </div>
  );
}

function ArchiveButton({ traceID }: { traceID: string }) {
  const [state, setState] = useState<{ kind: 'idle' | 'busy' | 'done' } | { kind: 'error'; message: string }>({ kind: 'idle' });
  return (
    <div className="archive">
      <button
        type="button"
        data-testid="archive-trace"
        disabled={state.kind === 'busy' || state.kind === 'done'}
        onClick={() => {
          setState({ kind: 'busy' });
          archiveTrace(traceID)
            .then(() => setState({ kind: 'done' }))
            .catch((e: unknown) => setState({ kind: 'error', message: e instanceof Error ? e.message : String(e) }));
        }}
      >
        {state.kind === 'done' ? 'Archived' : state.kind === 'busy' ? 'Archiving…' : 'Archive trace'}
      </button>
      {state.kind === 'error' && <span className="text-error"> Could not archive: {state.message}</span>}
    </div>
  );
}
