//! The write path: admission into the memory budget, Jaeger's write-path
//! sanitizers, and a synchronous write to storage.

use std::sync::Arc;

use spoor_model::{AnyValue, KeyValue, Span, SpanBatch, keys};
use spoor_storage::{SpanWriter, StorageError};

use crate::budget::{MemoryBudget, Reservation};
use crate::shared::rewrite_shared;
pub use crate::telemetry::Source;
use crate::telemetry::{RefuseReason, SkewDirection, Telemetry, WarnLimiter};

/// Settings of the [`Ingester`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestOptions {
    /// The ingest memory budget ([`MemoryBudget`], ADR 0017): receivers
    /// reserve request bodies, their inflated bytes and their decoded spans
    /// from it before reading, inflating or decoding, and hand the
    /// reservation to [`Ingester::submit_reserved`]; [`Ingester::submit`]
    /// reserves the wire bytes itself (a batch larger than the whole budget
    /// then takes the whole budget). What does not fit is refused at once,
    /// never queued. `0` means unlimited. Capped at `u32::MAX` (4 GiB).
    pub max_bytes_in_flight: usize,
}

/// What a successful [`Ingester::submit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IngestOutcome {
    /// Spans written to storage.
    pub accepted_spans: usize,
    /// Of those, spans (or their resources) changed by a sanitizer.
    pub sanitized_spans: usize,
}

/// Why a batch was not written. Nothing of a failed batch was acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The pipeline is full; the sender should retry later (HTTP 429/503 with
    /// `Retry-After`, gRPC `RESOURCE_EXHAUSTED`).
    #[error("the ingest pipeline is full; retry later")]
    Overloaded,
    /// Storage failed to write the batch.
    #[error("storage failed to write spans: {0}")]
    Storage(#[from] StorageError),
}

/// Admits, sanitizes and writes span batches. Cheap to clone; clones share the
/// byte budget.
#[derive(Clone)]
pub struct Ingester {
    writer: Arc<dyn SpanWriter>,
    metrics: Arc<Telemetry>,
    budget: MemoryBudget,
}

impl std::fmt::Debug for Ingester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingester")
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl Ingester {
    /// An ingester writing to `writer` and counting into `metrics`.
    pub fn new(writer: Arc<dyn SpanWriter>, metrics: Arc<Telemetry>, opts: IngestOptions) -> Self {
        Ingester {
            writer,
            metrics,
            budget: MemoryBudget::new(opts.max_bytes_in_flight),
        }
    }

    /// Bytes of the budget not in use right now (`None` when unlimited).
    pub fn available_bytes(&self) -> Option<usize> {
        self.budget.available()
    }

    /// The memory budget receivers reserve request bodies, decompressed
    /// bytes and decoded spans from before they read, inflate or decode.
    pub fn budget(&self) -> &MemoryBudget {
        &self.budget
    }

    /// Admits `batch` (which arrived as `wire_bytes` bytes), sanitizes it and
    /// writes it, returning once storage acknowledged the write.
    ///
    /// Refuses with [`IngestError::Overloaded`] without waiting when the bytes
    /// in flight would exceed the budget. Counts accepted and refused spans and
    /// the request's result in [`Telemetry`].
    pub async fn submit(
        &self,
        batch: SpanBatch,
        wire_bytes: usize,
        source: Source,
    ) -> Result<IngestOutcome, IngestError> {
        let counters = self.metrics.receiver(source);
        let spans = batch.len();
        let reservation = match self.budget.reserve_clamped(wire_bytes) {
            Ok(r) => r,
            Err(_) => {
                counters.refused(spans as u64, RefuseReason::Overloaded);
                counters.request_refused(RefuseReason::Overloaded);
                tracing::debug!(
                    receiver = source.receiver,
                    transport = source.transport,
                    format = source.format,
                    spans,
                    wire_bytes,
                    "ingest refused: pipeline full"
                );
                return Err(IngestError::Overloaded);
            }
        };
        self.write(batch, reservation, source).await
    }

    /// Sanitizes and writes `batch`, whose memory the caller already reserved
    /// from [`Ingester::budget`] (released when the write returned).
    pub async fn submit_reserved(
        &self,
        batch: SpanBatch,
        reservation: Reservation,
        source: Source,
    ) -> Result<IngestOutcome, IngestError> {
        self.write(batch, reservation, source).await
    }

    async fn write(
        &self,
        mut batch: SpanBatch,
        reservation: Reservation,
        source: Source,
    ) -> Result<IngestOutcome, IngestError> {
        let _reservation = reservation;
        let counters = self.metrics.receiver(source);
        let spans = batch.len();
        if batch.is_empty() {
            counters.request_ok();
            return Ok(IngestOutcome::default());
        }

        let sanitized = sanitize(&mut batch, now_unix_nanos());
        let sanitized_spans = sanitized.changed;
        if sanitized_spans > 0 {
            tracing::debug!(
                receiver = source.receiver,
                spans = sanitized_spans,
                "sanitized spans"
            );
        }
        count_skew(&self.metrics, &sanitized, source.receiver);

        match self.writer.write_spans(batch).await {
            Ok(()) => {
                counters.accepted(spans as u64);
                counters.request_ok();
                Ok(IngestOutcome {
                    accepted_spans: spans,
                    sanitized_spans,
                })
            }
            Err(err) => {
                // Storage that cannot take writes right now (busy, disk full,
                // closing) is overload: the sender is told to retry.
                let reason = if err.is_retryable() {
                    RefuseReason::Overloaded
                } else {
                    RefuseReason::StorageError
                };
                counters.refused(spans as u64, reason);
                counters.request_refused(reason);
                tracing::warn!(
                    receiver = source.receiver,
                    transport = source.transport,
                    format = source.format,
                    spans,
                    error = %err,
                    "storage write failed"
                );
                Err(IngestError::Storage(err))
            }
        }
    }
}

