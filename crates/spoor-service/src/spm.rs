//! Service performance monitoring: Jaeger's metrics queries (call rates,
//! error rates, latency quantiles per service, optionally per operation)
//! answered from the per-minute RED statistics a [`RedStatsReader`] keeps.
//!
//! A query asks for points at `end − lookback`, `end − lookback + step`, …,
//! up to `end`. The value at time `t` covers the statistics minutes whose
//! start lies in `(t − w, t]` with `w = max(ratePer, 1 min)`:
//! - calls: calls in the window / `w` in seconds (calls per second), a point
//!   at every time for every series with data in the query range;
//! - errors: errors / calls in the window (a ratio), only where calls > 0;
//! - latencies: the `quantile` of the merged latency sketches, in
//!   milliseconds, within 1 % of the exact value, only where calls > 0.
//!
//! The statistics have one-minute resolution, so the value at `t` may count
//! spans that started up to a minute before the window or, for the current
//! minute, only the part already seen.

use std::collections::BTreeMap;

use spoor_model::{SpanKind, UnixNanos};
use spoor_storage::red::RED_MINUTE;
use spoor_storage::{RedQuery, RedRow, RedStats, StorageError};

/// The most points one series may hold.
pub const MAX_POINTS: u64 = 11_000;
/// The resolution of the statistics, reported as Jaeger's "min step".
pub const MIN_STEP_NANOS: u64 = RED_MINUTE;

/// Which metric to compute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MetricKind {
    /// Calls per second.
    Calls,
    /// Errors as a fraction of calls.
    Errors,
    /// The given latency quantile (`0 ≤ q ≤ 1`), in milliseconds.
    Latencies {
        /// The quantile.
        quantile: f64,
    },
}

/// Jaeger's metrics query parameters, in nanoseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsQuery {
    /// Services to report; at least one.
    pub services: Vec<String>,
    /// One series per (service, operation) instead of per service.
    pub group_by_operation: bool,
    /// Span kinds counted; empty = all.
    pub span_kinds: Vec<SpanKind>,
    /// The last point's time.
    pub end: UnixNanos,
    /// How far before `end` the first point is.
    pub lookback: u64,
    /// Time between points; positive.
    pub step: u64,
    /// The window each point covers; positive (a minute at least in effect).
    pub rate_per: u64,
}

/// One point of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricPoint {
    /// Unix nanoseconds.
    pub timestamp: UnixNanos,
    /// The value.
    pub value: f64,
}

/// One series: a service (and an operation when grouped) and its points.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSeries {
    /// The service.
    pub service: String,
    /// The operation, when grouped by operation.
    pub operation: Option<String>,
    /// Points, oldest first.
    pub points: Vec<MetricPoint>,
}

/// A metric's name, description and series (Jaeger's `MetricFamily`).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFamily {
    /// `service_call_rate`, `service_error_rate`, `service_latencies`, with
    /// `service_operation_` instead of `service_` when grouped by operation.
    pub name: String,
    /// Jaeger's description of the metric.
    pub help: String,
    /// Series sorted by service, then operation.
    pub series: Vec<MetricSeries>,
}

impl MetricsQuery {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), StorageError> {
        if self.services.is_empty() {
            return Err(StorageError::invalid_query(
                "please provide at least one service name",
            ));
        }
        if self.step == 0 {
            return Err(StorageError::invalid_query("step must be positive"));
        }
        if self.rate_per == 0 {
            return Err(StorageError::invalid_query("ratePer must be positive"));
        }
        if self.lookback / self.step >= MAX_POINTS {
            return Err(StorageError::invalid_query(format!(
                "lookback / step exceeds {MAX_POINTS} points; use a larger step"
            )));
        }
        if self.lookback > self.end {
            return Err(StorageError::invalid_query(
                "lookback reaches before the Unix epoch",
            ));
        }
        Ok(())
    }

    fn window(&self) -> u64 {
        self.rate_per.max(RED_MINUTE)
    }

    /// The point times, oldest first.
    fn times(&self) -> Vec<UnixNanos> {
        let start = self.end - self.lookback;
        (0..=self.lookback / self.step)
            .map(|k| start + k * self.step)
            .collect()
    }

    /// The minutes (inclusive) a point at `t` covers.
    fn minutes(&self, t: UnixNanos) -> (u64, u64) {
        let w = self.window();
        let lo = if t >= w { (t - w) / RED_MINUTE + 1 } else { 0 };
        (lo, t / RED_MINUTE)
    }

    /// What to read from storage for this query.
    pub fn red_query(&self) -> RedQuery {
        let (lo, _) = self.minutes(self.end - self.lookback);
        RedQuery {
            services: self.services.clone(),
            span_kinds: self.span_kinds.clone(),
            start: lo.saturating_mul(RED_MINUTE),
            end: self.end,
        }
    }
}

