import { describe, expect, it } from 'vitest';
import { readConfig } from '../config';
import { formatAxisTime } from './format';

describe('injected configuration', () => {
  it('tolerates a missing config', () => {
    const c = readConfig(undefined);
    expect(c.basePath).toBe('');
    expect(c.menu).toEqual([]);
    expect(c.capabilities.metrics).toBeUndefined();
    expect(c.capabilities.searchWithoutService).toBe(true);
  });

  it('normalizes the base path and reads capabilities and menu links', () => {
    const c = readConfig({
      basePath: 'jaeger/',
      version: '1.2.3',
      capabilities: { metrics: false, searchWithoutService: false, archive: true },
      menu: [{ label: 'Docs', url: 'https://example.com' }, { label: '' }, 7],
    });
    expect(c.basePath).toBe('/jaeger');
    expect(c.version).toBe('1.2.3');
    expect(c.capabilities).toEqual({ metrics: false, searchWithoutService: false, archive: true, export: false });
    expect(c.menu).toEqual([{ label: 'Docs', url: 'https://example.com' }]);
    expect(readConfig({ basePath: '/' }).basePath).toBe('');
  });
  it('reads the session: login, user, tenants and a safe tenant header', () => {
    expect(readConfig(undefined).session).toEqual({ login: false, user: null, tenants: null, tenantHeader: 'x-tenant' });
    const c = readConfig({ session: { login: true, user: 'ana@example.com', tenants: ['a', '', 3, 'b'], tenantHeader: 'X-Scope-OrgID' } });
    expect(c.session).toEqual({ login: true, user: 'ana@example.com', tenants: ['a', 'b'], tenantHeader: 'X-Scope-OrgID' });
    expect(readConfig({ session: { tenantHeader: 'bad header: x' } }).session.tenantHeader).toBe('x-tenant');
  });
});

describe('axis time labels', () => {
  it('adds milliseconds when ticks are closer than a second', () => {
    const us = Date.UTC(2024, 0, 2, 3, 4, 5, 678) * 1000;
    expect(formatAxisTime(us, 200_000, 'utc')).toBe('03:04:05.678');
    expect(formatAxisTime(us, 5_000_000, 'utc')).toBe('03:04:05');
  });
});