/// The current time in Unix nanoseconds (0 before the epoch).
pub fn now_unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A span starting more than this long before it was received is counted
/// as far in the past (30 days).
pub const FAR_PAST_NANOS: u64 = 30 * 24 * 3600 * 1_000_000_000;
/// A span starting more than this long after it was received is counted as
/// far in the future (1 hour: more than any plausible clock skew).
pub const FAR_FUTURE_NANOS: u64 = 3600 * 1_000_000_000;

/// Whether a span starting at `start` is far in the past (`Some(Past)`) or
/// future (`Some(Future)`) of `now`, by [`FAR_PAST_NANOS`] and
/// [`FAR_FUTURE_NANOS`].
pub fn timestamp_skew(start: u64, now: u64) -> Option<SkewDirection> {
    if start < now.saturating_sub(FAR_PAST_NANOS) {
        Some(SkewDirection::Past)
    } else if start > now.saturating_add(FAR_FUTURE_NANOS) {
        Some(SkewDirection::Future)
    } else {
        None
    }
}

/// One WARN line per this many seconds for far-off timestamps.
const SKEW_WARN_INTERVAL_SECS: u64 = 10;
static SKEW_WARN: WarnLimiter = WarnLimiter::new(SKEW_WARN_INTERVAL_SECS);

/// Counts far-off spans in `spoor_ingest_spans_timestamp_skew_total` and logs
/// a rate-limited WARN naming one of them.
pub fn count_skew(metrics: &Telemetry, sanitized: &Sanitized, receiver: &str) {
    if sanitized.far_past > 0 {
        metrics.timestamp_skew(SkewDirection::Past, sanitized.far_past as u64);
    }
    if sanitized.far_future > 0 {
        metrics.timestamp_skew(SkewDirection::Future, sanitized.far_future as u64);
    }
    if let Some(example) = &sanitized.skew_example
        && let Some(suppressed) = SKEW_WARN.allow()
    {
        tracing::warn!(
            receiver,
            far_past_spans = sanitized.far_past,
            far_future_spans = sanitized.far_future,
            example_trace_id = %example.trace_id,
            example_span_id = %example.span_id,
            example_start = %spoor_model::format_rfc3339(example.start_unix_nanos),
            suppressed_warnings = suppressed,
            "ingested spans far from the receive time (kept as sent; retention counts from the receive time)"
        );
    }
}

