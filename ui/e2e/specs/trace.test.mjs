// Trace page: structure of the timeline, collapsing, span details, search
// within the trace, and the other views (graph, statistics, flame graph,
// spans table, JSON).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  api, assertNoPageErrors, datasets, eventually, expectCount, expectText, go, launch, newPage, screenshot, tid,
} from '../lib/harness.mjs';
import { EXPECTED_A_ROWS, TRACES, spanIdOf } from '../lib/fixtures.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const A1_KEYS = ['root', 'call', 'cart', 'reserve', 'select', 'query', 'render'];

async function rows(page) {
  return (await datasets(tid(page, 'span-row'))).map((d) => ({
    id: d.spanId,
    depth: Number(d.depth),
    service: d.service,
    operation: d.operation,
  }));
}

function rowOf(page, operation) {
  return page.locator(`[data-testid="span-row"][data-operation="${operation}"]`);
}

/** Opens trace A1 with every span visible. */
async function openA1(page, query = '') {
  await go(page, `/trace/${TRACES.A1}${query}`);
  await tid(page, 'span-row').first().waitFor();
  if (await tid(page, 'expand-all').count()) await tid(page, 'expand-all').click();
  await expectCount(tid(page, 'span-row'), 7);
}

describe('trace', () => {
  it('shows the posted structure: rows, depths, services and parents', async () => {
    const page = await newPage(browser);
    await openA1(page);
    const got = await rows(page);
    assert.deepEqual(
      got.map(({ depth, service, operation }) => ({ depth, service, operation })),
      EXPECTED_A_ROWS,
    );
    assert.deepEqual(
      got.map((r) => r.id),
      A1_KEYS.map((k) => spanIdOf(TRACES.A1, k)),
    );
    await expectText(tid(page, 'trace-title'), /frontend/);
    await expectText(tid(page, 'trace-title'), /GET \/checkout/);
    await expectText(tid(page, 'trace-span-count'), /\b7\b/);
    await expectText(tid(page, 'trace-services-count'), /\b3\b/);
    await expectText(tid(page, 'trace-depth'), /\b5\b/);
    await expectText(tid(page, 'trace-duration'), /120/);
    await tid(page, 'minimap').first().waitFor();
    assertNoPageErrors(page);
  });

  it('collapses a span to hide exactly its descendants, and expands it again', async () => {
    const page = await newPage(browser);
    await openA1(page);
    await tid(rowOf(page, 'POST /cart/checkout'), 'span-toggle').click();
    await expectCount(tid(page, 'span-row'), 4);
    assert.deepEqual(
      (await rows(page)).map((r) => r.operation),
      ['GET /checkout', 'HTTP POST /cart', 'POST /cart/checkout', 'render page'],
    );
    await tid(rowOf(page, 'POST /cart/checkout'), 'span-toggle').click();
    await expectCount(tid(page, 'span-row'), 7);
    await tid(page, 'collapse-all').click();
    await expectCount(tid(page, 'span-row'), 1);
    await tid(page, 'expand-all').click();
    await expectCount(tid(page, 'span-row'), 7);
    assertNoPageErrors(page);
  });

  it('shows the posted attributes and resource in the span details', async () => {
    const page = await newPage(browser);
    await openA1(page);
    const row = rowOf(page, 'POST /cart/checkout');
    // Click the row away from its toggle (on its name column).
    const box = await row.boundingBox();
    await row.click({ position: { x: Math.min(260, box.width / 4), y: box.height / 2 } });
    const detail = tid(page, 'span-detail').first();
    await detail.waitFor();
    const attr = (key) => tid(detail, 'span-attributes').locator(`[data-testid="attr-row"][data-key="${key}"]`);
    await expectText(attr('customer.tier'), /gold/);
    await expectText(attr('cart.items'), /(?<![0-9])3(?![0-9])/);
    await expectText(attr('e2e.flag'), /true/);
    await expectText(attr('http.route'), /\/cart\/checkout/);
    await expectText(attr('http.request.method'), /POST/);
    await expectText(tid(detail, 'span-resource'), /deployment\.environment/);
    await expectText(tid(detail, 'span-resource'), /e2e/);
    await tid(detail, 'copy-span-id').waitFor();
    assertNoPageErrors(page);
  });

  it('opens the span named in the URL, with its error event', async () => {
    const page = await newPage(browser);
    await go(page, `/trace/${TRACES.A1}?span=${spanIdOf(TRACES.A1, 'reserve')}`);
    const detail = tid(page, 'span-detail').first();
    await detail.waitFor();
    await expectText(detail.locator('[data-testid="attr-row"][data-key="stock.sku"]'), /SKU-42/);
    await expectText(tid(detail, 'span-events'), /exception/);
    await expectText(tid(detail, 'span-events'), /out of stock/);
    assertNoPageErrors(page);
  });

  it('jumps along a span link to the linked trace and span', async () => {
    const page = await newPage(browser);
    await go(page, `/trace/${TRACES.B}?span=${spanIdOf(TRACES.B, 'root', 'B')}`);
    const links = tid(tid(page, 'span-detail').first(), 'span-links');
    await expectText(links, new RegExp(TRACES.A1));
    await links.getByRole('link', { name: new RegExp(TRACES.A1) }).click();
    await eventually(async () => {
      const url = new URL(page.url());
      assert.equal(url.pathname, `/trace/${TRACES.A1}`);
      assert.equal(url.searchParams.get('span'), spanIdOf(TRACES.A1, 'root'));
    });
    await expectText(tid(page, 'trace-title'), /GET \/checkout/);
    await tid(page, 'span-detail').first().waitFor();
    assertNoPageErrors(page);
  });

  it('highlights the critical path and returns to the timeline from another view', async () => {
    const page = await newPage(browser);
    await openA1(page);
    await tid(page, 'trace-header').waitFor();
    await tid(page, 'critical-path-toggle').click();
    await eventually(async () => assert.equal(await tid(page, 'critical-path-toggle').getAttribute('aria-pressed'), 'true'));
    await expectCount(tid(page, 'span-row'), 7);
    await tid(page, 'view-graph').click();
    await tid(page, 'trace-graph').waitFor();
    await tid(page, 'view-timeline').click();
    await expectCount(tid(page, 'span-row'), 7);
    assertNoPageErrors(page);
  });

  it('is driven by the keyboard: move, collapse, open and close details', async () => {
    const page = await newPage(browser);
    await openA1(page);
    await page.evaluate(() => document.activeElement?.blur?.());
    await page.keyboard.press('j');
    await page.keyboard.press('j');
    await page.keyboard.press('x');
    await expectCount(tid(page, 'span-row'), 4);
    await page.keyboard.press('x');
    await expectCount(tid(page, 'span-row'), 7);
    await page.keyboard.press('Enter');
    const detail = tid(page, 'span-detail').first();
    await expectText(detail.locator('[data-testid="attr-row"][data-key="customer.tier"]'), /gold/);
    await eventually(async () => assert.equal(new URL(page.url()).searchParams.get('span'), spanIdOf(TRACES.A1, 'cart')));
    await page.keyboard.press('Escape');
    await expectCount(tid(page, 'span-detail'), 0);
    assertNoPageErrors(page);
  });

  it('marks the rows that match a search within the trace', async () => {
    const page = await newPage(browser);
    await openA1(page);
    await tid(page, 'trace-find').fill('cart_items');
    await eventually(async () => {
      const matched = (await datasets(page.locator('[data-testid="span-row"][data-match="true"]'))).map((d) => d.operation);
      assert.deepEqual(matched.sort(), ['SELECT cart_items', 'query cart_items']);
    });
    assertNoPageErrors(page);
  });

  it('switches between the timeline, graph, statistics, flame graph, table and JSON views', async () => {
    const page = await newPage(browser);
    await openA1(page);
    await tid(page, 'timeline').waitFor();
    await tid(page, 'view-graph').click();
    await tid(page, 'trace-graph').waitFor();
    await eventually(async () => assert.equal(new URL(page.url()).searchParams.get('view'), 'graph'));
    await tid(page, 'view-statistics').click();
    await tid(page, 'trace-statistics').waitFor();
    for (const r of EXPECTED_A_ROWS) {
      await tid(page, 'trace-statistics')
        .locator(`[data-testid="stat-row"][data-service="${r.service}"][data-operation="${r.operation}"]`)
        .first()
        .waitFor();
    }
    await tid(page, 'view-flamegraph').click();
    await tid(page, 'flamegraph').waitFor();
    await tid(page, 'view-table').click();
    await expectText(tid(page, 'spans-table'), /reserve stock/);
    await tid(page, 'view-json').click();
    await expectText(tid(page, 'trace-json'), new RegExp(TRACES.A1));
    // Each view has its own URL.
    const page2 = await newPage(browser);
    await go(page2, `/trace/${TRACES.A1}?view=statistics`);
    await tid(page2, 'trace-statistics').waitFor();
    assertNoPageErrors(page);
    assertNoPageErrors(page2);
  });

  it('takes screenshots of a tracegen trace in each view', async () => {
    // A mid-sized trace of the simulated system: the one closest to 40 spans.
    const found = (await api('/api/traces?service=ts-ui-dashboard&limit=500')).data;
    assert.ok(found.length > 0);
    found.sort((a, b) => Math.abs(a.spans.length - 40) - Math.abs(b.spans.length - 40) || a.traceID.localeCompare(b.traceID));
    const id = found[0].traceID;
    const page = await newPage(browser);
    await go(page, `/trace/${id}`);
    await tid(page, 'span-row').first().waitFor();
    await screenshot(page, 'trace-timeline');
    await tid(page, 'view-graph').click();
    await tid(page, 'trace-graph').waitFor();
    await screenshot(page, 'trace-graph');
    await tid(page, 'view-statistics').click();
    await tid(page, 'trace-statistics').waitFor();
    await screenshot(page, 'trace-statistics');
    await tid(page, 'view-flamegraph').click();
    await tid(page, 'flamegraph').waitFor();
    await screenshot(page, 'trace-flamegraph');
    assertNoPageErrors(page);
  });
});
