// Posts the deterministic fixture traces (lib/fixtures.mjs) to the Spoor
// instances under test and waits until they are searchable.
// Run by scripts/ui-e2e.sh after `spoor tracegen` has loaded its traces.

import assert from 'node:assert/strict';
import { api, eventually, SPOOR_URL, OTLP_URL, BASE_URL, BASE_OTLP_URL } from './lib/harness.mjs';
import { postCheckoutTraces } from './lib/fixtures.mjs';

const targets = [[OTLP_URL, SPOOR_URL]];
if (BASE_URL && BASE_OTLP_URL) targets.push([BASE_OTLP_URL, BASE_URL]);
for (const [otlp, query] of targets) {
  await postCheckoutTraces(otlp);
  await eventually(async () => {
    const r = await api('/api/traces?service=frontend&lookback=1h&limit=20', query);
    assert.equal(r.data.length, 4, `fixture traces searchable on ${query}`);
  }, 30000);
  console.log(`fixtures: 4 checkout traces on ${query}`);
}