/// A span whose start time is far from its receive time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkewExample {
    /// Its trace.
    pub trace_id: spoor_model::TraceId,
    /// The span.
    pub span_id: spoor_model::SpanId,
    /// Its start time, as sent.
    pub start_unix_nanos: u64,
}

/// What [`sanitize`] did to a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sanitized {
    /// Spans (or their resources) changed by a sanitizer.
    pub changed: usize,
    /// Spans starting more than [`FAR_PAST_NANOS`] before `now` (not changed).
    pub far_past: usize,
    /// Spans starting more than [`FAR_FUTURE_NANOS`] after `now` (not changed).
    pub far_future: usize,
    /// The first such span, for the log.
    pub skew_example: Option<SkewExample>,
}

/// Placeholder service names, as Jaeger's storage exporter writes them.
const MISSING_SERVICE_NAME: &str = "missing-service-name";
const SERVICE_NAME_WRONG_TYPE: &str = "service-name-wrong-type";
const EMPTY_SERVICE_NAME: &str = "empty-service-name";
/// Placeholder for an empty span name.
const EMPTY_SPAN_NAME: &str = "empty-span-name";

/// Applies Jaeger's write-path sanitizers (`internal/jptrace/sanitizer`) in
/// its order, received at `now` (Unix nanoseconds). Every receiver and both
/// targets of `spoor import` run this one function, so the same input gets
/// the same names on every path (ADR 0015):
///
/// 1. a resource without a string, non-empty `service.name` gets
///    `missing-service-name`, `service-name-wrong-type` or `empty-service-name`;
/// 2. an empty span name becomes `empty-span-name`;
/// 3. Jaeger's UTF-8 sanitizer has nothing to do here: names, keys and string
///    values are Rust `String`s, valid UTF-8 by construction (decoders reject
///    or replace invalid bytes before a model value exists);
/// 4. a span that ends before it starts ends 1 ns after its start, with a
///    warning in its `@jaeger@warnings` attribute (stored with the span, as
///    Jaeger does). Unlike Jaeger, a zero-duration span is left alone: it is
///    valid OTLP (an instant), and warning "negative duration" on it would
///    be false (ADR 0003);
/// 5. a span starting more than [`FAR_PAST_NANOS`] before `now` or more
///    than [`FAR_FUTURE_NANOS`] after it is counted (not changed: a replayed
///    dataset is legitimately old, and retention counts from the receive
///    time, not from span timestamps).
pub fn sanitize(batch: &mut SpanBatch, now: u64) -> Sanitized {
    let records = &mut batch.spans;
    let mut changed = rewrite_shared(
        records,
        |r| &r.resource,
        |r| &mut r.resource,
        |res| {
            let fixed = match spoor_model::find_attr(&res.attributes, keys::SERVICE_NAME) {
                None => MISSING_SERVICE_NAME,
                Some(AnyValue::Str(s)) if s.is_empty() => EMPTY_SERVICE_NAME,
                Some(AnyValue::Str(_)) => return None,
                Some(_) => SERVICE_NAME_WRONG_TYPE,
            };
            let mut res = res.clone();
            let value = AnyValue::Str(fixed.to_string());
            match res
                .attributes
                .iter_mut()
                .find(|kv| kv.key == keys::SERVICE_NAME)
            {
                Some(kv) => kv.value = value,
                None => res
                    .attributes
                    .push(KeyValue::new(keys::SERVICE_NAME, value)),
            }
            Some(res)
        },
    );

    let mut out = Sanitized::default();
    for (flag, record) in changed.iter_mut().zip(records.iter_mut()) {
        let span = &mut record.span;
        if span.name.is_empty() {
            span.name = EMPTY_SPAN_NAME.to_string();
            *flag = true;
        }
        if span.end_time_unix_nano < span.start_time_unix_nano {
            fix_duration(span);
            *flag = true;
        }
        let start = span.start_time_unix_nano;
        let far = match timestamp_skew(start, now) {
            Some(SkewDirection::Past) => {
                out.far_past += 1;
                true
            }
            Some(SkewDirection::Future) => {
                out.far_future += 1;
                true
            }
            None => false,
        };
        if far && out.skew_example.is_none() {
            out.skew_example = Some(SkewExample {
                trace_id: span.trace_id,
                span_id: span.span_id,
                start_unix_nanos: start,
            });
        }
    }
    out.changed = changed.iter().filter(|&&c| c).count();
    out
}

