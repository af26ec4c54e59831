import { useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import type { ChangeEvent, FormEvent } from 'react';
import { apiUrl, getOperations, getServices, searchTraces, transformOtlp } from '../api';
import type { Operation } from '../api';
import { config } from '../config';
import { LOOKBACKS, MAX_LIMIT, queryFromParams, queryToApiParams, queryToParams, validateQuery } from '../lib/searchQuery';
import type { SearchQuery } from '../lib/searchQuery';
import { SORTS, isSortKey, sortSummaries, summarize } from '../lib/summary';
import { serviceLabel, serviceStatus, similarServices } from '../lib/services';
import type { SortKey, TraceSummary } from '../lib/summary';
import { formatDuration, formatRelative, formatTimestamp, fromDateTimeLocal, toDateTimeLocal } from '../lib/format';
import { readTraceFile } from '../lib/traceFile';
import type { JTrace } from '../lib/types';
import { clearLocalTraces, getLocalSet, setLocalTraces, subscribeLocal } from '../localTraces';
import { Link, useRouter } from '../router';
import { usePrefs } from '../prefs';
import { ScatterPlot } from '../components/ScatterPlot';
import { serviceColor } from '../colors';
import { useKeyboard } from '../keyboard';

type State =
  | { kind: 'idle' }
  | { kind: 'loading' }
  | { kind: 'error'; message: string }
  | { kind: 'done'; traces: JTrace[]; warnings: string[]; apiParams: URLSearchParams };

export function SearchPage() {
  const { location, navigate } = useRouter();
  const params = location.search;
  const localSet = useSyncExternalStore(subscribeLocal, getLocalSet);
  const fromFile = params.get('source') === 'file';
  const hasQuery = !fromFile && [...params.keys()].some((k) => k !== 'sort');
  const sortParam = params.get('sort') ?? '';
  const sort: SortKey = isSortKey(sortParam) ? sortParam : 'recent';

  const [services, setServices] = useState<string[] | null>(null);
  const [servicesError, setServicesError] = useState<string | null>(null);
  useEffect(() => {
    const ac = new AbortController();
    getServices(ac.signal)
      .then((s) => setServices(s))
      .catch((e: unknown) => {
        if (!ac.signal.aborted) setServicesError(e instanceof Error ? e.message : String(e));
      });
    return () => ac.abort();
  }, []);

  // Run the search the URL describes.
  const [state, setState] = useState<State>({ kind: 'idle' });
  const queryKey = useMemo(() => {
    const p = new URLSearchParams(location.searchText);
    p.delete('sort');
    return p.toString();
  }, [location.searchText]);
  useEffect(() => {
    if (!hasQuery) {
      setState({ kind: 'idle' });
      return;
    }
    const q = queryFromParams(new URLSearchParams(queryKey));
    const errs = validateQuery(q);
    if (errs.length) {
      setState({ kind: 'error', message: errs.join('\n') });
      return;
    }
    const ac = new AbortController();
    setState({ kind: 'loading' });
    const apiParams = queryToApiParams(q, Date.now() * 1000);
    searchTraces(apiParams, ac.signal)
      .then((r) => setState({ kind: 'done', traces: r.traces, warnings: r.warnings, apiParams }))
      .catch((e: unknown) => {
        if (!ac.signal.aborted) setState({ kind: 'error', message: e instanceof Error ? e.message : String(e) });
      });
    return () => ac.abort();
  }, [queryKey, hasQuery, location.nonce]);

  // A service named in the URL that never reported a span is said to be
  // unknown, not searched as if it existed.
  const urlService = fromFile ? '' : (params.get('service') ?? '');
  const unknownService = hasQuery && serviceStatus(urlService, services) === 'unknown';

  const rawTraces: JTrace[] | null = fromFile ? (localSet?.traces ?? null) : state.kind === 'done' ? state.traces : null;
  const summaries = useMemo(() => (rawTraces ? rawTraces.map(summarize) : null), [rawTraces]);
  const sorted = useMemo(() => (summaries ? sortSummaries(summaries, sort) : null), [summaries, sort]);

  const setSort = (s: string) => {
    const p = new URLSearchParams(location.searchText);
    p.set('sort', s);
    navigate(`/search?${p.toString()}`, { replace: true });
  };

  return (
    <div className="page search-page">
      <aside className="search-side">
        <SearchForm
          key={fromFile ? 'file' : queryKey}
          initial={queryFromParams(new URLSearchParams(queryKey))}
          services={services}
          servicesError={servicesError}
        />
        <OpenFile />
      </aside>
      <section className="search-main">
        {fromFile ? (
          localSet ? (
            <div className="banner">
              Showing {localSet.traces.length} trace{localSet.traces.length === 1 ? '' : 's'} from <strong>{localSet.fileName}</strong> (not from the server).{' '}
              <button
                type="button"
                className="btn-link"
                onClick={() => {
                  clearLocalTraces();
                  navigate('/search');
                }}
              >
                Close file
              </button>
            </div>
          ) : (
            <div className="empty-state">
              <p>The file is no longer loaded (files opened from disk live only in this tab). Open it again.</p>
            </div>
          )
        ) : null}
        {!hasQuery && !fromFile && <Intro services={services} />}
        {state.kind === 'loading' && !fromFile && <div className="loading">Searching…</div>}
        {state.kind === 'error' && !fromFile && (
          <div className="error-box" data-testid="search-error" role="alert">
            <strong>Search failed.</strong>
            <pre>{state.message}</pre>
          </div>
        )}
        {state.kind === 'done' && !fromFile && state.warnings.length > 0 && (
          <div className="warning-box">
            {state.warnings.map((w) => (
              <div key={w}>{w}</div>
            ))}
          </div>
        )}
        {sorted && sorted.length === 0 && !fromFile && !unknownService && <NoResults services={services} />}
        {sorted && sorted.length === 0 && unknownService && <UnknownService service={urlService} services={services ?? []} />}
        {sorted && sorted.length > 0 && (
          <Results list={sorted} sort={sort} setSort={setSort} apiParams={!fromFile && state.kind === 'done' ? state.apiParams : null} />
        )}
      </section>
    </div>
  );
}

function Intro({ services }: { services: string[] | null }) {
  return (
    <div className="empty-state intro">
      <h2>Find traces</h2>
      <p>
        Pick a service (or all services), add filters, and press Find Traces. Press <kbd>/</kbd> to jump to the form.
      </p>
      {services && services.length > 0 && (
        <p className="muted">
          {services.length} service{services.length === 1 ? '' : 's'} reported traces: {services.slice(0, 30).join(', ')}
          {services.length > 30 ? ', …' : ''}
        </p>
      )}
      {services && services.length === 0 && (
        <p className="muted">
          No service has reported traces yet. Send some with OTLP, Jaeger or Zipkin (or run <code>spoor tracegen</code>).
        </p>
      )}
    </div>
  );
}

function UnknownService({ service, services }: { service: string; services: string[] }) {
  const similar = similarServices(service, services);
  return (
    <div className="empty-state" data-testid="unknown-service" role="alert">
      <h2>Unknown service</h2>
      <p>
        No service named <code>{service}</code> has reported any spans, so there is nothing to search. Check the name, or pick a service from the list.
      </p>
      {similar.length > 0 && (
        <p data-testid="similar-services">
          Did you mean <span className="service-list">{similar.join(', ')}</span>?
        </p>
      )}
      {services.length ? (
        <p>
          Services with traces: <span className="service-list">{services.join(', ')}</span>
        </p>
      ) : (
        <p>No service has reported any traces yet.</p>
      )}
    </div>
  );
}

function NoResults({ services }: { services: string[] | null }) {
  return (
    <div className="empty-state" data-testid="search-empty">
      <h2>No traces found</h2>
      <p>Try a longer lookback, fewer filters, or another service.</p>
      {services === null ? null : services.length ? (
        <p>
          Services with traces: <span className="service-list">{services.join(', ')}</span>
        </p>
      ) : (
        <p>No service has reported any traces yet.</p>
      )}
    </div>
  );
}

function SearchForm({ initial, services, servicesError }: { initial: SearchQuery; services: string[] | null; servicesError: string | null }) {
  const { navigate, location } = useRouter();
  const { tz } = usePrefs();
  const [q, setQ] = useState<SearchQuery>(initial);
  const [ops, setOps] = useState<Operation[]>([]);
  const [errors, setErrors] = useState<string[]>([]);
  const serviceRef = useRef<HTMLSelectElement>(null);

  useEffect(() => {
    if (!q.service) {
      setOps([]);
      return;
    }
    const ac = new AbortController();
    getOperations(q.service, ac.signal)
      .then(setOps)
      .catch(() => {
        if (!ac.signal.aborted) setOps([]);
      });
    return () => ac.abort();
  }, [q.service]);

  useKeyboard({
    '/': () => serviceRef.current?.focus(),
  });

  const set =
    <K extends keyof SearchQuery>(k: K) =>
    (e: ChangeEvent<HTMLInputElement | HTMLSelectElement>) => {
      const v = e.target.value;
      setQ((old) => ({ ...old, [k]: k === 'limit' ? Math.max(1, Math.min(MAX_LIMIT, parseInt(v, 10) || 0)) : v }));
    };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    let query = q;
    if (query.lookback === 'custom') {
      const now = Date.now() * 1000;
      query = { ...query, end: query.end || String(now), start: query.start || String(now - 3_600_000_000) };
    }
    const errs = validateQuery(query);
    if (!config.capabilities.searchWithoutService && !query.service) errs.unshift('Service: choose a service (this server cannot search all services at once)');
    setErrors(errs);
    if (errs.length) return;
    const p = queryToParams(query);
    const sort = location.search.get('sort');
    if (sort) p.set('sort', sort);
    // Re-submitting the same query runs it again (new `lookback` window).
    navigate(`/search?${p.toString()}`, { force: true });
  };

  const opKnown = !q.operation || ops.some((o) => o.name === q.operation);
  const opNames = [...new Set(ops.map((o) => o.name))];

  return (
    <form className="search-form" onSubmit={submit} aria-label="Search traces">
      <label>
        Service
        <select
          ref={serviceRef}
          data-testid="search-service"
          value={q.service}
          onChange={(e) => setQ((o) => ({ ...o, service: e.target.value, operation: '' }))}
        >
          {config.capabilities.searchWithoutService && <option value="">All services</option>}
          {!config.capabilities.searchWithoutService && <option value="">Choose a service…</option>}
          {q.service && services && !services.includes(q.service) && (
            <option value={q.service} data-testid="unknown-service-option">
              {serviceLabel(q.service, services)}
            </option>
          )}
          {(services ?? []).map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </label>
      {servicesError && <div className="field-error">Could not load services: {servicesError}</div>}
      <label>
        Operation
        <select data-testid="search-operation" value={q.operation} onChange={set('operation')} disabled={!q.service && !q.operation}>
          <option value="">All operations</option>
          {!opKnown && <option value={q.operation}>{q.operation}</option>}
          {opNames.map((o) => (
            <option key={o} value={o}>
              {o}
            </option>
          ))}
        </select>
      </label>
      <label>
        Tags <span className="hint">logfmt, e.g. error=true http.status_code=500</span>
        <input data-testid="search-tags" value={q.tags} onChange={set('tags')} placeholder="http.status_code=200 error=true" spellCheck={false} />
      </label>
      <label>
        Filter <span className="hint">k=v, k!=v, k=~re, k!~re, k, NOT, AND, OR, ( )</span>
        <input data-testid="search-filter" value={q.filter} onChange={set('filter')} placeholder='http.status_code=~"5.." AND NOT retry' spellCheck={false} />
      </label>
      <label>
        Lookback
        <select data-testid="search-lookback" value={q.lookback} onChange={set('lookback')}>
          {LOOKBACKS.map((l) => (
            <option key={l.value} value={l.value}>
              {l.label}
            </option>
          ))}
        </select>
      </label>
      {q.lookback === 'custom' && (
        <div className="row2">
          <label>
            Start ({tz === 'utc' ? 'UTC' : 'local'})
            <input
              type="datetime-local"
              data-testid="search-start"
              value={toDateTimeLocal(q.start, tz)}
              onChange={(e) => setQ((o) => ({ ...o, start: fromDateTimeLocal(e.target.value, tz) }))}
            />
          </label>
          <label>
            End ({tz === 'utc' ? 'UTC' : 'local'})
            <input
              type="datetime-local"
              data-testid="search-end"
              value={toDateTimeLocal(q.end, tz)}
              onChange={(e) => setQ((o) => ({ ...o, end: fromDateTimeLocal(e.target.value, tz) }))}
            />
          </label>
        </div>
      )}
      <div className="row2">
        <label>
          Min span duration
          <input data-testid="search-min-duration" value={q.minDuration} onChange={set('minDuration')} placeholder="e.g. 1.2s, 100ms" />
        </label>
        <label>
          Max span duration
          <input data-testid="search-max-duration" value={q.maxDuration} onChange={set('maxDuration')} placeholder="e.g. 1.2s, 100ms" />
        </label>
      </div>
      <div className="row2">
        <label>
          Min trace duration
          <input data-testid="search-min-trace-duration" value={q.minTraceDuration} onChange={set('minTraceDuration')} placeholder="whole trace" />
        </label>
        <label>
          Max trace duration
          <input data-testid="search-max-trace-duration" value={q.maxTraceDuration} onChange={set('maxTraceDuration')} placeholder="whole trace" />
        </label>
      </div>
      <label>
        Limit results
        <input data-testid="search-limit" type="number" min={1} max={MAX_LIMIT} value={q.limit} onChange={set('limit')} />
      </label>
      {errors.length > 0 && (
        <div className="field-error" role="alert">
          {errors.map((e) => (
            <div key={e}>{e}</div>
          ))}
        </div>
      )}
      <button type="submit" className="btn-primary" data-testid="search-submit">
        Find Traces
      </button>
    </form>
  );
}

function OpenFile() {
  const { navigate } = useRouter();
  const [error, setError] = useState<string | null>(null);
  const [reading, setReading] = useState<string | null>(null);
  const onChange = async (e: ChangeEvent<HTMLInputElement>) => {
    const input = e.target;
    const file = input.files?.[0];
    if (!file) return;
    setError(null);
    setReading(file.name);
    try {
      const text = await file.text();
      // OTLP JSON is converted by the server (`POST /api/transform`).
      const traces = await readTraceFile(text, (otlp) => transformOtlp(otlp));
      setLocalTraces(file.name, traces);
      navigate('/search?source=file');
    } catch (err) {
      setError(`${file.name}: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      setReading(null);
    }
    input.value = '';
  };
  return (
    <div className="open-file">
      <label className="file-label">
        Open a JSON file (Jaeger or OTLP)
        <input type="file" accept=".json,.jsonl,application/json" data-testid="open-file" disabled={reading !== null} onChange={onChange} />
      </label>
      {reading && (
        <div className="muted" data-testid="open-file-reading" role="status">
          Reading {reading}…
        </div>
      )}
      {error && (
        <div className="field-error" data-testid="open-file-error" role="alert">
          {error}
        </div>
      )}
    </div>
  );
}

const EXPORT_FORMATS = [
  { value: 'jaeger-json', label: 'Jaeger JSON' },
  { value: 'otlp-json', label: 'OTLP JSON' },
  { value: 'otlp-jsonl', label: 'OTLP JSON Lines' },
  { value: 'csv', label: 'CSV (one row per span)' },
];

function Results({ list, sort, setSort, apiParams }: { list: TraceSummary[]; sort: SortKey; setSort: (s: string) => void; apiParams: URLSearchParams | null }) {
  const { navigate } = useRouter();
  const { tz } = usePrefs();
  const [selected, setSelected] = useState<string[]>([]);
  const now = Date.now() * 1000;
  const maxDuration = Math.max(1, ...list.map((t) => t.duration));

  const toggle = (id: string) => setSelected((s) => (s.includes(id) ? s.filter((x) => x !== id) : [...s, id]));

  const download = () => {
    const data = JSON.stringify({ data: list.map((t) => t.raw) }, null, 2);
    const url = URL.createObjectURL(new Blob([data], { type: 'application/json' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = `spoor-traces-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 1000);
  };

  return (
    <div data-testid="search-results" className="results">
      <ScatterPlot traces={list} onOpen={(id) => navigate(`/trace/${id}`)} />
      <div className="results-toolbar">
        <span data-testid="result-count" className="result-count">
          {list.length} Trace{list.length === 1 ? '' : 's'}
        </span>
        <label className="inline">
          Sort
          <select data-testid="search-sort" value={sort} onChange={(e) => setSort(e.target.value)}>
            {SORTS.map((s) => (
              <option key={s.value} value={s.value}>
                {s.label}
              </option>
            ))}
          </select>
        </label>
        <button
          type="button"
          data-testid="compare-selected"
          disabled={selected.length !== 2}
          onClick={() => navigate(`/trace/${selected[0]}...${selected[1]}`)}
          title="Select exactly two traces to compare them"
        >
          Compare {selected.length}/2
        </button>
        <button
          type="button"
          data-testid="download-results"
          onClick={download}
          title="Save the traces shown here as Jaeger JSON (they can be opened again with Open file)"
        >
          Download results
        </button>
        {config.capabilities.export && apiParams && (
          <span className="export-links" data-testid="export-links">
            Export all matches:{' '}
            {EXPORT_FORMATS.map((f) => {
              const p = new URLSearchParams(apiParams);
              p.set('format', f.value);
              return (
                <a key={f.value} href={apiUrl('/api/export', p)} download>
                  {f.label}
                </a>
              );
            })}
          </span>
        )}
      </div>
      <ol className="result-list">
        {list.map((t) => (
          <li key={t.traceID} className="result-row" data-testid="result-row" data-trace-id={t.traceID}>
            <div className="result-head">
              <input
                type="checkbox"
                data-testid="result-select"
                checked={selected.includes(t.traceID)}
                onChange={() => toggle(t.traceID)}
                aria-label={`Select trace ${t.traceID} for comparison`}
              />
              <Link to={`/trace/${t.traceID}`} className="result-title" data-testid="result-title">
                {t.rootService}: {t.rootOperation}
              </Link>
              <span className="trace-id mono">{t.traceID.slice(0, 7)}</span>
              <span className="result-duration" data-testid="result-duration">
                {formatDuration(t.duration)}
              </span>
            </div>
            <div className="duration-bar" style={{ width: `${(t.duration / maxDuration) * 100}%` }} />
            <div className="result-body">
              <span className="pill" data-testid="result-span-count">
                {t.spanCount} Span{t.spanCount === 1 ? '' : 's'}
              </span>
              <span className={t.errorCount ? 'pill pill-error' : 'pill'} data-testid="result-error-count">
                {t.errorCount} Error{t.errorCount === 1 ? '' : 's'}
              </span>
              <span className="services">
                {t.services.slice(0, 12).map((s) => (
                  <span key={s.name} className="svc-pill" style={{ borderColor: serviceColor(s.name) }}>
                    {s.name} ({s.count})
                  </span>
                ))}
                {t.services.length > 12 && <span className="muted"> +{t.services.length - 12} more</span>}
              </span>
              <span className="result-time">
                {formatTimestamp(t.startTime, tz, false)} <span className="muted">({formatRelative(t.startTime, now)})</span>
              </span>
            </div>
          </li>
        ))}
      </ol>
    </div>
  );
}
