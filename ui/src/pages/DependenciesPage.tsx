import { useEffect, useMemo, useRef, useState } from 'react';
import { getDependencies } from '../api';
import type { DependencyLink } from '../api';
import { layoutDependencies, neighbourhood } from '../lib/depLayout';
import { useRouter } from '../router';
import { serviceColor } from '../colors';

const LOOKBACKS: { value: string; label: string; ms: number }[] = [
  { value: '15m', label: 'Last 15 minutes', ms: 15 * 60_000 },
  { value: '1h', label: 'Last hour', ms: 3_600_000 },
  { value: '6h', label: 'Last 6 hours', ms: 6 * 3_600_000 },
  { value: '12h', label: 'Last 12 hours', ms: 12 * 3_600_000 },
  { value: '24h', label: 'Last 24 hours', ms: 24 * 3_600_000 },
  { value: '2d', label: 'Last 2 days', ms: 2 * 86_400_000 },
  { value: '7d', label: 'Last 7 days', ms: 7 * 86_400_000 },
];

const NW = 190;
const NH = 34;
const LABELS_UP_TO = 250;
/** Above this many services the overview hides labels and a focused service shows only its neighbourhood. */
const LARGE_GRAPH = 80;

type State = { kind: 'loading' } | { kind: 'error'; message: string } | { kind: 'done'; links: DependencyLink[] };

