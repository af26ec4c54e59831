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

export interface SpoorConfig {
  basePath: string;
  version: string;
  uiBuilt: boolean;
  capabilities: Capabilities;
  menu: MenuLink[];
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
  };
}

export const config: SpoorConfig = readConfig(typeof window !== 'undefined' ? window.SPOOR_CONFIG : undefined);
