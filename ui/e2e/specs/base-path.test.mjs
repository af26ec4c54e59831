// The same app served by a second Spoor started with `--base-path /spoor`:
// assets, deep links, search and navigation stay under the prefix.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  assertNoPageErrors, BASE_URL, eventually, expectCount, go, launch, newPage, selectOption, tid,
} from '../lib/harness.mjs';
import { TRACES } from '../lib/fixtures.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

describe('base path', { skip: BASE_URL ? false : 'SPOOR_BASE_URL is not set' }, () => {
  const prefix = () => new URL(BASE_URL).pathname;

  it('searches and opens a trace under the prefix', async () => {
    const page = await newPage(browser);
    const failed = [];
    page.on('response', (r) => {
      if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
    });
    await go(page, '/search', BASE_URL);
    await selectOption(tid(page, 'search-service'), 'frontend');
    await tid(page, 'search-submit').click();
    await expectCount(tid(page, 'result-row'), 4);
    const url = new URL(page.url());
    assert.equal(url.pathname, `${prefix()}/search`);
    assert.equal(url.searchParams.get('service'), 'frontend');
    await page.locator(`[data-testid="result-row"][data-trace-id="${TRACES.A1}"]`).locator('[data-testid="result-title"]').click();
    await eventually(async () => assert.equal(new URL(page.url()).pathname, `${prefix()}/trace/${TRACES.A1}`));
    await tid(page, 'span-row').first().waitFor();
    assert.deepEqual(failed, [], 'no request failed');
    assertNoPageErrors(page);
  });

  it('loads a deep link and redirects the root to the search page', async () => {
    const page = await newPage(browser);
    await go(page, `/trace/${TRACES.A1}?view=timeline`, BASE_URL);
    await tid(page, 'span-row').first().waitFor();
    if (await tid(page, 'expand-all').count()) await tid(page, 'expand-all').click();
    await expectCount(tid(page, 'span-row'), 7);
    const config = await page.evaluate(() => window.SPOOR_CONFIG);
    assert.equal(config.basePath, prefix());
    for (const root of ['/', '']) {
      await go(page, root, BASE_URL);
      await eventually(async () => assert.equal(new URL(page.url()).pathname, `${prefix()}/search`));
      await tid(page, 'search-service').waitFor();
    }
    await tid(page, 'nav-dependencies').click();
    await eventually(async () => assert.equal(new URL(page.url()).pathname, `${prefix()}/dependencies`));
    assertNoPageErrors(page);
  });
});
