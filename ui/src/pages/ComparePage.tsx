import { useMemo, useState } from 'react';
import { buildTrace } from '../lib/trace';
import type { TraceModel } from '../lib/trace';
import { diffTrees, flattenDiff, opTree, summarizeDiff } from '../lib/opTree';
import type { DiffNode } from '../lib/opTree';
import { formatDuration, formatTimestamp } from '../lib/format';
import { Link, useRouter } from '../router';
import { usePrefs } from '../prefs';
import { serviceColor } from '../colors';
import { useTraceData } from './TracePage';

export function ComparePicker() {
  const { navigate } = useRouter();
  const [a, setA] = useState('');
  const [b, setB] = useState('');
  return (
    <div className="page">
      <div className="empty-state">
        <h2>Compare two traces</h2>
        <p>Enter two trace IDs, or select two traces in the search results and press Compare.</p>
        <form
          className="compare-form"
          onSubmit={(e) => {
            e.preventDefault();
            if (a.trim() && b.trim()) navigate(`/trace/${encodeURIComponent(a.trim())}...${encodeURIComponent(b.trim())}`);
          }}
        >
          <input placeholder="Trace A" value={a} onChange={(e) => setA(e.target.value)} data-testid="compare-input-a" />
          <input placeholder="Trace B" value={b} onChange={(e) => setB(e.target.value)} data-testid="compare-input-b" />
          <button type="submit" className="btn-primary" disabled={!a.trim() || !b.trim()}>
            Compare
          </button>
        </form>
      </div>
    </div>
  );
}

function Side({ id, model, testid, error }: { id: string; model: TraceModel | null; testid: string; error: string | null }) {
  const { tz } = usePrefs();
  return (
    <div className="compare-side">
      <div data-testid={testid} className="compare-title">
        {model ? (
          <Link to={`/trace/${encodeURIComponent(model.traceID)}`}>
            {model.rootService}: {model.rootOperation}
          </Link>
        ) : error ? (
          <span className="text-error">
            {id}: {error}
          </span>
        ) : (
          <span className="muted">Loading {id}…</span>
        )}
      </div>
      {model && (
        <div className="muted">
          <span className="mono">{model.traceID.slice(0, 12)}</span> · {formatTimestamp(model.startTime, tz)} · {formatDuration(model.duration)} ·{' '}
          {model.spans.length} spans
        </div>
      )}
    </div>
  );
}

const STATUS_LABEL: Record<DiffNode['status'], string> = { same: 'same', added: 'only in B', removed: 'only in A', changed: 'changed' };

export function ComparePage({ a, b }: { a: string; b: string }) {
  const la = useTraceData(a);
  const lb = useTraceData(b);
  const ma = useMemo(() => (la.kind === 'done' ? buildTrace(la.trace) : null), [la]);
  const mb = useMemo(() => (lb.kind === 'done' ? buildTrace(lb.trace) : null), [lb]);
  const diff = useMemo(() => (ma && mb ? diffTrees(opTree(ma), opTree(mb)) : null), [ma, mb]);
  const rows = useMemo(() => (diff ? flattenDiff(diff) : []), [diff]);
  const summary = useMemo(() => (diff ? summarizeDiff(diff) : null), [diff]);
  const [hideSame, setHideSame] = useState(false);
  return (
    <div className="page compare-page" data-testid="compare-view">
      <div className="compare-head">
        <Side id={a} model={ma} testid="compare-a-title" error={la.kind === 'error' ? la.message : null} />
        <span className="vs">vs</span>
        <Side id={b} model={mb} testid="compare-b-title" error={lb.kind === 'error' ? lb.message : null} />
      </div>
      {summary && (
        <div className="compare-summary">
          <span className="status-pill same">{summary.same} same</span>
          <span className="status-pill changed">{summary.changed} changed</span>
          <span className="status-pill removed">{summary.removed} only in A</span>
          <span className="status-pill added">{summary.added} only in B</span>
          <label className="inline">
            <input type="checkbox" checked={hideSame} onChange={(e) => setHideSame(e.target.checked)} /> Hide unchanged
          </label>
        </div>
      )}
      {diff && (
        <table className="data-table diff-table">
          <thead>
            <tr>
              <th>Service: operation (call tree)</th>
              <th>Status</th>
              <th className="num">Spans A</th>
              <th className="num">Spans B</th>
              <th className="num">Total A</th>
              <th className="num">Total B</th>
              <th className="num">Δ duration</th>
            </tr>
          </thead>
          <tbody>
            {rows
              .filter((n) => !hideSame || n.status !== 'same')
              .map((n) => {
                const delta = n.a && n.b ? n.b.totalDuration - n.a.totalDuration : null;
                return (
                  <tr
                    key={n.path}
                    className={`diff-row status-${n.status}`}
                    data-testid="diff-row"
                    data-service={n.service}
                    data-operation={n.operation}
                    data-status={n.status}
                  >
                    <td style={{ paddingLeft: 8 + Math.min(n.depth, 30) * 16 }}>
                      <span className="svc-dot" style={{ background: serviceColor(n.service) }} />
                      <strong>{n.service}</strong>: {n.operation}
                    </td>
                    <td>
                      <span className={`status-pill ${n.status}`}>{STATUS_LABEL[n.status]}</span>
                    </td>
                    <td className="num">{n.a ? n.a.count : '–'}</td>
                    <td className="num">{n.b ? n.b.count : '–'}</td>
                    <td className="num">{n.a ? formatDuration(n.a.totalDuration) : '–'}</td>
                    <td className="num">{n.b ? formatDuration(n.b.totalDuration) : '–'}</td>
                    <td className={delta === null ? 'num' : delta > 0 ? 'num text-error' : 'num text-ok'}>
                      {delta === null ? '–' : (delta > 0 ? '+' : '') + formatDuration(delta)}
                    </td>
                  </tr>
                );
              })}
          </tbody>
        </table>
      )}
    </div>
  );
}
