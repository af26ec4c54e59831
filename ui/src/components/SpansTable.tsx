import { useDeferredValue, useMemo, useState } from 'react';
import type { TraceModel } from '../lib/trace';
import { selfTimes } from '../lib/stats';
import { formatDuration } from '../lib/format';

type Col = 'service' | 'operation' | 'start' | 'duration' | 'self' | 'error' | 'spanID';
const LIMIT = 1000;

export function SpansTable({ model, onSelect }: { model: TraceModel; onSelect: (key: string) => void }) {
  const [sort, setSort] = useState<{ col: Col; desc: boolean }>({ col: 'duration', desc: true });
  const [filter, setFilter] = useState('');
  const f = useDeferredValue(filter.trim().toLowerCase());
  const self = useMemo(() => selfTimes(model), [model]);
  const rows = useMemo(() => {
    let list = model.spans;
    if (f) list = list.filter((s) => s.service.toLowerCase().includes(f) || s.operation.toLowerCase().includes(f) || s.spanID.includes(f));
    const val = (i: number): number | string => {
      const s = model.spans[i];
      switch (sort.col) {
        case 'service':
          return s.service;
        case 'operation':
          return s.operation;
        case 'start':
          return s.startTime;
        case 'duration':
          return s.duration;
        case 'self':
          return self[i];
        case 'error':
          return s.hasError ? 1 : 0;
        case 'spanID':
          return s.spanID;
      }
    };
    const idx = list.map((s) => s.index);
    idx.sort((a, b) => {
      const x = val(a);
      const y = val(b);
      const c = typeof x === 'string' && typeof y === 'string' ? x.localeCompare(y) : Number(x) - Number(y);
      return (sort.desc ? -c : c) || a - b;
    });
    return idx;
  }, [model, f, sort, self]);

  const head = (col: Col, label: string) => (
    <th aria-sort={sort.col === col ? (sort.desc ? 'descending' : 'ascending') : 'none'}>
      <button
        type="button"
        className="th-btn"
        onClick={() => setSort((s) => ({ col, desc: s.col === col ? !s.desc : col !== 'service' && col !== 'operation' && col !== 'spanID' }))}
      >
        {label} {sort.col === col ? (sort.desc ? '▾' : '▴') : ''}
      </button>
    </th>
  );

  return (
    <div className="table-view">
      <input
        className="table-filter"
        placeholder="Filter by service, operation or span ID"
        value={filter}
        onChange={(e) => setFilter(e.target.value)}
        data-testid="spans-table-filter"
      />
      <span className="muted">{rows.length > LIMIT ? `Showing ${LIMIT} of ${rows.length} spans (sort or filter to see others)` : `${rows.length} spans`}</span>
      <table className="data-table" data-testid="spans-table">
        <thead>
          <tr>
            {head('service', 'Service')}
            {head('operation', 'Operation')}
            {head('start', 'Start')}
            {head('duration', 'Duration')}
            {head('self', 'Self time')}
            {head('error', 'Error')}
            {head('spanID', 'Span ID')}
          </tr>
        </thead>
        <tbody>
          {rows.slice(0, LIMIT).map((i) => {
            const s = model.spans[i];
            return (
              <tr key={s.key} data-testid="spans-table-row" data-span-id={s.spanID} className="clickable" onClick={() => onSelect(s.key)}>
                <td>{s.service}</td>
                <td>{s.operation}</td>
                <td className="num">+{formatDuration(s.startTime - model.startTime)}</td>
                <td className="num">{formatDuration(s.duration)}</td>
                <td className="num">{formatDuration(self[i])}</td>
                <td className={s.hasError ? 'text-error' : undefined}>{s.hasError ? 'error' : ''}</td>
                <td className="mono">{s.spanID}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
