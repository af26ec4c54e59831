// Whole-app behaviour: navigation, dark mode, UTC/local time, the injected
// configuration and menu links, the monitor page.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  assertNoPageErrors, eventually, expectText, go, launch, MENU_LINK, newPage, screenshot, selectOption, tid,
} from '../lib/harness.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const theme = (page) => page.evaluate(() => document.documentElement.getAttribute('data-theme'));

describe('app', () => {
  it('toggles dark mode and keeps it across a reload', async () => {
    const page = await newPage(browser);
    await go(page, '/search?service=frontend');
    await tid(page, 'theme-toggle').waitFor();
    const first = await theme(page);
    assert.ok(['light', 'dark'].includes(first), `data-theme=${first}`);
    const other = first === 'light' ? 'dark' : 'light';
    await tid(page, 'theme-toggle').click();
    await eventually(async () => assert.equal(await theme(page), other));
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await page.reload();
    await tid(page, 'theme-toggle').waitFor();
    assert.equal(await theme(page), other);
    if (other === 'dark') {
      await tid(page, 'result-row').first().waitFor();
      await screenshot(page, 'search-dark');
    }
    await tid(page, 'theme-toggle').click();
    await eventually(async () => assert.equal(await theme(page), first));
    await eventually(async () =>
      assert.notEqual(await page.evaluate(() => getComputedStyle(document.body).backgroundColor), bg),
    );
    assertNoPageErrors(page);
  });

  it('navigates with the top links', async () => {
    const page = await newPage(browser);
    await go(page, '/search');
    await tid(page, 'nav-dependencies').click();
    await eventually(async () => assert.equal(new URL(page.url()).pathname, '/dependencies'));
    await tid(page, 'dependency-graph').first().waitFor();
    await tid(page, 'nav-monitor').click();
    await eventually(async () => assert.equal(new URL(page.url()).pathname, '/monitor'));
    await tid(page, 'monitor-view').waitFor();
    await tid(page, 'nav-compare').click();
    await eventually(async () => assert.equal(new URL(page.url()).pathname, '/compare'));
    await tid(page, 'nav-search').click();
    await eventually(async () => assert.equal(new URL(page.url()).pathname, '/search'));
    await tid(page, 'search-service').waitFor();
    assertNoPageErrors(page);
  });

  it('shows the menu links the server injects', async () => {
    const page = await newPage(browser);
    await go(page, '/search');
    const config = await page.evaluate(() => window.SPOOR_CONFIG);
    assert.deepEqual(config.menu, [MENU_LINK]);
    assert.equal(config.basePath, '');
    assert.equal(config.uiBuilt, true);
    assert.equal(typeof config.capabilities.metrics, 'boolean');
    assert.equal(config.capabilities.searchWithoutService, true);
    assert.equal(config.capabilities.export, true);
    assert.equal(config.capabilities.archive, false);
    const link = page.getByRole('link', { name: MENU_LINK.label });
    await link.first().waitFor();
    assert.equal(await link.first().getAttribute('href'), MENU_LINK.url);
    assertNoPageErrors(page);
  });

  it('shows RED charts of a service, or the empty state when there are none', async () => {
    const page = await newPage(browser);
    await go(page, '/monitor?service=frontend&spanKind=server');
    await tid(page, 'monitor-view').waitFor();
    const { metrics } = (await page.evaluate(() => window.SPOOR_CONFIG)).capabilities;
    if (metrics) {
      await eventually(async () => assert.ok((await tid(page, 'monitor-chart').count()) >= 3, 'latency, error and request charts'));
      await expectText(tid(page, 'monitor-ops-table'), /GET \/checkout/);
      await tid(page, 'monitor-service').selectOption('cart');
      await eventually(async () => assert.equal(new URL(page.url()).searchParams.get('service'), 'cart'));
      await expectText(tid(page, 'monitor-ops-table'), /POST \/cart\/checkout/);
      // No producer spans in db: nothing to chart.
      const empty = await newPage(browser);
      await go(empty, '/monitor?service=db&spanKind=producer');
      await tid(empty, 'monitor-empty').waitFor();
      assertNoPageErrors(empty);
    } else {
      await tid(page, 'monitor-empty').waitFor();
    }
    await go(page, '/monitor?service=ts-travel-service&spanKind=server');
    await (metrics ? tid(page, 'monitor-chart').first() : tid(page, 'monitor-empty')).waitFor();
    await screenshot(page, 'monitor');
    assertNoPageErrors(page);
  });

  it('switches between UTC and local time', async () => {
    const page = await newPage(browser);
    await go(page, '/search');
    await selectOption(tid(page, 'search-service'), 'frontend');
    await tid(page, 'search-submit').click();
    await tid(page, 'result-row').first().waitFor();
    const toggle = tid(page, 'tz-toggle');
    const before = (await toggle.textContent()) ?? '';
    await toggle.click();
    await eventually(async () => assert.notEqual((await toggle.textContent()) ?? '', before));
    assertNoPageErrors(page);
  });
});
