// Dependencies page: the service graph shows the posted edges with their
// call counts, and the same edges as the API.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { api, assertNoPageErrors, datasets, eventually, go, launch, newPage, screenshot, tid } from '../lib/harness.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

describe('dependencies', () => {
  it('shows the expected edges with call counts', async () => {
    const page = await newPage(browser);
    await go(page, '/dependencies');
    await tid(page, 'dependency-graph').first().waitFor();
    const edge = (parent, child) =>
      page.locator(`[data-testid="dependency-edge"][data-parent="${parent}"][data-child="${child}"]`);
    await eventually(async () => {
      assert.equal(await edge('frontend', 'cart').getAttribute('data-calls'), '4');
      assert.equal(await edge('cart', 'db').getAttribute('data-calls'), '5');
    });
    assert.equal(await edge('frontend', 'db').count(), 0, 'no edge frontend → db');
    assert.equal(await edge('db', 'cart').count(), 0, 'edges are directed');
    for (const s of ['frontend', 'cart', 'db', 'ts-ui-dashboard']) {
      assert.equal(await page.locator(`[data-testid="dependency-node"][data-service="${s}"]`).count(), 1, s);
    }
    // Every edge the API reports for the last hour is drawn, with its count.
    const fromApi = (await api(`/api/dependencies?endTs=${Date.now()}&lookback=3600000`)).data;
    const drawn = await datasets(tid(page, 'dependency-edge'));
    const key = (p, c) => `${p} → ${c}`;
    const drawnCalls = new Map(drawn.map((d) => [key(d.parent, d.child), Number(d.calls)]));
    assert.equal(drawn.length, fromApi.length, 'one drawn edge per API edge');
    for (const l of fromApi) assert.equal(drawnCalls.get(key(l.parent, l.child)), l.callCount, key(l.parent, l.child));
    await screenshot(page, 'dependencies');
    // Another window: in the URL, and the recent edges are still there.
    await tid(page, 'dependency-lookback').selectOption('1h');
    await eventually(async () => assert.equal(new URL(page.url()).searchParams.get('lookback'), '1h'));
    await eventually(async () => assert.equal(await edge('frontend', 'cart').getAttribute('data-calls'), '4'));
    assertNoPageErrors(page);
  });
});
