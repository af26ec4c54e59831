// Settings the server injects into index.html (`window.SPOOR_CONFIG`). Every
// key may be missing (e.g. under the Vite dev server), so each has a default.

export interface Capabilities {
  searchWithoutService: boolean;
  metrics: boolean | undefined;
  archive: boolean;
  export: boolean;
}

export interface MenuLink {
  label: string;
  url: string;
}

/** Who is looking and what they may pick (`SPOOR_CONFIG.session`). */
export interface Session {
  /** Spoor's own login is on (logout is offered, a 401 goes to the login). */
  login: boolean;
  /** The logged-in user's name, when known. */
  user: string | null;
  /** With tenancy on: the tenants the user may switch between. */
  tenants: string[] | null;
  /** The header naming the tenant (default `x-tenant`). */
  tenantHeader: string;
}

export interface SpoorConfig {
  basePath: string;
  version: string;
  uiBuilt: boolean;
  capabilities: Capabilities;
  menu: MenuLink[];
  session: Session;
}

declare global {
  interface Window {
    SPOOR_CONFIG?: Record<string, unknown>;
  }
}

function normalizeBase(v: unknown): string {
  if (typeof v !== 'string') return '';
  let s = v.trim();
  if (!s || s === '/') return '';
  if (!s.startsWith('/')) s = '/' + s;
  return s.replace(/\/+$/, '');
}

export function readConfig(raw: unknown): SpoorConfig {
  const r = raw && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
  const caps = r.capabilities && typeof r.capabilities === 'object' ? (r.capabilities as Record<string, unknown>) : {};
  const menu = Array.isArray(r.menu)
    ? r.menu
        .filter((m): m is Record<string, unknown> => !!m && typeof m === 'object')
        .map((m) => ({ label: String(m.label ?? ''), url: String(m.url ?? '') }))
        .filter((m) => m.label && m.url)
    : [];
  return {
    basePath: normalizeBase(r.basePath),
    version: typeof r.version === 'string' ? r.version : 'dev',
    uiBuilt: r.uiBuilt !== false,
    capabilities: {
      // Spoor searches without a service; assume so unless told otherwise.
      searchWithoutService: caps.searchWithoutService !== false,
      metrics: typeof caps.metrics === 'boolean' ? caps.metrics : undefined,
      archive: caps.archive === true,
      export: caps.export === true,
    },
    menu,
    session: readSession(r.session),
  };
}

function readSession(raw: unknown): Session {
  const r = raw && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
  const header = typeof r.tenantHeader === 'string' && /^[A-Za-z0-9-]+$/.test(r.tenantHeader) ? r.tenantHeader : 'x-tenant';
  return {
    login: r.login === true,
    user: typeof r.user === 'string' && r.user ? r.user : null,
    tenants: Array.isArray(r.tenants) ? r.tenants.filter((t): t is string => typeof t === 'string' && t.length > 0) : null,
    tenantHeader: header,
  };
}

export const config: SpoorConfig = readConfig(typeof window !== 'undefined' ? window.SPOOR_CONFIG : undefined);
