//! RED statistics: per minute and per (service, operation, span kind), the
//! number of calls (spans), of errors (spans with status ERROR) and a
//! latency sketch of their durations.
//!
//! [`LatencySketch`] is a mergeable, log-bucketed histogram: a duration `x`
//! (nanoseconds, `x ≥ 1`) is counted in bucket `i = ⌈log_γ x⌉` with
//! `γ = (1 + α) / (1 − α)` and [`SKETCH_RELATIVE_ACCURACY`] `α = 1 %`; a
//! bucket is reported as `2γ^i / (γ + 1)`, which is within `α` (relative)
//! of every value the bucket holds. A quantile is therefore within 1 % of the
//! exact quantile of the durations counted (the value at rank
//! `⌊q · (n − 1)⌋`). Zero durations have their own bucket. Sketches merge
//! by adding bucket counts, so per-minute sketches of different blocks, of
//! compaction inputs and of the head add up exactly.

use std::collections::BTreeMap;

use async_trait::async_trait;
use spoor_model::{SpanKind, SpanRecord, StatusCode, UnixNanos};

use crate::StorageError;

/// The relative accuracy of [`LatencySketch`] quantiles.
pub const SKETCH_RELATIVE_ACCURACY: f64 = 0.01;
/// Nanoseconds per statistics bucket.
pub const RED_MINUTE: u64 = 60 * 1_000_000_000;

fn gamma() -> f64 {
    (1.0 + SKETCH_RELATIVE_ACCURACY) / (1.0 - SKETCH_RELATIVE_ACCURACY)
}

/// The minute bucket of a time.
pub fn red_minute_of(t: UnixNanos) -> u64 {
    t / RED_MINUTE
}

/// A mergeable latency histogram with bounded relative error; see the
/// [module documentation](self).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatencySketch {
    zero: u64,
    /// Bucket index → count; indexes are in `0..=MAX_INDEX`.
    buckets: BTreeMap<u16, u64>,
}

/// The highest bucket index (γ^2300 ≈ 10^20, beyond `u64::MAX` nanoseconds).
pub const MAX_SKETCH_INDEX: u16 = 2_300;

impl LatencySketch {
    /// The bucket index of a positive duration.
    fn index(nanos: u64) -> u16 {
        let i = ((nanos as f64).ln() / gamma().ln()).ceil();
        if i <= 0.0 {
            0
        } else {
            (i as u64).min(u64::from(MAX_SKETCH_INDEX)) as u16
        }
    }

    /// The value reported for bucket `i`.
    fn value(i: u16) -> f64 {
        let g = gamma();
        2.0 * g.powi(i32::from(i)) / (g + 1.0)
    }

    /// Counts one duration.
    pub fn add(&mut self, nanos: u64) {
        self.add_count(nanos, 1);
    }

    fn add_count(&mut self, nanos: u64, n: u64) {
        if nanos == 0 {
            self.zero = self.zero.saturating_add(n);
        } else {
            let b = self.buckets.entry(Self::index(nanos)).or_default();
            *b = b.saturating_add(n);
        }
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &LatencySketch) {
        self.zero = self.zero.saturating_add(other.zero);
        for (&i, &n) in &other.buckets {
            let b = self.buckets.entry(i).or_default();
            *b = b.saturating_add(n);
        }
    }

    /// Durations counted.
    pub fn count(&self) -> u64 {
        self.buckets
            .values()
            .fold(self.zero, |sum, &n| sum.saturating_add(n))
    }

    /// Durations of zero counted.
    pub fn zero_count(&self) -> u64 {
        self.zero
    }

    /// The non-empty buckets, by index.
    pub fn buckets(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.buckets.iter().map(|(&i, &n)| (i, n))
    }

    /// A sketch from its parts (as stored); `None` when an index is out of range.
    pub fn from_parts(zero: u64, buckets: impl IntoIterator<Item = (u16, u64)>) -> Option<Self> {
        let mut s = LatencySketch {
            zero,
            buckets: BTreeMap::new(),
        };
        for (i, n) in buckets {
            if i > MAX_SKETCH_INDEX {
                return None;
            }
            if n > 0 {
                let b = s.buckets.entry(i).or_default();
                *b = b.saturating_add(n);
            }
        }
        Some(s)
    }

    /// The `q`-quantile (`0 ≤ q ≤ 1`) in nanoseconds, within
    /// [`SKETCH_RELATIVE_ACCURACY`] of the value at rank `⌊q · (n − 1)⌋`;
    /// `None` when the sketch is empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let q = if q.is_nan() { 0.0 } else { q.clamp(0.0, 1.0) };
        let rank = ((q * (n - 1) as f64).floor() as u64).min(n - 1);
        if rank < self.zero {
            return Some(0.0);
        }
        let mut seen = self.zero;
        for (&i, &c) in &self.buckets {
            seen = seen.saturating_add(c);
            if seen > rank {
                return Some(Self::value(i));
            }
        }
        self.buckets.keys().next_back().map(|&i| Self::value(i))
    }
}

