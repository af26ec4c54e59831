// Opening an OTLP JSON file: the page sends it to the server's
// `POST /api/transform` and shows the Jaeger JSON the server returns (the UI
// has no converter of its own), including a span whose service name is
// empty and a span link; JSON Lines are sent line by line; a file over 2 MiB
// opens; a document the server refuses shows its message; under a base path
// the request stays under the prefix.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  assertNoPageErrors, BASE_URL, datasets, eventually, expectCount, expectText, go, launch, newPage, SPOOR_URL, tid,
} from '../lib/harness.mjs';
import { spanIdOf, traceId, TRACES } from '../lib/fixtures.mjs';

let browser;
let dir;
before(async () => {
  browser = await launch();
  dir = mkdtempSync(join(tmpdir(), 'spoor-e2e-open-'));
});
after(async () => {
  await browser?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const TRACE = traceId(0xf17e);
const span = (n) => 'f17e' + n.toString(16).padStart(12, '0');
const str = (key, value) => ({ key, value: { stringValue: value } });

/**
 * A trace of three spans in three resources: `upload-svc` (root), one whose
 * `service.name` is the empty string (child), and one without `service.name`
 * (grandchild, with a link to the root of fixture trace A1).
 */
function otlpDocument(startMs) {
  const t = (ms) => String(BigInt(Math.round(ms * 1e6)));
  const at = (offset, dur) => ({ startTimeUnixNano: t(startMs + offset), endTimeUnixNano: t(startMs + offset + dur) });
  return {
    resourceSpans: [
      {
        resource: { attributes: [str('service.name', 'upload-svc'), str('host.name', 'upload-1')] },
        scopeSpans: [{ scope: { name: 'e2e' }, spans: [{ traceId: TRACE, spanId: span(1), name: 'upload root', kind: 2, ...at(0, 50) }] }],
      },
      {
        resource: { attributes: [str('service.name', ''), str('host.name', 'nameless-1')] },
        scopeSpans: [
          {
            scope: { name: 'e2e' },
            spans: [{ traceId: TRACE, spanId: span(2), parentSpanId: span(1), name: 'nameless child', kind: 1, ...at(5, 30) }],
          },
        ],
      },
      {
        resource: { attributes: [str('host.name', 'unnamed-1')] },
        scopeSpans: [
          {
            scope: { name: 'e2e' },
            spans: [
              {
                traceId: TRACE,
                spanId: span(3),
                parentSpanId: span(2),
                name: 'linked grandchild',
                kind: 3,
                ...at(10, 10),
                links: [{ traceId: TRACES.A1, spanId: spanIdOf(TRACES.A1, 'root'), attributes: [str('link.reason', 'retry')] }],
              },
            ],
          },
        ],
      },
    ],
  };
}

/** `POST /api/transform` straight to the server: status and parsed body. */
async function transform(root, text) {
  const res = await fetch(`${root}/api/transform`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });
  return { status: res.status, body: JSON.parse(await res.text()) };
}

/** The span rows the page must show for a trace in Jaeger JSON (the UI names an empty service `unknown-service`). */
function expectedRows(trace) {
  return trace.spans
    .map((s) => ({ id: s.spanID, service: trace.processes[s.processID].serviceName || 'unknown-service', operation: s.operationName }))
    .sort((a, b) => a.id.localeCompare(b.id));
}

async function shownRows(page) {
  return (await datasets(tid(page, 'span-row')))
    .map((d) => ({ id: d.spanId, service: d.service, operation: d.operation }))
    .sort((a, b) => a.id.localeCompare(b.id));
}

function writeFile(name, text) {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** Opens `file` on the search page of `root` and then its one trace, every span visible. */
async function openFileTrace(page, root, file, spans) {
  await go(page, '/search', root);
  await tid(page, 'open-file').setInputFiles(file);
  await expectCount(tid(page, 'result-row'), 1);
  assert.deepEqual((await datasets(tid(page, 'result-row'))).map((d) => d.traceId), [TRACE]);
  await tid(page, 'result-title').first().click();
  await tid(page, 'span-row').first().waitFor();
  if (await tid(page, 'expand-all').count()) await tid(page, 'expand-all').click();
  await expectCount(tid(page, 'span-row'), spans);
}

describe('open an OTLP JSON file', () => {
  it('shows the trace exactly as the server converts it: empty service names and links', async () => {
    const text = JSON.stringify(otlpDocument(Date.now() - 120_000));
    const { status, body } = await transform(SPOOR_URL, text);
    assert.equal(status, 200, JSON.stringify(body).slice(0, 300));
    assert.equal(body.data.length, 1);
    const [expected] = body.data;
    assert.equal(expected.traceID, TRACE);
    const linked = expected.spans.find((s) => s.spanID === span(3));
    const link = linked.references.find((r) => r.traceID === TRACES.A1);
    assert.ok(link, `the server keeps the link: ${JSON.stringify(linked.references)}`);

    const page = await newPage(browser);
    const transforms = [];
    page.on('request', (r) => {
      if (r.url().endsWith('/api/transform')) transforms.push(`${r.method()} ${new URL(r.url()).pathname}`);
    });
    await openFileTrace(page, SPOOR_URL, writeFile('upload.otlp.json', text), 3);
    assert.deepEqual(transforms, ['POST /api/transform']);
    const rows = await shownRows(page);
    assert.deepEqual(rows, expectedRows(expected));
    // The span with the empty service name and the one without any are shown, each with its process.
    // (Clicks, not page loads: an opened file lives in the page's memory.)
    for (const [id, host] of [[span(2), 'nameless-1'], [span(3), 'unnamed-1']]) {
      const row = page.locator(`[data-testid="span-row"][data-span-id="${id}"]`);
      const box = await row.boundingBox();
      await row.click({ position: { x: Math.min(260, box.width / 4), y: box.height / 2 } });
      await eventually(async () => assert.equal(new URL(page.url()).searchParams.get('span'), id));
      await expectText(tid(tid(page, 'span-detail').first(), 'span-resource'), new RegExp(host));
    }
    // The link, with the reference type the server gave it, jumps to A1's root.
    const links = tid(tid(page, 'span-detail').first(), 'span-links');
    await expectText(links.locator('li').filter({ hasText: TRACES.A1 }), new RegExp(`^\\s*${link.refType}\\s+trace ${TRACES.A1}, span ${link.spanID}`));
    await links.getByRole('link', { name: new RegExp(TRACES.A1) }).click();
    await eventually(async () => {
      const url = new URL(page.url());
      assert.equal(url.pathname, `/trace/${TRACES.A1}`);
      assert.equal(url.searchParams.get('span'), spanIdOf(TRACES.A1, 'root'));
    });
    await tid(page, 'span-detail').first().waitFor();
    assertNoPageErrors(page);
  });

  it('sends each line of an OTLP JSON Lines file and merges the pieces of one trace', async () => {
    const doc = otlpDocument(Date.now() - 120_000);
    const lines = doc.resourceSpans.map((rs) => JSON.stringify({ resourceSpans: [rs] }));
    const whole = (await transform(SPOOR_URL, JSON.stringify(doc))).body.data[0];
    const page = await newPage(browser);
    let posts = 0;
    page.on('request', (r) => {
      if (r.url().endsWith('/api/transform')) posts++;
    });
    await openFileTrace(page, SPOOR_URL, writeFile('upload.otlp.jsonl', lines.join('\n') + '\n'), 3);
    assert.equal(posts, 3);
    assert.deepEqual(await shownRows(page), expectedRows(whole));
    assertNoPageErrors(page);
  });

  it('opens an OTLP file larger than 2 MiB (the server reads up to --max-request-bytes)', async () => {
    const doc = otlpDocument(Date.now() - 120_000);
    doc.resourceSpans[0].scopeSpans[0].spans[0].attributes = [str('e2e.padding', 'x'.repeat(3 << 20))];
    const text = JSON.stringify(doc);
    assert.ok(text.length > 3 << 20);
    const page = await newPage(browser);
    await openFileTrace(page, SPOOR_URL, writeFile('large.otlp.json', text), 3);
    assertNoPageErrors(page);
  });

  it("shows the server's message when it refuses the document", async () => {
    const bad = JSON.stringify({ resourceSpans: [{ scopeSpans: 'oops' }] });
    const { status, body } = await transform(SPOOR_URL, bad);
    assert.equal(status, 400, JSON.stringify(body).slice(0, 300));
    const message = body.errors[0].msg;
    assert.ok(message);
    const page = await newPage(browser);
    await go(page, '/search');
    await tid(page, 'open-file').setInputFiles(writeFile('bad.otlp.json', bad));
    const shown = await expectText(tid(page, 'open-file-error'), /bad\.otlp\.json/);
    assert.ok(shown.includes(message), `${JSON.stringify(shown)} includes the server's ${JSON.stringify(message)}`);
    assert.match(shown, /OTLP JSON/);
    assert.equal(await tid(page, 'result-row').count(), 0);
    assertNoPageErrors(page);
  });

  it('posts to the transform API under the base path', { skip: BASE_URL ? false : 'SPOOR_BASE_URL is not set' }, async () => {
    const prefix = new URL(BASE_URL).pathname;
    const text = JSON.stringify(otlpDocument(Date.now() - 120_000));
    const expected = (await transform(BASE_URL, text)).body.data[0];
    const page = await newPage(browser);
    const transforms = [];
    const failed = [];
    page.on('request', (r) => {
      if (r.url().endsWith('/api/transform')) transforms.push(new URL(r.url()).pathname);
    });
    page.on('response', (r) => {
      if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
    });
    await openFileTrace(page, BASE_URL, writeFile('base.otlp.json', text), 3);
    assert.deepEqual(transforms, [`${prefix}/api/transform`]);
    assert.deepEqual(await shownRows(page), expectedRows(expected));
    assert.deepEqual(failed, [], 'no request failed');
    assertNoPageErrors(page);
  });
});
