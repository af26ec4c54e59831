// Duration and time formatting. All trace times are microseconds.

function trim(n: number, digits: number): string {
  const t = n.toFixed(digits);
  return t.includes('.') ? t.replace(/\.?0+$/, '') : t;
}

/** A duration in µs as a short human string: `850µs`, `12.35ms`, `1.5s`, `2m 5s`, `1h 2m`. */
export function formatDuration(us: number): string {
  if (!Number.isFinite(us)) return '–';
  if (us < 0) return '-' + formatDuration(-us);
  if (us === 0) return '0µs';
  if (us < 1) return `${trim(us * 1000, 0)}ns`;
  if (us < 1_000) return `${trim(us, 2)}µs`;
  if (us < 1_000_000) return `${trim(us / 1_000, 2)}ms`;
  if (us < 60_000_000) return `${trim(us / 1_000_000, 2)}s`;
  if (us < 3_600_000_000) {
    const m = Math.floor(us / 60_000_000);
    const s = Math.round((us - m * 60_000_000) / 1_000_000);
    return s === 60 ? `${m + 1}m` : s ? `${m}m ${s}s` : `${m}m`;
  }
  const h = Math.floor(us / 3_600_000_000);
  const m = Math.round((us - h * 3_600_000_000) / 60_000_000);
  return m === 60 ? `${h + 1}h` : m ? `${h}h ${m}m` : `${h}h`;
}

const GO_UNITS: Record<string, number> = {
  ns: 0.001,
  us: 1,
  µs: 1,
  μs: 1,
  ms: 1_000,
  s: 1_000_000,
  m: 60_000_000,
  h: 3_600_000_000,
};

/**
 * Parses a Go duration (`1.2s`, `100ms`, `1m30s`, `500us`) into µs.
 * Returns null when the text is not a valid, non-negative duration.
 */
export function parseGoDuration(text: string): number | null {
  const s = text.trim();
  if (!s) return null;
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) return null;
    total += parseFloat(m[1]) * GO_UNITS[m[2]];
    pos = re.lastIndex;
  }
  return total;
}

export type TimeZoneMode = 'local' | 'utc';

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** `2026-11-25 21:04:33.123` in UTC or local time, from µs since the epoch. */
export function formatTimestamp(us: number, tz: TimeZoneMode, withMs = true): string {
  const d = new Date(Math.floor(us / 1000));
  if (Number.isNaN(d.getTime())) return '–';
  const utc = tz === 'utc';
  const y = utc ? d.getUTCFullYear() : d.getFullYear();
  const mo = (utc ? d.getUTCMonth() : d.getMonth()) + 1;
  const da = utc ? d.getUTCDate() : d.getDate();
  const h = utc ? d.getUTCHours() : d.getHours();
  const mi = utc ? d.getUTCMinutes() : d.getMinutes();
  const se = utc ? d.getUTCSeconds() : d.getSeconds();
  const ms = utc ? d.getUTCMilliseconds() : d.getMilliseconds();
  const base = `${y}-${pad(mo)}-${pad(da)} ${pad(h)}:${pad(mi)}:${pad(se)}`;
  return (withMs ? `${base}.${pad(ms, 3)}` : base) + (utc ? ' UTC' : '');
}

/** `HH:MM:SS` only, for axes. */
export function formatClock(us: number, tz: TimeZoneMode): string {
  const d = new Date(Math.floor(us / 1000));
  if (Number.isNaN(d.getTime())) return '–';
  const utc = tz === 'utc';
  const h = utc ? d.getUTCHours() : d.getHours();
  const mi = utc ? d.getUTCMinutes() : d.getMinutes();
  const se = utc ? d.getUTCSeconds() : d.getSeconds();
  return `${pad(h)}:${pad(mi)}:${pad(se)}`;
}

/** An axis label for a time tick: `HH:MM:SS`, with milliseconds when ticks are closer than a second. */
export function formatAxisTime(us: number, stepUs: number, tz: TimeZoneMode): string {
  const clock = formatClock(us, tz);
  if (stepUs >= 1_000_000) return clock;
  const ms = Math.floor(us / 1000) % 1000;
  return `${clock}.${String(ms).padStart(3, '0')}`;
}

/** `5 minutes ago`, relative to `nowUs`. */
export function formatRelative(us: number, nowUs: number): string {
  const diff = nowUs - us;
  const future = diff < 0;
  const sec = Math.abs(diff) / 1_000_000;
  let text: string;
  if (sec < 45) text = 'a few seconds';
  else if (sec < 90) text = 'a minute';
  else if (sec < 45 * 60) text = `${Math.round(sec / 60)} minutes`;
  else if (sec < 90 * 60) text = 'an hour';
  else if (sec < 22 * 3600) text = `${Math.round(sec / 3600)} hours`;
  else if (sec < 36 * 3600) text = 'a day';
  else text = `${Math.round(sec / 86400)} days`;
  return future ? `in ${text}` : `${text} ago`;
}

/** Picks a "nice" tick step (1, 2, 5 × 10^k) for a span of `range` split into about `count` ticks. */
export function niceStep(range: number, count: number): number {
  if (range <= 0 || count <= 0) return 1;
  const raw = range / count;
  const pow = Math.pow(10, Math.floor(Math.log10(raw)));
  const f = raw / pow;
  const nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  return nice * pow;
}

/** µs since the epoch (as text) to a `datetime-local` input value, in UTC or local time. */
export function toDateTimeLocal(us: string, tz: TimeZoneMode): string {
  const n = Number(us);
  if (!us || !Number.isFinite(n)) return '';
  const d = new Date(n / 1000);
  if (tz === 'utc') return d.toISOString().slice(0, 16);
  const off = d.getTimezoneOffset() * 60_000;
  return new Date(d.getTime() - off).toISOString().slice(0, 16);
}

/** A `datetime-local` input value, read in UTC or local time, to µs since the epoch (as text). */
export function fromDateTimeLocal(v: string, tz: TimeZoneMode): string {
  if (!v) return '';
  const ms = tz === 'utc' ? Date.parse(v + ':00Z') : new Date(v).getTime();
  return Number.isFinite(ms) ? String(ms * 1000) : '';
}