/// Calls, errors and latencies of one (minute, service, operation, kind).
/// Counts saturate at `u64::MAX` (only hostile stored data gets there).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedStats {
    pub calls: u64,
    pub errors: u64,
    pub latency: LatencySketch,
}

impl RedStats {
    /// Adds one span.
    pub fn add(&mut self, duration_nanos: u64, error: bool) {
        self.calls = self.calls.saturating_add(1);
        self.errors = self.errors.saturating_add(u64::from(error));
        self.latency.add(duration_nanos);
    }

    /// Adds `other`.
    pub fn merge(&mut self, other: &RedStats) {
        self.calls = self.calls.saturating_add(other.calls);
        self.errors = self.errors.saturating_add(other.errors);
        self.latency.merge(&other.latency);
    }
}

/// The statistics of one minute of one (service, operation, span kind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedRow {
    /// Unix time / 60 s of the spans' start.
    pub minute: u64,
    pub service: String,
    pub operation: String,
    pub span_kind: SpanKind,
    pub stats: RedStats,
}

/// Which statistics to read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RedQuery {
    /// Services to read; empty = every service.
    pub services: Vec<String>,
    /// Span kinds to read; empty = every kind.
    pub span_kinds: Vec<SpanKind>,
    /// The minutes touching `[start, end]` are read (by span start).
    pub start: UnixNanos,
    pub end: UnixNanos,
}

impl RedQuery {
    /// Does a span of this service and kind, starting at `start`, count?
    pub fn selects(&self, service: &str, kind: SpanKind, start: UnixNanos) -> bool {
        let minute = red_minute_of(start);
        minute >= red_minute_of(self.start)
            && minute <= red_minute_of(self.end)
            && self.selects_series(service, kind)
    }

    /// Does this service and kind count (any minute)?
    pub fn selects_series(&self, service: &str, kind: SpanKind) -> bool {
        !service.is_empty()
            && (self.services.is_empty() || self.services.iter().any(|s| s == service))
            && (self.span_kinds.is_empty() || self.span_kinds.contains(&kind))
    }
}

/// Accumulates RED statistics keyed by (minute, service, operation, kind).
#[derive(Debug, Clone, Default)]
pub struct RedAccumulator {
    map: BTreeMap<(u64, String, String, u8), RedStats>,
}

impl RedAccumulator {
    /// Counts one span (spans without a service name are not counted).
    pub fn add_span(&mut self, record: &SpanRecord) {
        let service = record.service_name();
        if service.is_empty() {
            return;
        }
        let span = &record.span;
        self.add(
            red_minute_of(span.start_time_unix_nano),
            service,
            &span.name,
            span.kind,
            |s| s.add(span.duration_nanos(), span.status.code == StatusCode::Error),
        );
    }

    /// Adds a stored row.
    pub fn add_row(&mut self, row: &RedRow) {
        self.add(
            row.minute,
            &row.service,
            &row.operation,
            row.span_kind,
            |s| s.merge(&row.stats),
        );
    }

    fn add(
        &mut self,
        minute: u64,
        service: &str,
        operation: &str,
        kind: SpanKind,
        f: impl FnOnce(&mut RedStats),
    ) {
        let key = (minute, service.to_owned(), operation.to_owned(), kind as u8);
        f(self.map.entry(key).or_default());
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The rows, sorted by minute, service, operation, then kind.
    pub fn into_rows(self) -> Vec<RedRow> {
        self.map
            .into_iter()
            .map(|((minute, service, operation, kind), stats)| RedRow {
                minute,
                service,
                operation,
                span_kind: SpanKind::from_i32(i32::from(kind)),
                stats,
            })
            .collect()
    }
}

/// Reads RED statistics.
#[async_trait]
pub trait RedStatsReader: Send + Sync + 'static {
    /// The statistics `query` selects, one row per (minute, service,
    /// operation, kind), merged across everything the backend holds, sorted
    /// by minute, service, operation, then kind.
    async fn red_stats(&self, query: &RedQuery) -> Result<Vec<RedRow>, StorageError>;

