import { memo, useState } from 'react';
import type { TraceModel } from '../lib/trace';
import { tagText } from '../lib/trace';
import type { KeyValue } from '../lib/types';
import { formatDuration, formatTimestamp } from '../lib/format';
import { usePrefs } from '../prefs';
import { Link } from '../router';
import { serviceColor } from '../colors';

type SetParams = (changes: Record<string, string | null>, replace?: boolean) => void;

function copy(text: string, done: () => void) {
  const fallback = () => {
    const ta = document.createElement('textarea');
    ta.value = text;
    document.body.appendChild(ta);
    ta.select();
    try {
      document.execCommand('copy');
    } catch {
      // nothing more to try
    }
    ta.remove();
    done();
  };
  if (navigator.clipboard?.writeText) navigator.clipboard.writeText(text).then(done, fallback);
  else fallback();
}

function CopyButton({ text, testid, label }: { text: string; testid?: string; label: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      className="btn-small"
      data-testid={testid}
      onClick={() =>
        copy(text, () => {
          setDone(true);
          window.setTimeout(() => setDone(false), 1200);
        })
      }
      title={`Copy ${text}`}
    >
      {done ? 'Copied' : label}
    </button>
  );
}

function KvTable({ items, testid, rowTestid }: { items: KeyValue[]; testid?: string; rowTestid?: string }) {
  if (!items.length)
    return (
      <div className="muted" data-testid={testid}>
        None
      </div>
    );
  const sorted = [...items].sort((a, b) => a.key.localeCompare(b.key));
  return (
    <table className="kv" data-testid={testid}>
      <tbody>
        {sorted.map((t, k) => (
          <tr key={`${t.key}-${k}`} data-testid={rowTestid} data-key={t.key}>
            <th>{t.key}</th>
            <td className="mono">{tagText(t.value)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The span's JSON, built only while the section is open. */
function SpanJson({ value }: { value: unknown }) {
  const [open, setOpen] = useState(false);
  const text = open ? JSON.stringify(value, null, 2) : '';
  return (
    <details onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>Span JSON</summary>
      {open && (
        <>
          <div className="json-actions">
            <CopyButton text={text} label="Copy JSON" />
          </div>
          <pre className="json mono" data-testid="span-json">
            {text}
          </pre>
        </>
      )}
    </details>
  );
}

// Memoized: the timeline re-renders on every scroll, the details need not.
export const SpanDetail = memo(function SpanDetail({
  model,
  index,
  onClose,
  setParams,
}: {
  model: TraceModel;
  index: number;
  onClose: () => void;
  setParams: SetParams;
}) {
  const { tz } = usePrefs();
  const s = model.spans[index];
  if (!s) return null;
  const span = s.span;
  const parent = s.parentIndex >= 0 ? model.spans[s.parentIndex] : null;
  const logs = span.logs ?? [];
  const refs = span.references ?? [];
  return (
    <aside className="span-detail" data-testid="span-detail" aria-label="Span details">
      <div className="detail-head">
        <h2>
          <span className="svc-dot" style={{ background: serviceColor(s.service) }} />
          {s.service}: {s.operation}
        </h2>
        <button type="button" className="btn-ghost" onClick={onClose} aria-label="Close span details" data-testid="span-detail-close">
          ✕
        </button>
      </div>
      <dl className="detail-facts">
        <div>
          <dt>Duration</dt>
          <dd>{formatDuration(s.duration)}</dd>
        </div>
        <div>
          <dt>Start</dt>
          <dd>
            {formatDuration(s.startTime - model.startTime)} <span className="muted">({formatTimestamp(s.startTime, tz)})</span>
          </dd>
        </div>
        <div>
          <dt>Span ID</dt>
          <dd className="mono">
            {s.spanID} <CopyButton text={s.spanID} testid="copy-span-id" label="Copy" />
          </dd>
        </div>
        <div>
          <dt>Trace ID</dt>
          <dd className="mono">
            {model.traceID} <CopyButton text={model.traceID} testid="copy-trace-id" label="Copy" />
          </dd>
        </div>
        {parent && (
          <div>
            <dt>Parent</dt>
            <dd>
              <button type="button" className="btn-link" onClick={() => setParams({ span: parent.key })}>
                {parent.service}: {parent.operation}
              </button>
            </dd>
          </div>
        )}
        {s.hasError && (
          <div>
            <dt>Status</dt>
            <dd className="text-error">error</dd>
          </div>
        )}
      </dl>
      {s.warnings.length > 0 && (
        <section className="warning-box" data-testid="span-warnings">
          {s.warnings.map((w) => (
            <div key={w}>⚠ {w}</div>
          ))}
        </section>
      )}
      <section>
        <h3>Attributes ({span.tags?.length ?? 0})</h3>
        <KvTable items={span.tags ?? []} testid="span-attributes" rowTestid="attr-row" />
      </section>
      <section>
        <h3>Resource ({s.process.tags?.length ?? 0})</h3>
        <div data-testid="span-resource">
          <div className="muted">service.name = {s.process.serviceName}</div>
          <KvTable items={s.process.tags ?? []} />
        </div>
      </section>
      <section data-testid="span-events">
        <h3>Events ({logs.length})</h3>
        {logs.length === 0 && <div className="muted">None</div>}
        {logs.map((l, k) => {
          const nameField = l.fields?.find((f) => f.key === 'event' || f.key === 'message');
          return (
            <details key={k} className="event" open={logs.length <= 3}>
              <summary>
                <span className="mono">+{formatDuration(l.timestamp - model.startTime)}</span> {nameField ? tagText(nameField.value) : 'event'}
              </summary>
              <KvTable items={l.fields ?? []} />
            </details>
          );
        })}
      </section>
      <section data-testid="span-links">
        <h3>Links ({refs.length})</h3>
        {refs.length === 0 && <div className="muted">None</div>}
        <ul className="links">
          {refs.map((r, k) => {
            const same = r.traceID === model.traceID || !r.traceID;
            const target = same ? model.bySpanID.get(r.spanID) : undefined;
            const t = target !== undefined ? model.spans[target] : null;
            return (
              <li key={k}>
                <span className="pill">{r.refType}</span>{' '}
                {same ? (
                  t ? (
                    <button type="button" className="btn-link" data-testid="link-jump" onClick={() => setParams({ span: t.key })}>
                      {t.service}: {t.operation} <span className="mono muted">{r.spanID}</span>
                    </button>
                  ) : (
                    <span className="mono">
                      {r.spanID} <span className="muted">(not in this trace)</span>
                    </span>
                  )
                ) : (
                  <Link to={`/trace/${encodeURIComponent(r.traceID)}?span=${encodeURIComponent(r.spanID)}`} data-testid="link-jump">
                    trace <span className="mono">{r.traceID}</span>, span <span className="mono">{r.spanID}</span>
                  </Link>
                )}
              </li>
            );
          })}
        </ul>
      </section>
      <section>
        <SpanJson value={{ ...span, process: s.process }} />
      </section>
    </aside>
  );
});
