// Search page: finding traces, the result count, the URL round trip, the
// empty and error states.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  api, assertNoPageErrors, datasets, eventually, expectCount, expectText, go, launch, newPage, screenshot,
  selectOption, SPOOR_URL, tid,
} from '../lib/harness.mjs';
import { checkoutTrace, resourceSpans, SERVICES, TRACES, traceId } from '../lib/fixtures.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

async function resultIds(page) {
  return (await datasets(tid(page, 'result-row'))).map((d) => d.traceId).sort();
}

describe('search', () => {
  it('finds the posted traces by service and shows their summary', async () => {
    const page = await newPage(browser);
    await go(page, '/search');
    await selectOption(tid(page, 'search-service'), 'frontend');
    await tid(page, 'search-submit').click();
    await expectCount(tid(page, 'result-row'), 4);
    assert.deepEqual(await resultIds(page), [TRACES.A1, TRACES.A2, TRACES.A3, TRACES.B].sort());
    await expectText(tid(page, 'result-count'), /\b4 Traces?\b/i);
    const a1 = page.locator(`[data-testid="result-row"][data-trace-id="${TRACES.A1}"]`);
    await expectText(tid(a1, 'result-title'), /frontend/);
    await expectText(tid(a1, 'result-title'), /GET \/checkout/);
    await expectText(tid(a1, 'result-span-count'), /\b7\b/);
    await expectText(tid(a1, 'result-duration'), /120/);
    await tid(page, 'search-results').waitFor();
    await expectText(tid(a1, 'result-error-count'), /\b1\b/);
    const b = page.locator(`[data-testid="result-row"][data-trace-id="${TRACES.B}"]`);
    await expectText(tid(b, 'result-span-count'), /\b9\b/);
    await tid(page, 'scatter-plot').first().waitFor();
    // The query went into the URL.
    assert.match(page.url(), /[?&]service=frontend(&|$)/);
    assertNoPageErrors(page);
  });

  it('shows as many rows as the API returns for the same query (tracegen data)', async () => {
    const page = await newPage(browser);
    await go(page, '/search');
    await selectOption(tid(page, 'search-service'), 'ts-ui-dashboard');
    await tid(page, 'search-limit').fill('20');
    await tid(page, 'search-submit').click();
    const fromApi = await api('/api/traces?service=ts-ui-dashboard&limit=20');
    assert.ok(fromApi.data.length > 0, 'tracegen traces are searchable');
    await expectCount(tid(page, 'result-row'), fromApi.data.length);
    await expectText(tid(page, 'result-count'), new RegExp(`\\b${fromApi.data.length} Traces?\\b`, 'i'));
    const all = new Set((await api('/api/traces?service=ts-ui-dashboard&limit=1000')).data.map((t) => t.traceID));
    for (const id of await resultIds(page)) assert.ok(all.has(id), `row ${id} is a ts-ui-dashboard trace`);
    await screenshot(page, 'search');
    assertNoPageErrors(page);
  });

  it('runs the query held in the URL and fills the form from it', async () => {
    const page = await newPage(browser);
    await go(page, '/search?service=frontend&operation=GET%20%2Fcheckout&minDuration=130ms&limit=20&lookback=1h');
    await expectCount(tid(page, 'result-row'), 3);
    assert.deepEqual(await resultIds(page), [TRACES.A2, TRACES.A3, TRACES.B].sort());
    await eventually(async () => assert.equal(await tid(page, 'search-service').inputValue(), 'frontend'));
    await eventually(async () => assert.equal(await tid(page, 'search-operation').inputValue(), 'GET /checkout'));
    assert.equal(await tid(page, 'search-min-duration').inputValue(), '130ms');
    assert.equal(await tid(page, 'search-limit').inputValue(), '20');
    assert.equal(await tid(page, 'search-lookback').inputValue(), '1h');
    // Both span-duration bounds (on the root operation) and another lookback.
    await go(page, '/search?service=frontend&operation=GET%20%2Fcheckout&minDuration=130ms&maxDuration=190ms&lookback=2h');
    await eventually(async () => assert.deepEqual(await resultIds(page), [TRACES.A2, TRACES.A3].sort()));
    assert.equal(await tid(page, 'search-max-duration').inputValue(), '190ms');
    assert.equal(await tid(page, 'search-lookback').inputValue(), '2h');
    assertNoPageErrors(page);
  });

  it('puts a query made in the form into the URL, which reloads to the same results', async () => {
    const page = await newPage(browser);
    await go(page, '/search');
    await selectOption(tid(page, 'search-service'), 'cart');
    await tid(page, 'search-tags').fill('customer.tier=gold');
    await tid(page, 'search-submit').click();
    await expectCount(tid(page, 'result-row'), 3);
    const ids = await resultIds(page);
    assert.deepEqual(ids, [TRACES.A1, TRACES.A2, TRACES.A3].sort());
    const url = new URL(page.url());
    assert.equal(url.pathname, '/search');
    assert.equal(url.searchParams.get('service'), 'cart');
    assert.match(url.searchParams.get('tags') ?? '', /customer\.tier/);
    // A fresh page on that URL: same form, same results.
    const again = await newPage(browser);
    await again.goto(url.toString());
    await expectCount(tid(again, 'result-row'), 3);
    assert.deepEqual(await resultIds(again), ids);
    await eventually(async () => assert.equal(await tid(again, 'search-service').inputValue(), 'cart'));
    assert.match(await tid(again, 'search-tags').inputValue(), /customer\.tier="?gold"?/);
    assertNoPageErrors(page);
    assertNoPageErrors(again);
  });

  it('sorts the results, and keeps the order in the URL', async () => {
    const page = await newPage(browser);
    await go(page, '/search?service=frontend&sort=longest');
    await expectCount(tid(page, 'result-row'), 4);
    const order = async () => (await datasets(tid(page, 'result-row'))).map((d) => d.traceId);
    assert.deepEqual(await order(), [TRACES.B, TRACES.A3, TRACES.A2, TRACES.A1]);
    await tid(page, 'search-sort').selectOption('shortest');
    await eventually(async () => assert.deepEqual(await order(), [TRACES.A1, TRACES.A2, TRACES.A3, TRACES.B]));
    await eventually(async () => assert.equal(new URL(page.url()).searchParams.get('sort'), 'shortest'));
    assertNoPageErrors(page);
  });

  it('filters with the richer expression language', async () => {
    const page = await newPage(browser);
    await go(page, '/search');
    await selectOption(tid(page, 'search-service'), 'cart');
    await tid(page, 'search-filter').fill('customer.tier=~"g.*" AND cart.items=3');
    await tid(page, 'search-submit').click();
    await expectCount(tid(page, 'result-row'), 3);
    assert.deepEqual(await resultIds(page), [TRACES.A1, TRACES.A2, TRACES.A3].sort());
    assert.equal(new URL(page.url()).searchParams.get('filter'), 'customer.tier=~"g.*" AND cart.items=3');
    await tid(page, 'search-filter').fill('customer.tier=silver OR stock.sku=nothing');
    await tid(page, 'search-submit').click();
    await expectCount(tid(page, 'result-row'), 1);
    assert.deepEqual(await resultIds(page), [TRACES.B]);
    assertNoPageErrors(page);
  });

  it('says which services exist when a search finds nothing', async () => {
    const page = await newPage(browser);
    await go(page, '/search?service=frontend&minDuration=1h');
    const empty = tid(page, 'search-empty');
    await empty.waitFor();
    const text = await eventually(async () => {
      const t = (await empty.textContent()) ?? '';
      for (const s of [...SERVICES, 'ts-ui-dashboard']) assert.ok(t.includes(s), `empty state names ${s}: ${t}`);
      return t;
    });
    assert.ok(text.length > 0);
    assert.equal(await tid(page, 'result-row').count(), 0);
    assertNoPageErrors(page);
  });

  it('names a service in the URL that does not exist as unknown, not as an empty result', async () => {
    const page = await newPage(browser);
    await go(page, '/search?service=Frontend&lookback=1h');
    const box = tid(page, 'unknown-service');
    await box.waitFor();
    await expectText(box, /Unknown service/);
    await expectText(box, /Frontend/);
    await expectText(tid(page, 'similar-services'), /\bfrontend\b/);
    assert.equal(await tid(page, 'search-empty').count(), 0);
    assert.equal(await tid(page, 'result-row').count(), 0);
    await expectText(tid(page, 'unknown-service-option'), /Frontend \(unknown service\)/);
    // A service that exists is offered as it is, and searched.
    await selectOption(tid(page, 'search-service'), 'frontend');
    await tid(page, 'search-submit').click();
    await expectCount(tid(page, 'result-row'), 4);
    assert.equal(await tid(page, 'unknown-service').count(), 0);
    assert.equal(await tid(page, 'unknown-service-option').count(), 0);
    assertNoPageErrors(page);
  });

  it('shows an error for a query the server refuses', async () => {
    const page = await newPage(browser);
    await go(page, '/search?service=frontend&minDuration=bogus');
    await tid(page, 'search-error').waitFor();
    assert.equal(await tid(page, 'result-row').count(), 0);
    assertNoPageErrors(page);
  });

  it('downloads the results as JSON and opens that file again', async () => {
    const page = await newPage(browser);
    await go(page, '/search?service=frontend');
    await expectCount(tid(page, 'result-row'), 4);
    const [download] = await Promise.all([page.waitForEvent('download'), tid(page, 'download-results').click()]);
    const file = await download.path();
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    assert.deepEqual(saved.data.map((t) => t.traceID).sort(), [TRACES.A1, TRACES.A2, TRACES.A3, TRACES.B].sort());
    const other = await newPage(browser);
    await go(other, '/search');
    await tid(other, 'open-file').setInputFiles(file);
    await expectCount(tid(other, 'result-row'), 4);
    assert.deepEqual(await resultIds(other), [TRACES.A1, TRACES.A2, TRACES.A3, TRACES.B].sort());
    assertNoPageErrors(page);
    assertNoPageErrors(other);
  });

  it('opens an OTLP JSON file of a trace the server does not have', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spoor-e2e-'));
    const file = join(dir, 'trace.otlp.json');
    const id = traceId(0xf11e);
    const spans = checkoutTrace(0xf11e, 'A', Date.now() - 60_000, 90);
    writeFileSync(file, JSON.stringify({ resourceSpans: resourceSpans(spans) }));
    const page = await newPage(browser);
    await go(page, '/search');
    await tid(page, 'open-file').setInputFiles(file);
    await expectCount(tid(page, 'result-row'), 1);
    assert.deepEqual(await resultIds(page), [id]);
    await tid(page, 'result-row').first().locator('[data-testid="result-title"]').click();
    await tid(page, 'span-row').first().waitFor();
    if (await tid(page, 'expand-all').count()) await tid(page, 'expand-all').click();
    await expectCount(tid(page, 'span-row'), 7);
    rmSync(dir, { recursive: true, force: true });
    assertNoPageErrors(page);
  });

  it('redirects /index.html to /search', async () => {
    const page = await newPage(browser);
    await go(page, '/index.html');
    await eventually(async () => assert.equal(new URL(page.url()).pathname, '/search'));
    await tid(page, 'search-service').waitFor();
    assertNoPageErrors(page);
  });

  it('redirects / to /search', async () => {
    const page = await newPage(browser);
    await go(page, '/');
    await eventually(async () => assert.equal(new URL(page.url()).pathname, '/search'));
    await tid(page, 'search-service').waitFor();
    assert.equal(new URL(page.url()).origin, new URL(SPOOR_URL).origin);
    assertNoPageErrors(page);
  });
});