    /// [`RedStatsReader::red_stats`], with what was skipped (a damaged
    /// block); the default reports a complete result.
    async fn red_stats_partial(
        &self,
        query: &RedQuery,
    ) -> Result<crate::Partial<Vec<RedRow>>, StorageError> {
        Ok(crate::Partial::complete(self.red_stats(query).await?))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    #[test]
    fn hostile_counts_saturate_instead_of_overflowing() {
        // Found by the red_stats fuzz target: stored counts near u64::MAX.
        let mut s = LatencySketch::from_parts(u64::MAX, [(1, u64::MAX), (1, 5), (2, 7)])
            .expect("indexes in range");
        assert_eq!(s.count(), u64::MAX);
        s.merge(&s.clone());
        assert_eq!(s.count(), u64::MAX);
        assert!(s.quantile(1.0).is_some());
        let mut r = RedStats {
            calls: u64::MAX,
            errors: u64::MAX,
            latency: s,
        };
        r.merge(&r.clone());
        r.add(1, true);
        assert_eq!((r.calls, r.errors), (u64::MAX, u64::MAX));
    }

    use super::*;

    /// A deterministic pseudo-random sequence.
    fn values(n: usize, seed: u64) -> Vec<u64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Spread over ~1 µs .. ~100 s, log-uniformly.
                let exp = (x % 1_100) as f64 / 100.0;
                (1_000.0 * 10f64.powf(exp)) as u64 + x % 7
            })
            .collect()
    }

    fn exact(sorted: &[u64], q: f64) -> u64 {
        sorted[(q * (sorted.len() - 1) as f64).floor() as usize]
    }

    #[test]
    fn quantiles_are_within_the_relative_accuracy() {
        let vals = values(20_000, 0x9e37_79b9);
        let mut sketch = LatencySketch::default();
        for v in &vals {
            sketch.add(*v);
        }
        let mut sorted = vals.clone();
        sorted.sort_unstable();
        for q in [0.0, 0.01, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0] {
            let want = exact(&sorted, q) as f64;
            let got = sketch.quantile(q).unwrap();
            let err = (got - want).abs() / want;
            assert!(
                err <= SKETCH_RELATIVE_ACCURACY + 1e-9,
                "q={q}: got {got}, exact {want}, error {err}"
            );
        }
        assert_eq!(sketch.count(), 20_000);
        assert!(sketch.buckets().count() < 1_500, "log buckets stay few");
    }

    #[test]
    fn merged_sketches_equal_one_sketch_of_everything() {
        let a = values(5_000, 1);
        let b = values(7_000, 2);
        let mut sa = LatencySketch::default();
        let mut sb = LatencySketch::default();
        let mut all = LatencySketch::default();
        for v in &a {
            sa.add(*v);
            all.add(*v);
        }
        for v in &b {
            sb.add(*v);
            all.add(*v);
        }
        sa.add(0);
        all.add(0);
        sa.merge(&sb);
        assert_eq!(sa, all);
        let rebuilt = LatencySketch::from_parts(all.zero_count(), all.buckets()).unwrap();
        assert_eq!(rebuilt, all);
        assert!(LatencySketch::from_parts(0, [(MAX_SKETCH_INDEX + 1, 1)]).is_none());
    }

    #[test]
    fn edge_values() {
        let mut s = LatencySketch::default();
        assert_eq!(s.quantile(0.5), None);
        s.add(0);
        s.add(0);
        s.add(1);
        s.add(u64::MAX);
        assert_eq!(s.quantile(0.0), Some(0.0));
        assert_eq!(s.quantile(0.5), Some(0.0));
        let top = s.quantile(1.0).unwrap();
        assert!((top - u64::MAX as f64).abs() / (u64::MAX as f64) < 0.011);
        assert!(s.quantile(f64::NAN).is_some());
    }

    #[test]
    fn the_accumulator_keys_by_minute_service_operation_and_kind() {
        use spoor_model::testing;

        let rec = |service: &str, name: &str, kind, start, error| {
            testing::record()
                .service(service)
                .name(name)
                .kind(kind)
                .start(start)
                .duration(1_000_000)
                .status(if error {
                    StatusCode::Error
                } else {
                    StatusCode::Ok
                })
                .build()
        };
        let mut acc = RedAccumulator::default();
        acc.add_span(&rec("a", "op", SpanKind::Server, 10, true));
        acc.add_span(&rec("a", "op", SpanKind::Server, 20, false));
        acc.add_span(&rec("a", "op", SpanKind::Client, 30, false));
        acc.add_span(&rec("a", "op", SpanKind::Server, RED_MINUTE + 1, false));
        acc.add_span(&rec("", "op", SpanKind::Server, 10, false));
        let rows = acc.into_rows();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            (rows[0].minute, rows[0].span_kind, rows[0].stats.calls),
            (0, SpanKind::Server, 2)
        );
        assert_eq!(rows[0].stats.errors, 1);
        assert_eq!(rows[1].span_kind, SpanKind::Client);
        assert_eq!(rows[2].minute, 1);
        let q = RedQuery {
            services: vec!["a".into()],
            span_kinds: vec![SpanKind::Server],
            start: 0,
            end: 59 * 1_000_000_000,
        };
        assert!(q.selects("a", SpanKind::Server, 5));
        assert!(!q.selects("a", SpanKind::Client, 5));
        assert!(!q.selects("a", SpanKind::Server, RED_MINUTE));
        assert!(!q.selects("b", SpanKind::Server, 5));
    }
}
