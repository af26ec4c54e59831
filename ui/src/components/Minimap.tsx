import { useEffect, useRef, useState } from 'react';
import type { PointerEvent } from 'react';
import type { TraceModel } from '../lib/trace';
import { formatDuration } from '../lib/format';
import { serviceColor } from '../colors';
import { useSize } from './useSize';

const H = 64;

/**
 * An overview of the whole trace, one thin line per span. Drag to choose the
 * time range the timeline shows; double-click to reset.
 */
export function Minimap({ model, range, setRange }: { model: TraceModel; range: [number, number]; setRange: (r: [number, number]) => void }) {
  const wrap = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const { width } = useSize(wrap);
  const [drag, setDrag] = useState<[number, number] | null>(null);

  useEffect(() => {
    const c = canvas.current;
    if (!c || width <= 0) return;
    const dpr = window.devicePixelRatio || 1;
    c.width = Math.floor(width * dpr);
    c.height = Math.floor(H * dpr);
    const ctx = c.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, H);
    const n = model.spans.length;
    const dur = model.duration || 1;
    const rowH = Math.max(1, Math.min(6, H / Math.max(1, n)));
    for (let i = 0; i < n; i++) {
      const s = model.spans[i];
      const x = ((s.startTime - model.startTime) / dur) * width;
      const w = Math.max(1, (s.duration / dur) * width);
      const y = n <= H / rowH ? i * rowH : (i / n) * (H - rowH);
      ctx.fillStyle = s.hasError ? '#e5484d' : serviceColor(s.service);
      ctx.fillRect(x, y, w, rowH);
    }
  }, [model, width]);

  const frac = (e: PointerEvent) => {
    const r = wrap.current?.getBoundingClientRect();
    if (!r || r.width <= 0) return 0;
    return Math.min(1, Math.max(0, (e.clientX - r.left) / r.width));
  };

  const shown = drag ? ([Math.min(drag[0], drag[1]), Math.max(drag[0], drag[1])] as [number, number]) : range;
  const zoomed = range[0] > 0 || range[1] < 1;

  return (
    <div className="minimap-block">
      <div
        ref={wrap}
        className="minimap"
        data-testid="minimap"
        title="Drag to zoom the timeline to a time range; double-click to reset"
        onPointerDown={(e) => {
          (e.target as Element).setPointerCapture?.(e.pointerId);
          const f = frac(e);
          setDrag([f, f]);
        }}
        onPointerMove={(e) => {
          if (drag) setDrag([drag[0], frac(e)]);
        }}
        onPointerUp={(e) => {
          if (!drag) return;
          const a = Math.min(drag[0], frac(e));
          const b = Math.max(drag[0], frac(e));
          setDrag(null);
          if (b - a > 0.002) setRange([a, b]);
        }}
        onDoubleClick={() => setRange([0, 1])}
      >
        <canvas ref={canvas} style={{ width: '100%', height: H }} />
        <div className="minimap-shade" style={{ left: 0, width: `${shown[0] * 100}%` }} />
        <div className="minimap-shade" style={{ left: `${shown[1] * 100}%`, right: 0 }} />
        <div className="minimap-window" style={{ left: `${shown[0] * 100}%`, width: `${(shown[1] - shown[0]) * 100}%` }} />
      </div>
      <div className="minimap-axis">
        <span>0</span>
        <span>
          {zoomed && (
            <>
              Showing {formatDuration(range[0] * model.duration)} – {formatDuration(range[1] * model.duration)}{' '}
              <button type="button" className="btn-link" data-testid="reset-zoom" onClick={() => setRange([0, 1])}>
                Reset zoom
              </button>
            </>
          )}
        </span>
        <span>{formatDuration(model.duration)}</span>
      </div>
    </div>
  );
}
