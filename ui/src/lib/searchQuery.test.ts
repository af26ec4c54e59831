import { describe, expect, it } from 'vitest';
import { defaultQuery, lookbackMicros, queryFromParams, queryToApiParams, queryToParams, validateQuery } from './searchQuery';

describe('search query URL', () => {
  it('round-trips every field', () => {
    const q = {
      ...defaultQuery(),
      service: 'frontend',
      operation: 'GET /dispatch',
      tags: 'error=true msg="a b"',
      filter: 'http.status_code=~"5.." AND NOT retry',
      lookback: 'custom',
      start: '1700000000000000',
      end: '1700003600000000',
      minDuration: '10ms',
      maxDuration: '2s',
      minTraceDuration: '100ms',
      maxTraceDuration: '5s',
      limit: 50,
    };
    const p = queryToParams(q);
    expect(p.get('tags')).toBe('{"error":"true","msg":"a b"}');
    const back = queryFromParams(new URLSearchParams(p.toString()));
    expect(back).toEqual(q);
  });

  it('reads Jaeger UI URLs and fills defaults', () => {
    const q = queryFromParams(new URLSearchParams('service=a&tags=%7B%22http.status_code%22%3A%22500%22%7D&limit=5000'));
    expect(q.service).toBe('a');
    expect(q.tags).toBe('http.status_code=500');
    expect(q.lookback).toBe('1h');
    expect(q.limit).toBe(1500);
    expect(queryFromParams(new URLSearchParams('')).limit).toBe(20);
  });

  it('builds API parameters from a lookback', () => {
    const q = { ...defaultQuery(), service: 's', lookback: '2h', tags: 'a=b', minDuration: '1ms', limit: 7 };
    const p = queryToApiParams(q, 10_000_000_000);
    expect(p.get('start')).toBe(String(10_000_000_000 - 7_200_000_000));
    expect(p.get('end')).toBe('10000000000');
    expect(p.get('tags')).toBe('{"a":"b"}');
    expect(p.get('minDuration')).toBe('1ms');
    expect(p.get('limit')).toBe('7');
    expect(p.has('operation')).toBe(false);
  });

  it('validates durations, ranges and tags', () => {
    expect(validateQuery(defaultQuery())).toEqual([]);
    const errs = validateQuery({ ...defaultQuery(), tags: 'oops', minDuration: '2s', maxDuration: '1s', minTraceDuration: 'x' });
    expect(errs.length).toBe(3);
    expect(errs.join('\n')).toContain('Max duration must not be less than min duration');
    expect(lookbackMicros('7d')).toBe(7 * 86400 * 1e6);
    expect(lookbackMicros('nope')).toBeNull();
  });
});
