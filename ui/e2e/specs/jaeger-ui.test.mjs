// A Jaeger UI build hosted by Spoor (`--ui-assets`, `--ui-config`, under
// `--base-path /jaeger`), in the browser: the page runs Jaeger's injected
// globals (UI config, storage capabilities, version) and the Monitor tab is
// enabled by the injected `metricsStorage` capability. The build is the
// fixture crates/spoor/tests/fixtures/jaeger-ui (Jaeger's index.html
// placeholders and a small bundle reading them as Jaeger UI does; no Jaeger
// UI build is published on the registries this project installs from).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertNoPageErrors, eventually, go, launch, newPage, tid } from '../lib/harness.mjs';

const JAEGER_UI_URL = (process.env.SPOOR_JAEGER_UI_URL ?? '').replace(/\/+$/, '');

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

describe('a Jaeger UI build hosted by Spoor', { skip: JAEGER_UI_URL ? false : 'SPOOR_JAEGER_UI_URL is not set' }, () => {
  it('runs the injected config and capabilities: the Monitor tab is enabled', async () => {
    const page = await newPage(browser);
    await go(page, '/search', JAEGER_UI_URL);
    const nav = tid(page, 'jaeger-nav');
    await nav.waitFor();
    // From the injected UI config: the menu link, no System Architecture.
    assert.deepEqual(await tid(page, 'jaeger-nav-link').allTextContents(), ['Runbook']);
    assert.equal(await nav.getByText('System Architecture').count(), 0);
    // From the injected version.
    assert.match(await tid(page, 'jaeger-version').textContent(), /\(Spoor\)/);

    await tid(page, 'jaeger-nav-monitor').click();
    await eventually(async () => assert.equal(new URL(page.url()).pathname, '/jaeger/monitor'));
    // metricsStorage: true → the monitoring view, not its empty state; its
    // request to the metrics API under the base path succeeds.
    await tid(page, 'jaeger-monitor').waitFor();
    assert.equal(await tid(page, 'jaeger-monitor-empty').count(), 0);
    await eventually(async () => assert.equal(await tid(page, 'jaeger-monitor-status').getAttribute('data-status'), '200'));
    assertNoPageErrors(page);
  });
});
