// The user's session and tenant as the UI sees them (docs/ui.md, "Login and
// tenants"): the tenant picked in the header is kept in localStorage and sent
// as the tenant header on every API request; with Spoor's own login on, an
// API answer of 401 (session expired, logged out elsewhere) sends the browser
// to the login, which brings it back to the same page.

import { config } from './config';

const TENANT_KEY = 'spoor.tenant';

/** The tenant requests are for: the one picked, if still allowed, else the first allowed. */
export function currentTenant(): string | null {
  const tenants = config.session.tenants;
  if (!tenants || tenants.length === 0) return null;
  let saved: string | null = null;
  try {
    saved = window.localStorage.getItem(TENANT_KEY);
  } catch {
    // storage unavailable (privacy mode)
  }
  return saved && tenants.includes(saved) ? saved : tenants[0];
}

/** Picks `tenant` for this browser and reloads the page so every view reads that tenant's data. */
export function switchTenant(tenant: string): void {
  try {
    window.localStorage.setItem(TENANT_KEY, tenant);
  } catch {
    // storage unavailable: the switch lasts until the reload only
  }
  window.location.reload();
}

/** Headers every API request carries: the tenant's, when tenancy is on. */
export function sessionHeaders(): Record<string, string> {
  const tenant = currentTenant();
  return tenant ? { [config.session.tenantHeader]: tenant } : {};
}

/** The login page, coming back to where the user is. */
export function loginUrl(): string {
  const here = window.location.pathname + window.location.search;
  return `${config.basePath}/login?return_to=${encodeURIComponent(here)}`;
}

/** Called when the API answered 401: with Spoor's login on, go log in. */
export function onUnauthorized(): void {
  if (config.session.login) window.location.assign(loginUrl());
}

/** Ends the session on the server (the cookie is cleared); true when it answered. */
export async function logout(): Promise<boolean> {
  try {
    const resp = await fetch(`${config.basePath}/logout`, { method: 'POST', credentials: 'same-origin' });
    return resp.ok;
  } catch {
    return false;
  }
}
