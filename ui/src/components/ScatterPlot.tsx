import { useMemo, useState } from 'react';
import type { TraceSummary } from '../lib/summary';
import { formatAxisTime, formatDuration, formatTimestamp, niceStep } from '../lib/format';
import { usePrefs } from '../prefs';

const W = 900;
const H = 180;
const PAD = { l: 60, r: 16, t: 10, b: 24 };

export function ScatterPlot({ traces, onOpen }: { traces: TraceSummary[]; onOpen: (id: string) => void }) {
  const { tz } = usePrefs();
  const [hover, setHover] = useState<TraceSummary | null>(null);
  const geo = useMemo(() => {
    let x0 = Infinity;
    let x1 = -Infinity;
    let y1 = 0;
    let maxSpans = 1;
    for (const t of traces) {
      x0 = Math.min(x0, t.startTime);
      x1 = Math.max(x1, t.startTime);
      y1 = Math.max(y1, t.duration);
      maxSpans = Math.max(maxSpans, t.spanCount);
    }
    if (!traces.length) {
      x0 = 0;
      x1 = 1;
    }
    if (x1 === x0) {
      x0 -= 1_000_000;
      x1 += 1_000_000;
    }
    if (y1 <= 0) y1 = 1;
    const yStep = niceStep(y1, 4);
    y1 = Math.ceil(y1 / yStep) * yStep;
    const xs = (v: number) => PAD.l + ((v - x0) / (x1 - x0)) * (W - PAD.l - PAD.r);
    const ys = (v: number) => H - PAD.b - (v / y1) * (H - PAD.t - PAD.b);
    const rs = (n: number) => 3 + 9 * Math.sqrt(n / maxSpans);
    const yTicks: number[] = [];
    for (let v = 0; v <= y1 + 1e-9; v += yStep) yTicks.push(v);
    const xTicks: number[] = [];
    const xStep = niceStep(x1 - x0, 6);
    for (let v = Math.ceil(x0 / xStep) * xStep; v <= x1; v += xStep) xTicks.push(v);
    return { xs, ys, rs, yTicks, xTicks, xStep };
  }, [traces]);

  return (
    <div className="scatter-wrap">
      <svg
        data-testid="scatter-plot"
        className="scatter"
        viewBox={`0 0 ${W} ${H}`}
        preserveAspectRatio="none"
        role="img"
        aria-label="Trace durations over time"
      >
        {geo.yTicks.map((v) => (
          <g key={`y${v}`}>
            <line x1={PAD.l} x2={W - PAD.r} y1={geo.ys(v)} y2={geo.ys(v)} className="grid" />
            <text x={PAD.l - 6} y={geo.ys(v) + 4} textAnchor="end" className="axis-label">
              {formatDuration(v)}
            </text>
          </g>
        ))}
        {geo.xTicks.map((v) => (
          <text key={`x${v}`} x={geo.xs(v)} y={H - 6} textAnchor="middle" className="axis-label">
            {formatAxisTime(v, geo.xStep, tz)}
          </text>
        ))}
        {traces.map((t) => (
          <circle
            key={t.traceID}
            cx={geo.xs(t.startTime)}
            cy={geo.ys(t.duration)}
            r={geo.rs(t.spanCount)}
            className={t.errorCount ? 'dot dot-error' : 'dot'}
            onClick={() => onOpen(t.traceID)}
            onMouseEnter={() => setHover(t)}
            onMouseLeave={() => setHover(null)}
          >
            <title>{`${t.rootService}: ${t.rootOperation}\n${formatDuration(t.duration)}, ${t.spanCount} spans, ${t.errorCount} errors`}</title>
          </circle>
        ))}
      </svg>
      <div className="scatter-hover" aria-live="polite">
        {hover
          ? `${hover.rootService}: ${hover.rootOperation} · ${formatDuration(hover.duration)} · ${hover.spanCount} spans${hover.errorCount ? ` · ${hover.errorCount} errors` : ''} · ${formatTimestamp(hover.startTime, tz)}`
          : 'Each dot is a trace: x = start time, y = duration, size = span count; red dots have errors. Click to open.'}
      </div>
    </div>
  );
}
