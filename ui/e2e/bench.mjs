// Measures (does not assert) how long a 50,000-span trace takes to become
// interactive in the UI: from navigation start until the first span row is
// visible, and until a click on a row's collapse toggle has re-rendered the
// timeline. Repeats the load and reports min and median; writes JSON to
// SPOOR_UI_BENCH_OUT (default target/ui-bench.json).
//
//   SPOOR_URL=… SPOOR_OTLP_URL=… node bench.mjs
//
// Env: SPOOR_UI_BENCH_SPANS (default 50000), SPOOR_UI_BENCH_RUNS (default 3).

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { api, eventually, launch, newPage, OTLP_URL, SPOOR_URL, tid } from './lib/harness.mjs';
import { postHugeTrace } from './lib/fixtures.mjs';

const spans = Number(process.env.SPOOR_UI_BENCH_SPANS ?? 50_000);
const runs = Number(process.env.SPOOR_UI_BENCH_RUNS ?? 3);
const out = resolve(process.env.SPOOR_UI_BENCH_OUT ?? new URL('../../target/ui-bench.json', import.meta.url).pathname);

const postStarted = Date.now();
const id = await postHugeTrace(OTLP_URL, spans);
await eventually(async () => {
  const t = await api(`/api/traces/${id}`);
  assert.equal(t.data[0].spans.length, spans);
}, 120_000);
console.log(`bench: posted a ${spans}-span trace ${id} in ${Date.now() - postStarted} ms`);

const browser = await launch();
const samples = [];
try {
  for (let i = 0; i < runs; i++) {
    const page = await newPage(browser);
    page.setDefaultTimeout(180_000);
    await page.goto(`${SPOOR_URL}/trace/${id}`, { waitUntil: 'commit' });
    // In-page clock: performance.now() counts from the navigation start.
    const firstRow = await (
      await page.waitForFunction(
        () => {
          const row = document.querySelector('[data-testid="span-row"]');
          if (!row) return false;
          const r = row.getBoundingClientRect();
          return r.width > 0 && r.height > 0 ? performance.now() : false;
        },
        null,
        { polling: 'raf', timeout: 180_000 },
      )
    ).jsonValue();
    const rowsBefore = await tid(page, 'span-row').count();
    const toggle = tid(page, 'span-row').first().locator('[data-testid="span-toggle"]');
    await toggle.click();
    // Collapsing the root leaves one row; any change of the rendered rows counts.
    const interactive = await (
      await page.waitForFunction(
        (before) => {
          const rows = document.querySelectorAll('[data-testid="span-row"]');
          return rows.length !== before ? performance.now() : false;
        },
        rowsBefore,
        { polling: 'raf', timeout: 60_000 },
      )
    ).jsonValue();
    // When the trace's JSON had fully arrived (the rest is parsing and rendering).
    const apiMs = await page.evaluate(
      (tid) => performance.getEntriesByType('resource').find((e) => e.name.includes(`/api/traces/${tid}`))?.responseEnd ?? null,
      id,
    );
    samples.push({
      apiMs: apiMs === null ? null : Math.round(apiMs),
      firstRowMs: Math.round(firstRow),
      interactiveMs: Math.round(interactive),
      rowsBefore,
    });
    console.log(
      `bench: run ${i + 1}: trace JSON received ${apiMs === null ? '?' : Math.round(apiMs)} ms, first row ${Math.round(firstRow)} ms, ` +
        `interactive ${Math.round(interactive)} ms (${rowsBefore} rows rendered)`,
    );
    await page.context().close();
  }
} finally {
  await browser.close();
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : Math.round((s[s.length / 2 - 1] + s[s.length / 2]) / 2);
};
const stat = (k) => ({ min: Math.min(...samples.map((s) => s[k])), median: median(samples.map((s) => s[k])) });
const result = {
  what: 'time until a trace is interactive in the web UI (navigation start → first span row visible → a collapse click re-rendered)',
  spans,
  runs,
  apiMs: samples.every((s) => s.apiMs !== null) ? stat('apiMs') : null,
  firstRowMs: stat('firstRowMs'),
  interactiveMs: stat('interactiveMs'),
  samples,
  spoorProfile: process.env.SPOOR_E2E_PROFILE ?? 'unknown',
  machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', loadavg1m: Number(loadavg()[0].toFixed(2)) },
  at: new Date().toISOString(),
};
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
console.log(
  `bench: ${spans}-span trace interactive in min ${result.interactiveMs.min} ms, median ${result.interactiveMs.median} ms ` +
    `(first row: min ${result.firstRowMs.min} ms, median ${result.firstRowMs.median} ms; load ${result.machine.loadavg1m}); wrote ${out}`,
);