fn fix_duration(span: &mut Span) {
    let new_end = span.start_time_unix_nano.saturating_add(1);
    let warning = format!(
        "Negative duration detected, sanitizing end timestamp. Original end timestamp: {}, adjusted to: {}",
        go_time_string(span.end_time_unix_nano),
        go_time_string(new_end)
    );
    add_warning_attribute(&mut span.attributes, warning);
    span.end_time_unix_nano = new_end;
}

/// Appends `warning` to the `@jaeger@warnings` string-array attribute, as
/// Jaeger's `AddWarnings` does (a non-array value becomes the first element).
pub(crate) fn add_warning_attribute(attrs: &mut Vec<KeyValue>, warning: String) {
    match attrs.iter_mut().find(|kv| kv.key == keys::JAEGER_WARNINGS) {
        Some(kv) => match &mut kv.value {
            AnyValue::Array(items) => items.push(AnyValue::Str(warning)),
            other => {
                let prev = other.to_string_lossy();
                *other = AnyValue::Array(vec![AnyValue::Str(prev), AnyValue::Str(warning)]);
            }
        },
        None => attrs.push(KeyValue::new(
            keys::JAEGER_WARNINGS,
            AnyValue::Array(vec![AnyValue::Str(warning)]),
        )),
    }
}

/// A timestamp as Go's `time.Time.String()` prints a UTC time:
/// `2006-01-02 15:04:05.999999999 +0000 UTC` (fraction without trailing
/// zeros, omitted when zero). Like Go's `pcommon.Timestamp.AsTime`, the
/// nanoseconds are read as a signed 64-bit count.
fn go_time_string(unix_nanos: u64) -> String {
    let nanos = i64::from_ne_bytes(unix_nanos.to_ne_bytes());
    let secs = nanos.div_euclid(1_000_000_000);
    let frac = nanos.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = spoor_model::civil_from_days(days);
    let mut s = format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    );
    if frac != 0 {
        let digits = format!("{frac:09}");
        s.push('.');
        s.push_str(digits.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    s
}

/// Where receivers hand decoded batches: the [`Ingester`] in a collector,
/// a forwarder in `spoor agent`. Receivers depend on this trait only.
#[async_trait::async_trait]
pub trait BatchSink: Send + Sync + 'static {
    /// Accepts a batch; `Ok` means the spans are taken care of (written, or
    /// queued for forwarding), so the sender may be acknowledged.
    async fn submit(
        &self,
        batch: SpanBatch,
        wire_bytes: usize,
        source: Source,
    ) -> Result<IngestOutcome, IngestError>;

    /// Accepts a batch whose memory the receiver already reserved (held until
    /// the batch is taken care of).
    async fn submit_reserved(
        &self,
        batch: SpanBatch,
        reservation: Reservation,
        wire_bytes: usize,
        source: Source,
    ) -> Result<IngestOutcome, IngestError> {
        let result = self.submit(batch, wire_bytes, source).await;
        drop(reservation);
        result
    }
}

#[async_trait::async_trait]
impl BatchSink for Ingester {
    async fn submit(
        &self,
        batch: SpanBatch,
        wire_bytes: usize,
        source: Source,
    ) -> Result<IngestOutcome, IngestError> {
        Ingester::submit(self, batch, wire_bytes, source).await
    }

