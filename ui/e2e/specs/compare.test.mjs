// Compare page: two traces selected in the search results, and the
// structural diff of a known pair.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  assertNoPageErrors, datasets, eventually, expectCount, expectText, go, launch, newPage, screenshot, selectOption, tid,
} from '../lib/harness.mjs';
import { TRACES } from '../lib/fixtures.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

describe('compare', () => {
  it('compares two traces selected in the search results', async () => {
    const page = await newPage(browser);
    await go(page, '/search');
    await selectOption(tid(page, 'search-service'), 'frontend');
    await tid(page, 'search-submit').click();
    await expectCount(tid(page, 'result-row'), 4);
    const select = (id) => tid(page.locator(`[data-testid="result-row"][data-trace-id="${id}"]`), 'result-select');
    await select(TRACES.A1).check();
    assert.equal(await tid(page, 'compare-selected').isEnabled(), false, 'compare needs two traces');
    await select(TRACES.B).check();
    await eventually(async () => assert.equal(await tid(page, 'compare-selected').isEnabled(), true));
    await tid(page, 'compare-selected').click();
    await tid(page, 'compare-view').waitFor();
    const path = decodeURIComponent(new URL(page.url()).pathname);
    assert.ok(
      [`/trace/${TRACES.A1}...${TRACES.B}`, `/trace/${TRACES.B}...${TRACES.A1}`].includes(path),
      `compare URL: ${path}`,
    );
    await eventually(async () => assert.ok((await tid(page, 'diff-row').count()) > 0));
    await expectText(tid(page, 'compare-a-title'), /frontend/);
    await expectText(tid(page, 'compare-b-title'), /frontend/);
    assertNoPageErrors(page);
  });

  it('shows removed, added and changed operations between A and B', async () => {
    const page = await newPage(browser);
    await go(page, `/trace/${TRACES.A1}...${TRACES.B}`);
    await tid(page, 'compare-view').waitFor();
    const diff = await eventually(async () => {
      const d = await datasets(tid(page, 'diff-row'));
      assert.ok(d.length >= 7, `diff rows: ${JSON.stringify(d)}`);
      return d;
    });
    const statuses = (op) => diff.filter((d) => d.operation === op).map((d) => d.status);
    assert.ok(statuses('render page').includes('removed'), JSON.stringify(diff));
    assert.ok(statuses('log event').includes('added'), JSON.stringify(diff));
    assert.ok(statuses('SELECT cart_items').includes('changed'), JSON.stringify(diff));
    assert.ok(!statuses('GET /checkout').includes('added') && statuses('GET /checkout').length > 0);
    for (const d of diff) assert.ok(['same', 'added', 'removed', 'changed'].includes(d.status), d.status);
    await screenshot(page, 'compare');
    assertNoPageErrors(page);
  });
});
