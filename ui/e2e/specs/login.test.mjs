// Spoor's own web UI login (docs/security.md, "Web UI login") through a real
// OpenID Connect provider: `scripts/ui-e2e.sh` starts mockoidc
// (scripts/tools/mockoidc.sh) and a Spoor on 127.0.0.97 with
// `security.login` pointing at it, and passes its URL as SPOOR_LOGIN_URL.
// mockoidc logs its default user (jane@example.com) in without a form, so
// the browser goes UI → /login → mockoidc → /login/callback → UI by itself.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertNoPageErrors, eventually, launch, newPage, tid } from '../lib/harness.mjs';

const LOGIN_URL = (process.env.SPOOR_LOGIN_URL ?? '').replace(/\/+$/, '');
const ISSUER = (process.env.SPOOR_LOGIN_ISSUER ?? '').replace(/\/+$/, '');
const USER = 'jane@example.com';

let browser;
before(async () => {
  if (LOGIN_URL) browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** `GET path` from inside the page (its cookies), as the UI's API client would: the status and the body. */
async function fetchFromPage(page, path) {
  return page.evaluate(async (p) => {
    const r = await fetch(p, { headers: { Accept: 'application/json' } });
    return { status: r.status, body: await r.text() };
  }, path);
}

describe('web UI login', { skip: LOGIN_URL ? false : 'SPOOR_LOGIN_URL is not set (no mockoidc)' }, () => {
  it('logs in through the OIDC provider, shows the user, and logs out', async () => {
    const page = await newPage(browser);
    const visited = [];
    page.on('request', (r) => {
      if (r.isNavigationRequest()) visited.push(r.url());
    });

    // A deep link without a session: to the login, the provider, the callback, and back.
    await page.goto(`${LOGIN_URL}/search?service=frontend`);
    await eventually(async () => assert.equal(new URL(page.url()).pathname, '/search'));
    assert.equal(new URL(page.url()).searchParams.get('service'), 'frontend', 'back on the page asked for');
    assert.ok(visited.some((u) => new URL(u).pathname === '/login'), `went through /login: ${visited.join(' → ')}`);
    const authorize = visited.find((u) => ISSUER && u.startsWith(ISSUER));
    assert.ok(authorize, `went to the provider ${ISSUER}: ${visited.join(' → ')}`);
    const params = new URL(authorize).searchParams;
    assert.equal(params.get('response_type'), 'code');
    assert.equal(params.get('code_challenge_method'), 'S256');
    assert.match(params.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.ok(params.get('state') && params.get('nonce'), 'state and nonce sent');
    assert.ok(visited.some((u) => new URL(u).pathname === '/login/callback'), 'came back through the callback');

    // The search page loads with the user in the header.
    await tid(page, 'search-service').waitFor();
    await eventually(async () => assert.equal(await tid(page, 'user-name').textContent(), USER));
    const config = await page.evaluate(() => window.SPOOR_CONFIG.session);
    assert.equal(config.login, true);
    assert.equal(config.user, USER);

    // The session cookie: HttpOnly, SameSite=Lax, under the base path.
    const cookies = await page.context().cookies(LOGIN_URL);
    const session = cookies.find((c) => c.name === 'spoor_session');
    assert.ok(session, `a spoor_session cookie: ${JSON.stringify(cookies.map((c) => c.name))}`);
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Lax');
    assert.equal(session.path, '/');
    assert.equal(await page.evaluate(() => document.cookie.includes('spoor_session')), false, 'scripts cannot read it');

    // The API answers with the session...
    const before = await fetchFromPage(page, '/api/services');
    assert.equal(before.status, 200, before.body);

    // ...and no longer after logout.
    await tid(page, 'logout').click();
    await tid(page, 'logged-out').waitFor();
    const afterLogout = await fetchFromPage(page, '/api/services');
    assert.equal(afterLogout.status, 401, afterLogout.body);
    assert.ok(JSON.parse(afterLogout.body).error, 'a JSON error');
    const left = await page.context().cookies(LOGIN_URL);
    assert.equal(left.find((c) => c.name === 'spoor_session'), undefined, 'the cookie is cleared');
    assertNoPageErrors(page);
  });

  it('refuses the API without a session and an unknown or replayed login state', async () => {
    const page = await newPage(browser);
    const api = await page.request.get(`${LOGIN_URL}/api/services`, { headers: { Accept: 'application/json' }, maxRedirects: 0 });
    assert.equal(api.status(), 401, 'an API call is not redirected');
    const forged = await page.request.get(`${LOGIN_URL}/login/callback?state=forged&code=abc`, { maxRedirects: 0 });
    assert.equal(forged.status(), 400);
    assert.equal(
      (await page.context().cookies(LOGIN_URL)).find((c) => c.name === 'spoor_session'),
      undefined,
      'no session from a forged state',
    );
    // A page without a session is a redirect to the login, keeping where the user wanted to go.
    const html = await page.request.get(`${LOGIN_URL}/trace/abc`, { headers: { Accept: 'text/html' }, maxRedirects: 0 });
    assert.equal(html.status(), 302);
    assert.equal(html.headers().location, '/login?return_to=%2Ftrace%2Fabc');
  });
});
