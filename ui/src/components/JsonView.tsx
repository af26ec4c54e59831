import { useEffect, useMemo, useState } from 'react';
import type { TraceModel } from '../lib/trace';
import type { JTrace } from '../lib/types';
import { getTrace, apiUrl } from '../api';

const MAX_CHARS = 2_000_000;

function download(name: string, text: string) {
  const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function JsonView({ model, local, raw, setRaw }: { model: TraceModel; local: boolean; raw: boolean; setRaw: (r: boolean) => void }) {
  const [rawTrace, setRawTrace] = useState<{ trace: JTrace } | { error: string } | null>(null);
  useEffect(() => {
    if (!raw || local) return;
    const ac = new AbortController();
    getTrace(model.traceID, true, ac.signal)
      .then((t) => setRawTrace({ trace: t }))
      .catch((e: unknown) => {
        if (!ac.signal.aborted) setRawTrace({ error: e instanceof Error ? e.message : String(e) });
      });
    return () => ac.abort();
  }, [raw, local, model.traceID]);

  const shown: JTrace | null = raw && !local ? (rawTrace && 'trace' in rawTrace ? rawTrace.trace : null) : model.raw;
  const text = useMemo(() => (shown ? JSON.stringify({ data: [shown] }, null, 2) : ''), [shown]);
  const params = new URLSearchParams(raw ? { raw: 'true' } : {});
  return (
    <div className="json-view">
      <div className="json-actions">
        <label className="inline">
          <input type="checkbox" checked={raw} onChange={(e) => setRaw(e.target.checked)} data-testid="json-raw-toggle" disabled={local} />
          Raw (unadjusted, as stored)
        </label>
        {!local && (
          <a href={apiUrl(`/api/traces/${encodeURIComponent(model.traceID)}`, params)} target="_blank" rel="noreferrer">
            Open API response
          </a>
        )}
        <button type="button" onClick={() => download(`trace-${model.traceID}${raw ? '-raw' : ''}.json`, text)} disabled={!text} data-testid="json-download">
          Download
        </button>
      </div>
      {raw && !local && rawTrace && 'error' in rawTrace && <div className="error-box">{rawTrace.error}</div>}
      {raw && !local && !rawTrace && <div className="loading">Loading raw trace…</div>}
      <pre className="json mono" data-testid="trace-json">
        {text.length > MAX_CHARS ? text.slice(0, MAX_CHARS) + `\n… (${text.length - MAX_CHARS} more characters; use Download)` : text}
      </pre>
    </div>
  );
}
