import { describe, expect, it } from 'vitest';
import { serviceLabel, serviceStatus, similarServices } from './services';

describe('services named in the URL', () => {
  it('tells all, loading, known and unknown apart', () => {
    expect(serviceStatus('', ['a'])).toBe('all');
    expect(serviceStatus('', null)).toBe('all');
    expect(serviceStatus('a', null)).toBe('loading');
    expect(serviceStatus('a', ['a', 'b'])).toBe('known');
    expect(serviceStatus('nope', ['a', 'b'])).toBe('unknown');
    expect(serviceStatus('nope', [])).toBe('unknown');
  });

  it('labels an unknown service as such, and only that', () => {
    expect(serviceLabel('nope', ['a'])).toBe('nope (unknown service)');
    expect(serviceLabel('a', ['a'])).toBe('a');
    expect(serviceLabel('a', null)).toBe('a');
  });

  it('suggests services with close names', () => {
    const services = ['frontend', 'frontend-proxy', 'cart', 'Checkout'];
    expect(similarServices('Frontend', services)).toEqual(['frontend', 'frontend-proxy']);
    expect(similarServices('checkout', services)).toEqual(['Checkout']);
    expect(similarServices('zzz', services)).toEqual([]);
    expect(similarServices('', services)).toEqual([]);
    expect(similarServices('cart', services)).toEqual([]);
  });
});
