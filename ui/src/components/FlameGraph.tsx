import { useEffect, useMemo, useRef, useState } from 'react';
import type { MouseEvent } from 'react';
import type { TraceModel } from '../lib/trace';
import { formatDuration } from '../lib/format';
import { serviceColor } from '../colors';
import { useSize } from './useSize';

const ROW = 18;
const MAX_ROWS = 400;

/**
 * A flame chart of the trace: x is time, each level of the call tree is a
 * row. Drawn on a canvas so 50,000 spans stay cheap. Click a span to open it
 * in the timeline.
 */
export function FlameGraph({ model, onSelect }: { model: TraceModel; onSelect: (key: string) => void }) {
  const wrap = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const { width } = useSize(wrap);
  const [hover, setHover] = useState<number>(-1);
  const depth = Math.min(model.depth, MAX_ROWS);
  const height = Math.max(ROW, depth * ROW);

  // Spans per level, for hit testing.
  const levels = useMemo(() => {
    const out: number[][] = Array.from({ length: depth }, () => []);
    for (const s of model.spans) if (s.depth < depth) out[s.depth].push(s.index);
    return out;
  }, [model, depth]);

  useEffect(() => {
    const c = canvas.current;
    if (!c || width <= 0) return;
    const dpr = window.devicePixelRatio || 1;
    c.width = Math.floor(width * dpr);
    c.height = Math.floor(height * dpr);
    const ctx = c.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const dur = model.duration || 1;
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    for (const s of model.spans) {
      if (s.depth >= depth) continue;
      const x = ((s.startTime - model.startTime) / dur) * width;
      const w = Math.max(1, (s.duration / dur) * width);
      const y = s.depth * ROW;
      ctx.fillStyle = s.hasError ? '#e5484d' : serviceColor(s.service);
      ctx.globalAlpha = s.index === hover ? 1 : 0.85;
      ctx.fillRect(x, y + 1, w - (w > 2 ? 1 : 0), ROW - 2);
      if (w > 40) {
        ctx.globalAlpha = 1;
        ctx.fillStyle = '#fff';
        const label = `${s.operation}`;
        const maxChars = Math.floor((w - 6) / 6.2);
        ctx.fillText(label.length > maxChars ? label.slice(0, Math.max(0, maxChars - 1)) + '…' : label, x + 3, y + ROW / 2);
      }
    }
    ctx.globalAlpha = 1;
  }, [model, width, height, depth, hover]);

  const hit = (e: MouseEvent) => {
    const r = canvas.current?.getBoundingClientRect();
    if (!r) return -1;
    const lvl = Math.floor((e.clientY - r.top) / ROW);
    const t = model.startTime + ((e.clientX - r.left) / r.width) * model.duration;
    const list = levels[lvl];
    if (!list) return -1;
    let best = -1;
    for (const i of list) {
      const s = model.spans[i];
      if (s.startTime <= t && t <= s.endTime && (best < 0 || s.duration < model.spans[best].duration)) best = i;
    }
    return best;
  };

  const h = hover >= 0 ? model.spans[hover] : null;
  return (
    <div className="flame-view" data-testid="flamegraph">
      <div className="flame-info muted">
        {h
          ? `${h.service}: ${h.operation} · ${formatDuration(h.duration)} · starts at +${formatDuration(h.startTime - model.startTime)}`
          : 'Hover a span for details, click to open it in the timeline.'}
        {model.depth > MAX_ROWS && ` (showing the first ${MAX_ROWS} of ${model.depth} levels)`}
      </div>
      <div ref={wrap} className="flame-canvas-wrap">
        <canvas
          ref={canvas}
          style={{ width: '100%', height, cursor: hover >= 0 ? 'pointer' : 'default' }}
          onMouseMove={(e) => setHover(hit(e))}
          onMouseLeave={() => setHover(-1)}
          onClick={(e) => {
            const i = hit(e);
            if (i >= 0) onSelect(model.spans[i].key);
          }}
        />
      </div>
    </div>
  );
}
