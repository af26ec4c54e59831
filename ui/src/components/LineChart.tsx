import { useMemo } from 'react';
import type { Point } from '../lib/metrics';
import { formatClock, niceStep } from '../lib/format';
import { usePrefs } from '../prefs';

const W = 420;
const H = 180;
const PAD = { l: 56, r: 10, t: 10, b: 22 };

export interface ChartSeries {
  name: string;
  color: string;
  points: Point[];
}

/** `domain` fixes the time axis (ms since the epoch) so charts side by side line up. */
export function LineChart({
  title,
  series,
  format,
  domain,
}: {
  title: string;
  series: ChartSeries[];
  format: (v: number) => string;
  domain?: [number, number];
}) {
  const { tz } = usePrefs();
  const g = useMemo(() => {
    let x0 = Infinity;
    let x1 = -Infinity;
    let y1 = 0;
    for (const s of series)
      for (const p of s.points) {
        x0 = Math.min(x0, p.t);
        x1 = Math.max(x1, p.t);
        y1 = Math.max(y1, p.v);
      }
    if (domain) {
      x0 = domain[0];
      x1 = domain[1];
    }
    if (!Number.isFinite(x0)) {
      x0 = 0;
      x1 = 1;
    }
    if (x1 === x0) x1 = x0 + 1;
    if (y1 <= 0) y1 = 1;
    const ys = niceStep(y1, 4);
    y1 = Math.ceil(y1 / ys) * ys;
    const sx = (t: number) => PAD.l + ((t - x0) / (x1 - x0)) * (W - PAD.l - PAD.r);
    const sy = (v: number) => H - PAD.b - (v / y1) * (H - PAD.t - PAD.b);
    const yt: number[] = [];
    for (let v = 0; v <= y1 + 1e-12; v += ys) yt.push(v);
    const xs = niceStep(x1 - x0, 4);
    const xt: number[] = [];
    for (let t = Math.ceil(x0 / xs) * xs; t <= x1; t += xs) xt.push(t);
    return { sx, sy, yt, xt };
  }, [series, domain]);
  const empty = series.every((s) => s.points.length === 0);
  return (
    <figure className="chart" data-testid="monitor-chart">
      <figcaption>
        {title}
        <span className="legend">
          {series.map((s) => (
            <span key={s.name}>
              <span className="legend-swatch" style={{ background: s.color }} /> {s.name}
            </span>
          ))}
        </span>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={title}>
        {g.yt.map((v) => (
          <g key={v}>
            <line x1={PAD.l} x2={W - PAD.r} y1={g.sy(v)} y2={g.sy(v)} className="grid" />
            <text x={PAD.l - 4} y={g.sy(v) + 4} textAnchor="end" className="axis-label">
              {format(v)}
            </text>
          </g>
        ))}
        {g.xt.map((t) => (
          <text key={t} x={g.sx(t)} y={H - 6} textAnchor="middle" className="axis-label">
            {formatClock(t * 1000, tz)}
          </text>
        ))}
        {series.map((s) =>
          s.points.length < 3 ? s.points.map((p) => <circle key={`${s.name}-${p.t}`} cx={g.sx(p.t)} cy={g.sy(p.v)} r={2.5} fill={s.color} />) : null,
        )}
        {series.map((s) => (
          <polyline key={s.name} fill="none" stroke={s.color} strokeWidth={1.8} points={s.points.map((p) => `${g.sx(p.t)},${g.sy(p.v)}`).join(' ')} />
        ))}
        {empty && (
          <text x={W / 2} y={H / 2} textAnchor="middle" className="axis-label">
            No data
          </text>
        )}
      </svg>
    </figure>
  );
}
