import { useMemo, useState } from 'react';
import type { TraceModel } from '../lib/trace';
import { traceStats } from '../lib/stats';
import type { StatRow, StatsGrouping } from '../lib/stats';
import { formatDuration } from '../lib/format';

type Col = keyof Pick<StatRow, 'service' | 'operation' | 'count' | 'errors' | 'total' | 'avg' | 'min' | 'max' | 'selfTotal' | 'selfAvg' | 'selfShare'>;

const COLS: { key: Col; label: string; fmt: (r: StatRow) => string }[] = [
  { key: 'service', label: 'Service', fmt: (r) => r.service },
  { key: 'operation', label: 'Operation', fmt: (r) => r.operation },
  { key: 'count', label: 'Count', fmt: (r) => String(r.count) },
  { key: 'errors', label: 'Errors', fmt: (r) => String(r.errors) },
  { key: 'total', label: 'Total', fmt: (r) => formatDuration(r.total) },
  { key: 'avg', label: 'Avg', fmt: (r) => formatDuration(r.avg) },
  { key: 'min', label: 'Min', fmt: (r) => formatDuration(r.min) },
  { key: 'max', label: 'Max', fmt: (r) => formatDuration(r.max) },
  { key: 'selfTotal', label: 'Self total', fmt: (r) => formatDuration(r.selfTotal) },
  { key: 'selfAvg', label: 'Self avg', fmt: (r) => formatDuration(r.selfAvg) },
  { key: 'selfShare', label: 'Self % of trace', fmt: (r) => `${(r.selfShare * 100).toFixed(1)}%` },
];

export function StatsView({ model }: { model: TraceModel }) {
  const [grouping, setGrouping] = useState<StatsGrouping>('service-operation');
  const [sort, setSort] = useState<{ col: Col; desc: boolean }>({ col: 'selfTotal', desc: true });
  const rows = useMemo(() => traceStats(model, grouping), [model, grouping]);
  const sorted = useMemo(() => {
    const out = [...rows];
    out.sort((a, b) => {
      const x = a[sort.col];
      const y = b[sort.col];
      const c = typeof x === 'string' && typeof y === 'string' ? x.localeCompare(y) : Number(x) - Number(y);
      return sort.desc ? -c : c;
    });
    return out;
  }, [rows, sort]);
  const cols = grouping === 'service' ? COLS.filter((c) => c.key !== 'operation') : COLS;
  return (
    <div className="stats-view">
      <label className="inline">
        Group by
        <select value={grouping} onChange={(e) => setGrouping(e.target.value as StatsGrouping)} data-testid="stats-grouping">
          <option value="service-operation">Service and operation</option>
          <option value="service">Service</option>
        </select>
      </label>
      <table className="data-table" data-testid="trace-statistics">
        <thead>
          <tr>
            {cols.map((c) => (
              <th key={c.key} aria-sort={sort.col === c.key ? (sort.desc ? 'descending' : 'ascending') : 'none'}>
                <button
                  type="button"
                  className="th-btn"
                  onClick={() => setSort((s) => ({ col: c.key, desc: s.col === c.key ? !s.desc : c.key !== 'service' && c.key !== 'operation' }))}
                >
                  {c.label} {sort.col === c.key ? (sort.desc ? '▾' : '▴') : ''}
                </button>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {sorted.map((r) => (
            <tr key={`${r.service}\u0000${r.operation}`} data-testid="stat-row" data-service={r.service} data-operation={r.operation}>
              {cols.map((c) => (
                <td key={c.key} className={c.key === 'service' || c.key === 'operation' ? undefined : 'num'}>
                  {c.fmt(r)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
