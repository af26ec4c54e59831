import type { ReactNode } from 'react';
import { memo, useCallback, useDeferredValue, useEffect, useMemo, useRef, useState } from 'react';
import type { TraceModel, SpanNode } from '../lib/trace';
import { visibleRows } from '../lib/trace';
import { findSpans } from '../lib/traceFind';
import { criticalPath, segmentsBySpan } from '../lib/criticalPath';
import type { CriticalSegment } from '../lib/criticalPath';
import { formatDuration, niceStep } from '../lib/format';
import { serviceColor } from '../colors';
import { useKeyboard } from '../keyboard';
import { useRouter } from '../router';
import { Minimap } from './Minimap';
import { SpanDetail } from './SpanDetail';
import { useSize } from './useSize';

const ROW_H = 26;
const HEADER_H = 28;
const OVERSCAN = 12;
const MAX_INDENT = 32;

type SetParams = (changes: Record<string, string | null>, replace?: boolean) => void;

export function Timeline({ model, setParams }: { model: TraceModel; setParams: SetParams }) {
  const { location } = useRouter();
  const selectedParam = location.search.get('span') ?? '';
  const uiFind = location.search.get('uiFind') ?? '';
  const selected = useMemo(() => {
    if (!selectedParam) return -1;
    return model.byKey.get(selectedParam) ?? model.bySpanID.get(selectedParam) ?? -1;
  }, [model, selectedParam]);

  const [collapsed, setCollapsed] = useState<Set<number>>(() => new Set());
  const [minDur, setMinDur] = useState(0);
  const [range, setRange] = useState<[number, number]>([0, 1]);
  const [critical, setCritical] = useState(false);
  const [focus, setFocus] = useState(0);
  const [findText, setFindText] = useState(uiFind);
  const findRef = useRef<HTMLInputElement>(null);
  const scrollRef = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const { height: viewH } = useSize(scrollRef);

  const rows = useMemo(() => visibleRows(model, collapsed, minDur), [model, collapsed, minDur]);
  const rowOf = useMemo(() => {
    const m = new Int32Array(model.spans.length).fill(-1);
    rows.forEach((spanIdx, r) => (m[spanIdx] = r));
    return m;
  }, [rows, model]);

  // In-trace search (uiFind), kept in the URL.
  useEffect(() => {
    const t = window.setTimeout(() => {
      if (findText !== uiFind) setParams({ uiFind: findText || null });
    }, 250);
    return () => window.clearTimeout(t);
  }, [findText, uiFind, setParams]);
  const deferredFind = useDeferredValue(uiFind.trim().toLowerCase());
  const matches = useMemo(() => findSpans(model, deferredFind), [model, deferredFind]);

  const crit = useMemo(() => (critical ? segmentsBySpan(criticalPath(model)) : null), [critical, model]);

  const maxDepth = model.depth;
  const scrollToRow = useCallback((r: number) => {
    const el = scrollRef.current;
    if (!el || r < 0) return;
    // The sticky header covers the first HEADER_H pixels of the scroll area.
    const top = HEADER_H + r * ROW_H;
    if (top < el.scrollTop + HEADER_H) el.scrollTop = top - HEADER_H;
    else if (top + ROW_H > el.scrollTop + el.clientHeight) el.scrollTop = top + ROW_H - el.clientHeight;
  }, []);

  // Reveal the selected span: expand its ancestors and scroll to it.
  useEffect(() => {
    if (selected < 0) return;
    // …and drop the short-span filter if it hides the span or an ancestor.
    setMinDur((m) => {
      for (let i = selected; m > 0 && i >= 0; i = model.spans[i].parentIndex) {
        if (model.spans[i].parentIndex >= 0 && model.spans[i].duration < m) return 0;
      }
      return m;
    });
    setCollapsed((old) => {
      let p = model.spans[selected].parentIndex;
      let next: Set<number> | null = null;
      while (p >= 0) {
        if (old.has(p)) {
          next ??= new Set(old);
          next.delete(p);
        }
        p = model.spans[p].parentIndex;
      }
      return next ?? old;
    });
  }, [selected, model]);
  // Scroll to a newly selected span once its row exists (its ancestors may
  // have just been expanded), but not again on later collapses.
  const pendingScroll = useRef(-1);
  useEffect(() => {
    pendingScroll.current = selected;
  }, [selected]);
  useEffect(() => {
    const want = pendingScroll.current;
    if (want < 0) return;
    const r = rowOf[want];
    if (r < 0) return;
    pendingScroll.current = -1;
    setFocus(r);
    scrollToRow(r);
  }, [rowOf, selected, scrollToRow]);

  const toggle = useCallback((i: number) => {
    setCollapsed((old) => {
      const n = new Set(old);
      if (n.has(i)) n.delete(i);
      else n.add(i);
      return n;
    });
  }, []);
  const collapseAll = () => setCollapsed(new Set(model.spans.filter((s) => s.children.length).map((s) => s.index)));
  const expandAll = () => setCollapsed(new Set());
  const collapseToLevel = (level: number) => setCollapsed(new Set(model.spans.filter((s) => s.children.length && s.depth >= level - 1).map((s) => s.index)));

  const select = useCallback(
    (i: number) => {
      const key = model.spans[i]?.key;
      setParams({ span: key && i !== selected ? key : null });
    },
    [model, selected, setParams],
  );

  const closeDetail = useCallback(() => setParams({ span: null }), [setParams]);

  const matchList = useMemo(() => [...matches].sort((a, b) => a - b), [matches]);
  const jumpMatch = (dir: 1 | -1) => {
    if (!matchList.length) return;
    const cur = rows[focus] ?? -1;
    let target = dir > 0 ? matchList.find((m) => m > cur) : [...matchList].reverse().find((m) => m < cur);
    if (target === undefined) target = dir > 0 ? matchList[0] : matchList[matchList.length - 1];
    setParams({ span: model.spans[target].key });
  };

  useKeyboard({
    j: () =>
      setFocus((f) => {
        const n = Math.min(rows.length - 1, f + 1);
        scrollToRow(n);
        return n;
      }),
    k: () =>
      setFocus((f) => {
        const n = Math.max(0, f - 1);
        scrollToRow(n);
        return n;
      }),
    ArrowDown: () =>
      setFocus((f) => {
        const n = Math.min(rows.length - 1, f + 1);
        scrollToRow(n);
        return n;
      }),
    ArrowUp: () =>
      setFocus((f) => {
        const n = Math.max(0, f - 1);
        scrollToRow(n);
        return n;
      }),
    Enter: () => {
      const i = rows[focus];
      if (i !== undefined) select(i);
    },
    x: () => {
      const i = rows[focus];
      if (i !== undefined && model.spans[i].children.length) toggle(i);
    },
    Escape: (e) => {
      if (e.target === findRef.current && findText) {
        setFindText('');
        return;
      }
      if (selected >= 0) setParams({ span: null });
    },
    '/': () => findRef.current?.focus(),
    n: () => jumpMatch(1),
    N: () => jumpMatch(-1),
  });

  const first = Math.max(0, Math.floor((scrollTop - HEADER_H) / ROW_H) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((scrollTop + (viewH || 800)) / ROW_H) + OVERSCAN);
  const viewStart = model.startTime + range[0] * model.duration;
  const viewDur = Math.max(1e-9, (range[1] - range[0]) * model.duration) || 1;

  const ticks = useMemo(() => {
    const step = niceStep(viewDur, 5);
    const out: number[] = [];
    const startOff = range[0] * model.duration;
    for (let t = Math.ceil(startOff / step) * step; t <= startOff + viewDur + 1e-9; t += step) out.push(t);
    return { out, startOff };
  }, [viewDur, range, model.duration]);

  const windowRows: ReactNode[] = [];
  for (let r = first; r < last; r++) {
    const i = rows[r];
    const s = model.spans[i];
    windowRows.push(
      <SpanRow
        key={s.key}
        node={s}
        top={r * ROW_H}
        collapsed={collapsed.has(i)}
        selected={i === selected}
        focused={r === focus}
        match={matches.has(i)}
        viewStart={viewStart}
        viewDur={viewDur}
        crit={crit?.get(i)}
        critOn={!!crit}
        onToggle={toggle}
        onSelect={select}
      />,
    );
  }

  return (
    <div className="timeline-wrap">
      <Minimap model={model} range={range} setRange={setRange} />
      <div className="timeline-toolbar">
        <button type="button" data-testid="collapse-all" onClick={collapseAll} title="Collapse every span with children">
          Collapse all
        </button>
        <button type="button" data-testid="expand-all" onClick={expandAll}>
          Expand all
        </button>
        <label className="inline">
          Show levels
          <select data-testid="collapse-level" value="" onChange={(e) => e.target.value && collapseToLevel(Number(e.target.value))}>
            <option value="">…</option>
            {Array.from({ length: Math.min(maxDepth, 20) }, (_, k) => k + 1).map((l) => (
              <option key={l} value={l}>
                1–{l}
              </option>
            ))}
          </select>
        </label>
        <label className="inline" title="Hide spans (and everything under them) shorter than this, to cut noise in big traces">
          Hide shorter than
          <select data-testid="min-span-filter" value={minDur} onChange={(e) => setMinDur(Number(e.target.value))}>
            {[0, 100, 1_000, 10_000, 100_000, 1_000_000].map((v) => (
              <option key={v} value={v}>
                {v ? formatDuration(v) : '—'}
              </option>
            ))}
          </select>
        </label>
        <button
          type="button"
          data-testid="critical-path-toggle"
          aria-pressed={critical}
          className={critical ? 'active' : undefined}
          onClick={() => setCritical((c) => !c)}
          title="Highlight the critical path: the work that determined the trace's latency"
        >
          Critical path
        </button>
        <input
          ref={findRef}
          data-testid="trace-find"
          className="trace-find"
          placeholder="Find in trace (service, operation, tag, span ID)…  /"
          value={findText}
          onChange={(e) => setFindText(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter') {
              e.preventDefault();
              jumpMatch(e.shiftKey ? -1 : 1);
            }
          }}
          aria-label="Find in trace"
        />
        {deferredFind && (
          <span className="muted" data-testid="trace-find-count">
            {matches.size} match{matches.size === 1 ? '' : 'es'}
            <button type="button" className="btn-link" onClick={() => jumpMatch(-1)} aria-label="Previous match">
              ↑
            </button>
            <button type="button" className="btn-link" onClick={() => jumpMatch(1)} aria-label="Next match">
              ↓
            </button>
          </span>
        )}
        <span className="muted kbd-hint">
          <kbd>j</kbd>/<kbd>k</kbd> move · <kbd>Enter</kbd> details · <kbd>x</kbd> collapse · <kbd>Esc</kbd> close
        </span>
      </div>
      <div className={selected >= 0 ? 'timeline-body with-detail' : 'timeline-body'}>
        <div className="timeline" data-testid="timeline" role="tree" aria-label="Spans">
          <div className="timeline-scroll" ref={scrollRef} onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}>
            <div className="timeline-header" style={{ height: HEADER_H }}>
              <div className="name-col">
                Service &amp; operation{' '}
                <span className="muted">
                  ({rows.length} of {model.spans.length} rows)
                </span>
              </div>
              <div className="bar-col ticks">
                {ticks.out.map((t) => (
                  <span key={t} className="tick" style={{ left: `${((t - ticks.startOff) / viewDur) * 100}%` }}>
                    {formatDuration(t)}
                  </span>
                ))}
              </div>
            </div>
            <div style={{ height: rows.length * ROW_H, position: 'relative' }}>{windowRows}</div>
          </div>
        </div>
        {selected >= 0 && <SpanDetail model={model} index={selected} onClose={closeDetail} setParams={setParams} />}
      </div>
    </div>
  );
}

