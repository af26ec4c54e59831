// Jaeger SPM `MetricFamily` JSON (as served by `/api/metrics/*`) into series.

export interface Point {
  /** ms since the epoch */
  t: number;
  v: number;
}

export interface Series {
  labels: Record<string, string>;
  points: Point[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return Number(v);
  return NaN;
}

/** Parses a MetricFamily. Points with non-finite values (NaN) are dropped. Throws on a shape that is not a MetricFamily. */
export function parseMetricFamily(body: unknown): Series[] {
  if (!isObj(body)) throw new Error('metrics response is not an object');
  const metrics = body.metrics;
  if (metrics === undefined || metrics === null) return [];
  if (!Array.isArray(metrics)) throw new Error('metrics response has no "metrics" list');
  const out: Series[] = [];
  for (const m of metrics) {
    if (!isObj(m)) continue;
    const labels: Record<string, string> = {};
    for (const l of Array.isArray(m.labels) ? m.labels : []) if (isObj(l)) labels[String(l.name)] = String(l.value);
    const points: Point[] = [];
    for (const p of Array.isArray(m.metricPoints) ? m.metricPoints : []) {
      if (!isObj(p)) continue;
      const g = isObj(p.gaugeValue) ? p.gaugeValue : {};
      const v = num(g.doubleValue ?? g.intValue);
      const t = typeof p.timestamp === 'string' ? Date.parse(p.timestamp) : num(p.timestamp);
      if (Number.isFinite(v) && Number.isFinite(t)) points.push({ t, v });
    }
    points.sort((a, b) => a.t - b.t);
    out.push({ labels, points });
  }
  return out;
}

/** Mean of a series' points, or null when it has none. */
export function mean(points: Point[]): number | null {
  if (!points.length) return null;
  return points.reduce((s, p) => s + p.v, 0) / points.length;
}

/** The last point's value, or null. */
export function last(points: Point[]): number | null {
  return points.length ? points[points.length - 1].v : null;
}
