import { describe, expect, it } from 'vitest';
import { mean, parseMetricFamily } from './metrics';

describe('metric family parsing', () => {
  it('reads labels and points, drops NaN, sorts by time', () => {
    const s = parseMetricFamily({
      name: 'service_operation_call_rate',
      type: 'GAUGE',
      metrics: [
        {
          labels: [
            { name: 'service_name', value: 'api' },
            { name: 'operation', value: 'GET /' },
          ],
          metricPoints: [
            { gaugeValue: { doubleValue: 2 }, timestamp: '2021-06-03T09:12:11Z' },
            { gaugeValue: { doubleValue: 'NaN' }, timestamp: '2021-06-03T09:12:16Z' },
            { gaugeValue: { doubleValue: 1 }, timestamp: '2021-06-03T09:12:06Z' },
          ],
        },
      ],
    });
    expect(s).toEqual([
      {
        labels: { service_name: 'api', operation: 'GET /' },
        points: [
          { t: Date.parse('2021-06-03T09:12:06Z'), v: 1 },
          { t: Date.parse('2021-06-03T09:12:11Z'), v: 2 },
        ],
      },
    ]);
    expect(mean(s[0].points)).toBe(1.5);
  });

  it('treats a missing list as no data and rejects other shapes', () => {
    expect(parseMetricFamily({ name: 'x' })).toEqual([]);
    expect(() => parseMetricFamily([1])).toThrow();
    expect(() => parseMetricFamily({ metrics: 3 })).toThrow();
    expect(mean([])).toBeNull();
  });
});