interface RowProps {
  node: SpanNode;
  top: number;
  collapsed: boolean;
  selected: boolean;
  focused: boolean;
  match: boolean;
  viewStart: number;
  viewDur: number;
  crit: CriticalSegment[] | undefined;
  critOn: boolean;
  onToggle: (i: number) => void;
  onSelect: (i: number) => void;
}

const SpanRow = memo(function SpanRow({ node: s, top, collapsed, selected, focused, match, viewStart, viewDur, crit, critOn, onToggle, onSelect }: RowProps) {
  const left = ((s.startTime - viewStart) / viewDur) * 100;
  const width = (s.duration / viewDur) * 100;
  const color = serviceColor(s.service);
  const cls = ['span-row', selected && 'selected', focused && 'focused', match && 'match', critOn && !crit && 'crit-dim'].filter(Boolean).join(' ');
  const labelRight = left + width < 70;
  return (
    <div
      className={cls}
      style={{ top, height: ROW_H }}
      data-testid="span-row"
      data-span-id={s.spanID}
      data-depth={s.depth}
      data-service={s.service}
      data-operation={s.operation}
      data-match={match ? 'true' : undefined}
      data-critical={crit ? 'true' : undefined}
      role="treeitem"
      aria-level={s.depth + 1}
      aria-expanded={s.children.length ? !collapsed : undefined}
      aria-selected={selected}
      onClick={() => onSelect(s.index)}
    >
      <div className="name-col" style={{ paddingLeft: 4 + Math.min(s.depth, MAX_INDENT) * 12 }}>
        {s.depth > MAX_INDENT && <span className="depth-badge">{s.depth}</span>}
        {s.children.length ? (
          <button
            type="button"
            className="span-toggle"
            data-testid="span-toggle"
            aria-label={collapsed ? 'Expand' : 'Collapse'}
            onClick={(e) => {
              e.stopPropagation();
              onToggle(s.index);
            }}
          >
            {collapsed ? '▸' : '▾'}
          </button>
        ) : (
          <span className="span-toggle-spacer" />
        )}
        <span className="svc-dot" style={{ background: color }} />
        {s.hasError && (
          <span className="err-icon" title="error">
            !
          </span>
        )}
        <span className="svc-name">{s.service}</span>
        <span className="op-name">{s.operation}</span>
        {collapsed && <span className="muted child-count"> ({s.subtreeSize - 1})</span>}
      </div>
      <div className="bar-col">
        <div className={s.hasError ? 'span-bar error' : 'span-bar'} style={{ left: `${left}%`, width: `max(2px, ${width}%)`, background: color }} />
        {crit?.map((c) => (
          <div
            key={c.start}
            className="crit-seg"
            style={{ left: `${((c.start - viewStart) / viewDur) * 100}%`, width: `max(2px, ${((c.end - c.start) / viewDur) * 100}%)` }}
          />
        ))}
        <span
          className="bar-label"
          style={labelRight ? { left: `calc(${Math.max(0, left + width)}% + 4px)` } : { right: `calc(${Math.max(0, 100 - left)}% + 4px)` }}
        >
          {formatDuration(s.duration)}
        </span>
      </div>
    </div>
  );
});
