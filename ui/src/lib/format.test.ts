import { describe, expect, it } from 'vitest';
import { formatDuration, formatRelative, formatTimestamp, fromDateTimeLocal, niceStep, parseGoDuration, toDateTimeLocal } from './format';

describe('formatting', () => {
  it('formats durations', () => {
    expect(formatDuration(0)).toBe('0µs');
    expect(formatDuration(0.5)).toBe('500ns');
    expect(formatDuration(850)).toBe('850µs');
    expect(formatDuration(12_345)).toBe('12.35ms');
    expect(formatDuration(1_500_000)).toBe('1.5s');
    expect(formatDuration(125_000_000)).toBe('2m 5s');
    expect(formatDuration(3_720_000_000)).toBe('1h 2m');
    expect(formatDuration(-1000)).toBe('-1ms');
  });

  it('parses Go durations', () => {
    expect(parseGoDuration('1.2s')).toBe(1_200_000);
    expect(parseGoDuration('100ms')).toBe(100_000);
    expect(parseGoDuration('1m30s')).toBe(90_000_000);
    expect(parseGoDuration('500us')).toBe(500);
    expect(parseGoDuration('500µs')).toBe(500);
    expect(parseGoDuration('0')).toBe(0);
    expect(parseGoDuration('10')).toBeNull();
    expect(parseGoDuration('1x')).toBeNull();
    expect(parseGoDuration('')).toBeNull();
  });

  it('formats timestamps in UTC', () => {
    expect(formatTimestamp(1_700_000_000_123_456, 'utc')).toBe('2023-11-14 22:13:20.123 UTC');
    expect(formatTimestamp(1_700_000_000_123_456, 'utc', false)).toBe('2023-11-14 22:13:20 UTC');
  });

  it('formats relative times and tick steps', () => {
    expect(formatRelative(0, 5 * 60 * 1e6)).toBe('5 minutes ago');
    expect(formatRelative(0, 10e6)).toBe('a few seconds ago');
    expect(formatRelative(0, 3 * 86400e6)).toBe('3 days ago');
    expect(niceStep(1000, 5)).toBe(200);
    expect(niceStep(70, 5)).toBe(20);
  });

  it('converts custom range inputs in UTC', () => {
    expect(toDateTimeLocal('1700000000123456', 'utc')).toBe('2023-11-14T22:13');
    expect(fromDateTimeLocal('2023-11-14T22:13', 'utc')).toBe('1699999980000000');
    expect(fromDateTimeLocal('', 'utc')).toBe('');
    expect(toDateTimeLocal('nope', 'utc')).toBe('');
    // Local time round-trips to the same minute whatever the machine's zone.
    expect(toDateTimeLocal(fromDateTimeLocal('2024-03-01T08:30', 'local'), 'local')).toBe('2024-03-01T08:30');
  });
});