/// Computes a metric from statistics rows (those of [`MetricsQuery::red_query`]).
pub fn compute(kind: MetricKind, query: &MetricsQuery, rows: &[RedRow]) -> MetricFamily {
    let (mut name, mut help) = match kind {
        MetricKind::Calls => (
            "service_call_rate".to_owned(),
            "calls/sec, grouped by service".to_owned(),
        ),
        MetricKind::Errors => (
            "service_error_rate".to_owned(),
            "error rate, computed as a fraction of errors/sec over calls/sec, grouped by service"
                .to_owned(),
        ),
        MetricKind::Latencies { quantile } => (
            "service_latencies".to_owned(),
            format!("{quantile:.2}th quantile latency, grouped by service"),
        ),
    };
    if query.group_by_operation {
        name = name.replacen("service", "service_operation", 1);
        help.push_str(" & operation");
    }
    // (service, operation) → minute → merged statistics.
    let mut by_series: BTreeMap<(&str, Option<&str>), BTreeMap<u64, RedStats>> = BTreeMap::new();
    for r in rows {
        if !query.services.iter().any(|s| s == &r.service)
            || !(query.span_kinds.is_empty() || query.span_kinds.contains(&r.span_kind))
        {
            continue;
        }
        let op = query.group_by_operation.then_some(r.operation.as_str());
        by_series
            .entry((r.service.as_str(), op))
            .or_default()
            .entry(r.minute)
            .or_default()
            .merge(&r.stats);
    }
    let window_secs = query.window() as f64 / 1e9;
    let times = query.times();
    let series = by_series
        .into_iter()
        .map(|((service, operation), minutes)| {
            let mut points = Vec::with_capacity(times.len());
            for &t in &times {
                let (lo, hi) = query.minutes(t);
                let mut sum = RedStats::default();
                let need_sketch = matches!(kind, MetricKind::Latencies { .. });
                for stats in minutes.range(lo..=hi).map(|(_, s)| s) {
                    if need_sketch {
                        sum.merge(stats);
                    } else {
                        sum.calls = sum.calls.saturating_add(stats.calls);
                        sum.errors = sum.errors.saturating_add(stats.errors);
                    }
                }
                let value = match kind {
                    MetricKind::Calls => Some(sum.calls as f64 / window_secs),
                    MetricKind::Errors => {
                        (sum.calls > 0).then(|| sum.errors as f64 / sum.calls as f64)
                    }
                    MetricKind::Latencies { quantile } => {
                        sum.latency.quantile(quantile).map(|ns| ns / 1e6)
                    }
                };
                if let Some(value) = value {
                    points.push(MetricPoint {
                        timestamp: t,
                        value,
                    });
                }
            }
            MetricSeries {
                service: service.to_owned(),
                operation: operation.map(str::to_owned),
                points,
            }
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    MetricFamily { name, help, series }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use spoor_storage::RedAccumulator;

    use super::*;

    const MS: u64 = 1_000_000;
    const BASE: u64 = 1_000 * RED_MINUTE;

    fn rows() -> Vec<RedRow> {
        use spoor_model::StatusCode;
        use spoor_model::testing;
        let mut acc = RedAccumulator::default();
        // Minute 0: 6 calls of op a (2 errors); minute 2: 3 calls of op b.
        let mut add = |service: &str, op: &str, minute: u64, dur: u64, err: bool| {
            let start = BASE + minute * RED_MINUTE + 1_000;
            acc.add_span(
                &testing::record()
                    .service(service)
                    .name(op)
                    .kind(SpanKind::Server)
                    .start(start)
                    .duration(dur)
                    .status(if err {
                        StatusCode::Error
                    } else {
                        StatusCode::Ok
                    })
                    .build(),
            );
        };
        for i in 0..6 {
            add("s", "a", 0, (i + 1) * 10 * MS, i < 2);
        }
        for _ in 0..3 {
            add("s", "b", 2, 100 * MS, false);
        }
        add("other", "a", 0, MS, false);
        acc.into_rows()
    }

    fn query(group: bool) -> MetricsQuery {
        MetricsQuery {
            services: vec!["s".into()],
            group_by_operation: group,
            span_kinds: vec![SpanKind::Server],
            end: BASE + 3 * RED_MINUTE,
            lookback: 3 * RED_MINUTE,
            step: RED_MINUTE,
            rate_per: 2 * RED_MINUTE,
        }
    }

    #[test]
    fn calls_errors_and_latencies_over_sliding_windows() {
        let q = query(false);
        q.validate().unwrap();
        let rows = rows();
        let calls = compute(MetricKind::Calls, &q, &rows);
        assert_eq!(calls.name, "service_call_rate");
        assert_eq!(calls.series.len(), 1);
        let values: Vec<f64> = calls.series[0].points.iter().map(|p| p.value).collect();
        // Points at minutes 0..=3, each over minutes (t − 2, t]: {0}, {0,1}, {1,2}, {2,3}.
        assert_eq!(
            values,
            vec![6.0 / 120.0, 6.0 / 120.0, 3.0 / 120.0, 3.0 / 120.0]
        );
        let errors = compute(MetricKind::Errors, &q, &rows);
        let values: Vec<f64> = errors.series[0].points.iter().map(|p| p.value).collect();
        assert_eq!(values, vec![2.0 / 6.0, 2.0 / 6.0, 0.0, 0.0]);
        let lat = compute(MetricKind::Latencies { quantile: 0.5 }, &q, &rows);
        assert_eq!(lat.help, "0.50th quantile latency, grouped by service");
        let p0 = lat.series[0].points[0].value;
        assert!((p0 - 30.0).abs() <= 0.3 + 1e-9, "{p0}");
        let p3 = lat.series[0].points[3].value;
        assert!((p3 - 100.0).abs() <= 1.0 + 1e-9, "{p3}");
    }

    #[test]
    fn grouped_by_operation_and_empty_windows() {
        let q = query(true);
        let rows = rows();
        let calls = compute(MetricKind::Calls, &q, &rows);
        assert_eq!(calls.name, "service_operation_call_rate");
        assert!(calls.help.ends_with("grouped by service & operation"));
        let ops: Vec<_> = calls
            .series
            .iter()
            .map(|s| s.operation.clone().unwrap())
            .collect();
        assert_eq!(ops, vec!["a", "b"]);
        // Errors only where the window has calls.
        let errors = compute(MetricKind::Errors, &q, &rows);
        assert_eq!(errors.series[0].points.len(), 2);
        assert_eq!(errors.series[1].points.len(), 2);
        let none = MetricsQuery {
            services: vec!["nobody".into()],
            ..q
        };
        assert!(compute(MetricKind::Calls, &none, &rows).series.is_empty());
    }

    #[tokio::test]
    async fn the_query_service_reads_a_metrics_reader() {
        use std::sync::Arc;

        use spoor_model::SpanBatch;
        use spoor_model::testing;
        use spoor_storage::memory::MemoryStore;
        use spoor_storage::{SpanWriter, StorageErrorKind};

        use crate::{QueryOptions, QueryService};

        let store = Arc::new(MemoryStore::new(100));
        let spans = (0..5u64)
            .map(|i| {
                testing::record()
                    .service("s")
                    .trace_id(spoor_model::TraceId::from_halves(1, i))
                    .id(1)
                    .name("op")
                    .kind(SpanKind::Server)
                    .start(BASE + i)
                    .duration(MS)
                    .build()
            })
            .collect();
        store.write_spans(SpanBatch { spans }).await.unwrap();
        let plain = QueryService::new(store.clone(), None, QueryOptions::default());
        assert!(!plain.has_metrics());
        let err = plain
            .metrics(MetricKind::Calls, &query(false))
            .await
            .unwrap_err();
        assert_eq!(err.kind, StorageErrorKind::Unsupported);
        let with = plain.with_red_stats(store);
        assert!(with.has_metrics());
        let family = with
            .metrics(MetricKind::Calls, &query(false))
            .await
            .unwrap();
        let first = family.series[0].points[0];
        assert_eq!((first.timestamp, first.value), (BASE, 5.0 / 120.0));
        let bad = MetricsQuery {
            step: 0,
            ..query(false)
        };
        let err = with.metrics(MetricKind::Calls, &bad).await.unwrap_err();
        assert_eq!(err.kind, StorageErrorKind::InvalidQuery);
    }

    #[test]
    fn bad_parameters_are_invalid_queries() {
        let ok = query(false);
        for bad in [
            MetricsQuery {
                services: vec![],
                ..ok.clone()
            },
            MetricsQuery {
                step: 0,
                ..ok.clone()
            },
            MetricsQuery {
                rate_per: 0,
                ..ok.clone()
            },
            MetricsQuery {
                step: 1,
                ..ok.clone()
            },
            MetricsQuery {
                lookback: ok.end + 1,
                ..ok.clone()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        assert_eq!(ok.red_query().start, BASE - RED_MINUTE);
    }
}