    async fn submit_reserved(
        &self,
        batch: SpanBatch,
        reservation: Reservation,
        _wire_bytes: usize,
        source: Source,
    ) -> Result<IngestOutcome, IngestError> {
        Ingester::submit_reserved(self, batch, reservation, source).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use spoor_model::testing;
    use spoor_model::{Resource, SpanRecord};

    /// 2025-05-25T00:00:00Z
    const NOW: u64 = 1_748_131_200_000_000_000;

    fn rec(resource: &Arc<Resource>, name: &str, start: u64, end: u64) -> SpanRecord {
        testing::record()
            .resource(resource)
            .name(name)
            .start(start)
            .end(end)
            .build()
    }

    fn res(attrs: Vec<KeyValue>) -> Arc<Resource> {
        Arc::new(Resource {
            attributes: attrs,
            ..Default::default()
        })
    }

    #[test]
    fn go_time_strings() {
        assert_eq!(go_time_string(0), "1970-01-01 00:00:00 +0000 UTC");
        // 2025-05-25T00:00:00Z
        assert_eq!(
            go_time_string(1_748_131_200_000_000_000),
            "2025-05-25 00:00:00 +0000 UTC"
        );
        assert_eq!(
            go_time_string(1_748_131_200_000_000_001),
            "2025-05-25 00:00:00.000000001 +0000 UTC"
        );
        assert_eq!(
            go_time_string(951_782_400_500_000_000),
            "2000-02-29 00:00:00.5 +0000 UTC"
        );
        assert_eq!(
            go_time_string(1_709_251_199_123_000_000),
            "2024-02-29 23:59:59.123 +0000 UTC"
        );
        // Above i64::MAX reads as negative, like Go: 1 ns before the epoch.
        assert_eq!(
            go_time_string(u64::MAX),
            "1969-12-31 23:59:59.999999999 +0000 UTC"
        );
    }

    #[test]
    fn service_names_are_fixed_per_resource_without_leaking() {
        let missing = res(vec![]);
        let empty = res(vec![
            KeyValue::str("service.name", ""),
            KeyValue::str("x", "y"),
        ]);
        let wrong = res(vec![KeyValue::new("service.name", AnyValue::Int(3))]);
        let fine = res(vec![KeyValue::str("service.name", "svc")]);
        let mut batch = SpanBatch {
            spans: vec![
                rec(&missing, "a", 1, 2),
                rec(&empty, "a", 1, 2),
                rec(&wrong, "a", 1, 2),
                rec(&fine, "a", 1, 2),
                rec(&missing, "a", 1, 2),
            ],
        };
        let changed = sanitize(&mut batch, NOW).changed;
        assert_eq!(changed, 4);
        let names: Vec<&str> = batch.spans.iter().map(|r| r.service_name()).collect();
        assert_eq!(
            names,
            vec![
                "missing-service-name",
                "empty-service-name",
                "service-name-wrong-type",
                "svc",
                "missing-service-name"
            ]
        );
        assert!(Arc::ptr_eq(
            &batch.spans[0].resource,
            &batch.spans[4].resource
        ));
        assert!(Arc::ptr_eq(&batch.spans[3].resource, &fine));
        // the key keeps its place among the other attributes
        assert_eq!(batch.spans[1].resource.attributes[0].key, "service.name");
        assert_eq!(batch.spans[1].resource.attributes.len(), 2);
        // originals untouched
        assert!(missing.attributes.is_empty());
        assert_eq!(empty.attributes[0].value, AnyValue::Str(String::new()));
    }

    #[test]
    fn empty_span_names_are_replaced() {
        let r = res(vec![KeyValue::str("service.name", "svc")]);
        let mut batch = SpanBatch {
            spans: vec![rec(&r, "", 1, 2), rec(&r, "ok", 1, 2)],
        };
        assert_eq!(sanitize(&mut batch, NOW).changed, 1);
        assert_eq!(batch.spans[0].span.name, "empty-span-name");
        assert_eq!(batch.spans[1].span.name, "ok");
    }

    #[test]
    fn negative_durations_are_clamped_with_a_warning_attribute_and_zero_ones_kept() {
        let r = res(vec![KeyValue::str("service.name", "svc")]);
        let start = 1_748_131_200_000_000_000;
        let mut negative = rec(&r, "n", start, start - 2_000_000_000);
        negative
            .span
            .attributes
            .push(KeyValue::str(keys::JAEGER_WARNINGS, "earlier"));
        let mut batch = SpanBatch {
            spans: vec![
                negative,
                rec(&r, "z", start, start),
                rec(&r, "ok", start, start + 5),
            ],
        };
        assert_eq!(sanitize(&mut batch, NOW).changed, 1);
        let neg = &batch.spans[0].span;
        assert_eq!(neg.end_time_unix_nano, start + 1);
        assert_eq!(
            neg.attributes[0].value,
            AnyValue::Array(vec![
                AnyValue::Str("earlier".into()),
                AnyValue::Str(
                    "Negative duration detected, sanitizing end timestamp. Original end timestamp: \
                     2025-05-24 23:59:58 +0000 UTC, adjusted to: 2025-05-25 00:00:00.000000001 +0000 UTC"
                        .into()
                ),
            ])
        );
        let zero = &batch.spans[1].span;
        assert_eq!(zero.end_time_unix_nano, start);
        assert!(zero.attributes.is_empty());
        assert!(batch.spans[2].span.attributes.is_empty());
        assert!(batch.spans.iter().all(|r| r.warnings.is_empty()));
    }

    #[test]
    fn far_off_start_times_are_counted_not_changed() {
        let r = res(vec![KeyValue::str("service.name", "svc")]);
        let hour = 3600 * 1_000_000_000u64;
        let mut batch = SpanBatch {
            spans: vec![
                rec(&r, "epoch", 0, 5),
                rec(&r, "31 days ago", NOW - 31 * 24 * hour, NOW),
                rec(&r, "29 days ago", NOW - 29 * 24 * hour, NOW),
                rec(
                    &r,
                    "59 minutes ahead",
                    NOW + hour - 60_000_000_000,
                    NOW + hour,
                ),
                rec(&r, "2 hours ahead", NOW + 2 * hour, NOW + 3 * hour),
                rec(&r, "year 2500", u64::MAX - 1, u64::MAX),
            ],
        };
        let before = batch.clone();
        let out = sanitize(&mut batch, NOW);
        assert_eq!(out.far_past, 2);
        assert_eq!(out.far_future, 2);
        assert_eq!(out.changed, 0);
        assert_eq!(batch, before, "far-off spans are kept as sent");
        assert_eq!(out.skew_example.unwrap().start_unix_nanos, 0);
        // A receive time near the epoch does not underflow.
        let out = sanitize(&mut batch, 1);
        assert_eq!(out.far_past, 0);
        assert_eq!(out.far_future, 5);
    }

    #[test]
    fn skew_counts_reach_the_metrics() {
        let metrics = Telemetry::new("test");
        let r = res(vec![KeyValue::str("service.name", "svc")]);
        let mut batch = SpanBatch {
            spans: vec![rec(&r, "old", 1, 2), rec(&r, "now", NOW, NOW + 1)],
        };
        let out = sanitize(&mut batch, NOW);
        count_skew(&metrics, &out, "otlp");
        let text = metrics.render_prometheus();
        assert!(
            text.contains("spoor_ingest_spans_timestamp_skew_total{direction=\"past\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("spoor_ingest_spans_timestamp_skew_total{direction=\"future\"} 0\n"));
    }

    #[test]
    fn warn_limiter_allows_one_line_per_interval() {
        let limiter = WarnLimiter::new(3600);
        assert_eq!(limiter.allow(), Some(0));
        assert_eq!(limiter.allow(), None);
        assert_eq!(limiter.allow(), None);
        let every = WarnLimiter::new(0);
        assert_eq!(every.allow(), Some(0));
        assert_eq!(every.allow(), Some(0));
    }

    #[test]
    fn warning_attribute_appends_to_an_existing_array() {
        let mut attrs = vec![KeyValue::new(
            keys::JAEGER_WARNINGS,
            AnyValue::Array(vec![AnyValue::Str("a".into())]),
        )];
        add_warning_attribute(&mut attrs, "b".into());
        assert_eq!(
            attrs[0].value,
            AnyValue::Array(vec![AnyValue::Str("a".into()), AnyValue::Str("b".into())])
        );
    }
}
