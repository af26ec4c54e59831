// Shared pieces of the UI end-to-end tests: where Spoor runs (from the
// environment `scripts/ui-e2e.sh` sets), the browser (Debian's Chromium
// driven by playwright-core, no browser download), selectors by the UI
// contract's data-testid only, and polling helpers (waits with a deadline,
// never assertions on time).

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

function env(name, fallback) {
  const v = process.env[name];
  if (v === undefined || v === '') {
    if (fallback !== undefined) return fallback;
    throw new Error(`${name} is not set; run the tests through scripts/ui-e2e.sh`);
  }
  return v;
}

/** Query server (UI and API) of the main instance, e.g. `http://127.0.0.1:41234`. */
export const SPOOR_URL = env('SPOOR_URL').replace(/\/+$/, '');
/** OTLP HTTP receiver of the main instance (`…/v1/traces` is appended). */
export const OTLP_URL = env('SPOOR_OTLP_URL').replace(/\/+$/, '');
/** The instance started with `--base-path /spoor`, its URL including the prefix. */
export const BASE_URL = (process.env.SPOOR_BASE_URL ?? '').replace(/\/+$/, '');
export const BASE_OTLP_URL = (process.env.SPOOR_BASE_OTLP_URL ?? '').replace(/\/+$/, '');
export const CHROMIUM = env('SPOOR_CHROMIUM', '/usr/bin/chromium');
/** Where page screenshots go; empty = none. */
export const SCREENSHOT_DIR = process.env.SPOOR_SCREENSHOT_DIR ?? '';
/** The menu link the script passes with `--ui-menu-link`. */
export const MENU_LINK = { label: 'E2E Runbook', url: 'https://example.com/spoor-runbook' };

/** How long a wait for the page may take before the test fails. */
export const PATIENCE_MS = Number(process.env.SPOOR_E2E_PATIENCE_MS ?? 20000);

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
  });
}

/**
 * A fresh page (own context: no shared storage) in UTC, light scheme, a
 * laptop-sized viewport. Uncaught page errors are collected in
 * `page.spoorErrors` and checked by `assertNoPageErrors`.
 */
export async function newPage(browser, { colorScheme = 'light', viewport = { width: 1440, height: 900 } } = {}) {
  const context = await browser.newContext({
    viewport,
    timezoneId: 'UTC',
    locale: 'en-US',
    colorScheme,
    deviceScaleFactor: 1,
  });
  const page = await context.newPage();
  page.setDefaultTimeout(PATIENCE_MS);
  page.spoorErrors = [];
  page.on('pageerror', (e) => page.spoorErrors.push(String(e?.stack ?? e)));
  page.on('console', (m) => {
    if (m.type() === 'error' && process.env.SPOOR_E2E_VERBOSE) console.error(`[console] ${m.text()}`);
  });
  return page;
}

export function assertNoPageErrors(page) {
  assert.deepEqual(page.spoorErrors, [], 'uncaught errors in the page');
}

/** The element(s) with `data-testid="id"`. */
export function tid(scope, id) {
  return scope.locator(`[data-testid="${id}"]`);
}

/** Retries `check` (which throws on failure) until it passes or PATIENCE_MS passes; returns its value. */
export async function eventually(check, timeoutMs = PATIENCE_MS) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw last;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until the locator matches exactly `n` elements. */
export async function expectCount(locator, n) {
  return eventually(async () => assert.equal(await locator.count(), n));
}

/** Waits until the (first) element's text matches `re`; returns the text. */
export async function expectText(locator, re) {
  return eventually(async () => {
    const t = (await locator.first().textContent()) ?? '';
    assert.match(t, re);
    return t;
  });
}

/** `data-*` attributes of every element the locator matches, in document order. */
export async function datasets(locator) {
  return locator.evaluateAll((els) => els.map((e) => ({ ...e.dataset })));
}

/** `page.goto` of a path under `root` (default: the main instance). */
export async function go(page, path, root = SPOOR_URL) {
  await page.goto(root + path, { waitUntil: 'domcontentloaded' });
}

/** Saves a screenshot of the page as `docs/screenshots/<name>.png` (when enabled). */
export async function screenshot(page, name) {
  if (!SCREENSHOT_DIR) return;
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  // Let fonts and transitions settle.
  await page.evaluate(() => document.fonts?.ready);
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`) });
}

/** JSON of `GET path` on the main instance (or `root`). */
export async function api(path, root = SPOOR_URL) {
  const res = await fetch(root + path);
  const text = await res.text();
  assert.equal(res.status, 200, `GET ${path}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

/** Selects `value` in a <select> once the option exists (options may load asynchronously). */
export async function selectOption(select, value) {
  await eventually(async () => {
    const values = await select.locator('option').evaluateAll((os) => os.map((o) => o.value));
    assert.ok(values.includes(value), `option ${JSON.stringify(value)} not among ${JSON.stringify(values.slice(0, 20))}`);
  });
  await select.selectOption(value);
}