export function DependenciesPage() {
  const { location, navigate } = useRouter();
  const lbParam = location.search.get('lookback') ?? '24h';
  const lookback = LOOKBACKS.find((l) => l.value === lbParam) ?? LOOKBACKS[4];
  const focus = location.search.get('focus') ?? '';
  const [state, setState] = useState<State>({ kind: 'loading' });
  const [find, setFind] = useState(focus);

  const setParam = (k: string, v: string) => {
    const p = new URLSearchParams(location.searchText);
    if (v) p.set(k, v);
    else p.delete(k);
    navigate(`/dependencies?${p.toString()}`, { replace: k === 'focus' });
  };

  useEffect(() => {
    const ac = new AbortController();
    setState({ kind: 'loading' });
    getDependencies(Date.now(), lookback.ms, ac.signal)
      .then((links) => setState({ kind: 'done', links }))
      .catch((e: unknown) => {
        if (!ac.signal.aborted) setState({ kind: 'error', message: e instanceof Error ? e.message : String(e) });
      });
    return () => ac.abort();
  }, [lookback.ms, location.nonce]);

  const links = useMemo(() => (state.kind === 'done' ? state.links : []), [state]);
  const services = useMemo(() => [...new Set(links.flatMap((l) => [l.parent, l.child]))].sort(), [links]);
  const large = services.length > LARGE_GRAPH;
  const focusKnown = !!focus && services.includes(focus);
  // Large graphs: with a service focused, draw only it, its callers and its callees.
  const shownLinks = useMemo(
    () => (large && focusKnown ? links.filter((l) => l.parent === focus || l.child === focus) : links),
    [large, focusKnown, links, focus],
  );
  const layout = useMemo(() => layoutDependencies(shownLinks, { colWidth: NW + 110, rowHeight: NH + 22 }), [shownLinks]);
  const hot = useMemo(() => (focusKnown && !large ? neighbourhood(links, focus) : null), [focusKnown, large, links, focus]);
  const svgRef = useRef<SVGSVGElement>(null);
  useEffect(() => {
    if (!focusKnown) return;
    const el = svgRef.current?.querySelector(`[data-service="${CSS.escape(focus)}"]`);
    el?.scrollIntoView?.({ block: 'center', inline: 'center' });
  }, [focusKnown, focus, layout]);
  const pos = useMemo(() => new Map(layout.nodes.map((n) => [n.id, n])), [layout]);
  const showAllLabels = layout.edges.length <= LABELS_UP_TO && !(large && !focusKnown);

  return (
    <div className="page deps-page">
      <div className="toolbar">
        <label className="inline">
          Time window
          <select data-testid="dependency-lookback" value={lookback.value} onChange={(e) => setParam('lookback', e.target.value)}>
            {LOOKBACKS.map((l) => (
              <option key={l.value} value={l.value}>
                {l.label}
              </option>
            ))}
          </select>
        </label>
        <form
          className="inline"
          onSubmit={(e) => {
            e.preventDefault();
            const exact = services.find((s) => s === find) ?? services.find((s) => s.toLowerCase().includes(find.toLowerCase()));
            setParam('focus', find ? (exact ?? find) : '');
          }}
        >
          <input list="dep-services" placeholder="Highlight a service…" value={find} onChange={(e) => setFind(e.target.value)} data-testid="dependency-find" />
          <datalist id="dep-services">
            {services.map((s) => (
              <option key={s} value={s} />
            ))}
          </datalist>
          <button type="submit">Highlight</button>
          {focus && (
            <button
              type="button"
              onClick={() => {
                setFind('');
                setParam('focus', '');
              }}
            >
              Clear
            </button>
          )}
        </form>
        {state.kind === 'done' && (
          <span className="muted">
            {services.length} services, {links.length} edges
            {large && !focusKnown && ` — a large graph: pick or click a service to see its callers and callees with call counts`}
            {large && focusKnown && ` — showing ${focus} with its ${layout.nodes.length - 1} direct neighbours`}
            {!large && !showAllLabels && ' (call counts shown for the highlighted service)'}
          </span>
        )}
      </div>
      {state.kind === 'loading' && <div className="loading">Loading dependencies…</div>}
      {state.kind === 'error' && (
        <div className="error-box" role="alert" data-testid="dependency-error">
          <strong>Could not load dependencies.</strong>
          <pre>{state.message}</pre>
        </div>
      )}
      {state.kind === 'done' && links.length === 0 && (
        <div className="empty-state" data-testid="dependency-empty">
          <h2>No service dependencies in this window</h2>
          <p>Dependencies come from parent/child spans in different services. Try a longer time window, or send traces that cross services.</p>
        </div>
      )}
      {state.kind === 'done' && links.length > 0 && (
        <div className="graph-scroll deps-scroll">
          <svg
            ref={svgRef}
            className={large && !focusKnown ? 'deps-overview' : undefined}
            data-testid="dependency-graph"
            width={layout.width + 40}
            height={layout.height + 40}
            viewBox={`-20 -20 ${layout.width + 40} ${layout.height + 40}`}
          >
            <defs>
              <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
                <path d="M0,0 L10,5 L0,10 z" className="arrow" />
              </marker>
            </defs>
            {layout.edges.map((e) => {
              const a = pos.get(e.parent);
              const b = pos.get(e.child);
              if (!a || !b) return null;
              const lit = !hot || (hot.has(e.parent) && hot.has(e.child) && (e.parent === focus || e.child === focus));
              let d: string;
              let lx: number;
              let ly: number;
              if (e.parent === e.child) {
                d = `M${a.x + NW - 30},${a.y} C${a.x + NW - 30},${a.y - 30} ${a.x + NW + 10},${a.y - 30} ${a.x + NW},${a.y + 8}`;
                lx = a.x + NW - 8;
                ly = a.y - 24;
              } else if (!e.back) {
                const x1 = a.x + NW;
                const y1 = a.y + NH / 2;
                const x2 = b.x;
                const y2 = b.y + NH / 2;
                const mx = (x1 + x2) / 2;
                d = `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`;
                lx = mx;
                ly = (y1 + y2) / 2 - 4;
              } else {
                const x1 = a.x + NW / 2;
                const y1 = a.y + NH;
                const x2 = b.x + NW / 2;
                const y2 = b.y + NH;
                const dip = Math.max(y1, y2) + 40;
                d = `M${x1},${y1} C${x1},${dip} ${x2},${dip} ${x2},${y2}`;
                lx = (x1 + x2) / 2;
                ly = dip - 8;
              }
              return (
                <g
                  key={`${e.parent}->${e.child}`}
                  className={lit ? 'dep-edge' : 'dep-edge dim'}
                  data-testid="dependency-edge"
                  data-parent={e.parent}
                  data-child={e.child}
                  data-calls={e.calls}
                >
                  <path d={d} markerEnd="url(#arrow)" />
                  {(showAllLabels || (hot && lit)) && (
                    <text x={lx} y={ly} textAnchor="middle" className="edge-label">
                      {e.calls.toLocaleString()}
                    </text>
                  )}
                  <title>{`${e.parent} → ${e.child}: ${e.calls} calls`}</title>
                </g>
              );
            })}
            {layout.nodes.map((n) => {
              const lit = !hot || hot.has(n.id);
              return (
                <g
                  key={n.id}
                  transform={`translate(${n.x},${n.y})`}
                  className={`dep-node${lit ? '' : ' dim'}${n.id === focus ? ' focus' : ''}`}
                  data-testid="dependency-node"
                  data-service={n.id}
                  onClick={() => {
                    setFind(n.id === focus ? '' : n.id);
                    setParam('focus', n.id === focus ? '' : n.id);
                  }}
                  role="button"
                  tabIndex={0}
                  aria-label={`${n.id}: highlight its neighbours`}
                  onKeyDown={(ev) => {
                    if (ev.key === 'Enter' || ev.key === ' ') {
                      ev.preventDefault();
                      setParam('focus', n.id === focus ? '' : n.id);
                    }
                  }}
                >
                  <title>{`${n.id}\n${n.calls.toLocaleString()} incoming calls`}</title>
                  <rect width={NW} height={NH} rx={8} className="dep-box" />
                  <rect width={6} height={NH} rx={3} fill={serviceColor(n.id)} />
                  <text x={14} y={NH / 2 + 4}>
                    {n.id.length > 26 ? n.id.slice(0, 25) + '…' : n.id}
                  </text>
                </g>
              );
            })}
          </svg>
        </div>
      )}
    </div>
  );
}
