import { useMemo } from 'react';
import type { TraceModel } from '../lib/trace';
import { flattenOps, opTree } from '../lib/opTree';
import type { OpNode } from '../lib/opTree';
import { formatDuration } from '../lib/format';
import { serviceColor } from '../colors';

const NW = 220;
const NH = 44;
const GX = 50;
const GY = 10;
const MAX_NODES = 3000;

interface Placed {
  node: OpNode;
  x: number;
  y: number;
  parent: Placed | null;
}

/** Tidy left-to-right tree layout: leaves take consecutive slots, parents centre on their children. */
function layout(roots: OpNode[]): { placed: Placed[]; width: number; height: number; truncated: boolean } {
  const placed: Placed[] = [];
  let slot = 0;
  let truncated = false;
  // Iterative post-order so deep trees do not overflow the stack.
  type Frame = { node: OpNode; parent: Placed | null; childIdx: number; me: Placed; ys: number[] };
  for (const root of roots) {
    if (placed.length >= MAX_NODES) {
      truncated = true;
      break;
    }
    const mk = (node: OpNode, parent: Placed | null): Frame => {
      const me: Placed = { node, x: node.depth * (NW + GX), y: 0, parent };
      placed.push(me);
      return { node, parent, childIdx: 0, me, ys: [] };
    };
    const stack: Frame[] = [mk(root, null)];
    while (stack.length) {
      const f = stack[stack.length - 1];
      if (f.childIdx < f.node.children.length && placed.length < MAX_NODES) {
        const c = f.node.children[f.childIdx++];
        stack.push(mk(c, f.me));
        continue;
      }
      if (f.childIdx < f.node.children.length) truncated = true;
      stack.pop();
      f.me.y = f.ys.length ? (f.ys[0] + f.ys[f.ys.length - 1]) / 2 : slot++ * (NH + GY);
      if (stack.length) stack[stack.length - 1].ys.push(f.me.y);
    }
  }
  let width = 0;
  let height = 0;
  for (const p of placed) {
    width = Math.max(width, p.x + NW);
    height = Math.max(height, p.y + NH);
  }
  return { placed, width: width + 20, height: height + 20, truncated };
}

export function TraceGraph({ model }: { model: TraceModel }) {
  const roots = useMemo(() => opTree(model), [model]);
  const total = useMemo(() => flattenOps(roots).length, [roots]);
  const { placed, width, height, truncated } = useMemo(() => layout(roots), [roots]);
  return (
    <div className="graph-view">
      <p className="muted">
        The call tree with spans grouped by service and operation along each path: {total} node{total === 1 ? '' : 's'} for {model.spans.length} spans.
        {truncated && ` Showing the first ${MAX_NODES} nodes.`}
      </p>
      <div className="graph-scroll">
        <svg data-testid="trace-graph" width={width} height={height} viewBox={`-10 -10 ${width} ${height}`}>
          {placed.map(
            (p) =>
              p.parent && (
                <path
                  key={`e${p.node.path}`}
                  className="edge"
                  d={`M${p.parent.x + NW},${p.parent.y + NH / 2} C${p.parent.x + NW + GX / 2},${p.parent.y + NH / 2} ${p.x - GX / 2},${p.y + NH / 2} ${p.x},${p.y + NH / 2}`}
                />
              ),
          )}
          {placed.map((p) => (
            <g
              key={p.node.path}
              transform={`translate(${p.x},${p.y})`}
              className="graph-node"
              data-testid="graph-node"
              data-service={p.node.service}
              data-operation={p.node.operation}
            >
              <title>{`${p.node.service}: ${p.node.operation}\n${p.node.count} span(s), ${p.node.errors} error(s), total ${formatDuration(p.node.totalDuration)}`}</title>
              <rect width={NW} height={NH} rx={6} className={p.node.errors ? 'node-box error' : 'node-box'} />
              <rect width={5} height={NH} rx={2} fill={serviceColor(p.node.service)} />
              <text x={12} y={17} className="node-svc">
                {clip(p.node.service, 30)}
              </text>
              <text x={12} y={34} className="node-op">
                {clip(p.node.operation, 26)} {p.node.count > 1 ? `×${p.node.count}` : ''}
              </text>
              <text x={NW - 6} y={17} textAnchor="end" className="node-dur">
                {formatDuration(p.node.totalDuration)}
              </text>
            </g>
          ))}
        </svg>
      </div>
    </div>
  );
}

function clip(s: string, n: number): string {
  return s.length > n ? s.slice(0, n - 1) + '…' : s;
}
