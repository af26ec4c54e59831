//! Trace summaries for search result lists (Jaeger's `TraceSummary`, api_v3
//! `FindTraceSummaries`): the one summary type, how a whole trace is
//! summarized, and how a backend answers
//! [`TraceReader::find_trace_summaries_partial`](crate::TraceReader::find_trace_summaries_partial).

use std::collections::HashMap;
use std::sync::Arc;

use spoor_model::{SpanId, SpanRecord, StatusCode, Trace, TraceId, UnixNanos, keys};

use crate::{CpuPool, StorageError};

/// Per-service statistics of one trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSummary {
    /// The service name (`service.name`; empty when absent or not a string).
    pub name: String,
    /// Spans of this service.
    pub span_count: u64,
    /// Spans of this service with status ERROR.
    pub error_span_count: u64,
}

/// A lightweight description of a trace for search result lists (Jaeger's
/// `TraceSummary`, api_v3 `FindTraceSummaries`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceSummary {
    /// The trace.
    pub trace_id: TraceId,
    /// Service of the root span: the span without a parent, the earliest one
    /// if there are several; empty when there is none.
    pub root_service_name: String,
    /// Name of the root span.
    pub root_operation_name: String,
    /// Earliest span start.
    pub min_start_time_unix_nano: UnixNanos,
    /// Latest span end.
    pub max_end_time_unix_nano: UnixNanos,
    /// All spans.
    pub span_count: u64,
    /// Spans with status ERROR.
    pub error_span_count: u64,
    /// Spans whose parent is not in the trace.
    pub orphan_span_count: u64,
    /// One entry per service, sorted by name.
    pub services: Vec<ServiceSummary>,
}

/// Computes the summary of a (complete, adjusted) trace.
pub fn summarize_trace(trace: &Trace) -> TraceSummary {
    let mut builder = SummaryBuilder::new(trace.trace_id);
    for record in &trace.spans {
        builder.push(record);
    }
    builder.finish().0
}

/// What decides whether the summary of a trace's spans as stored is also
/// the summary of the trace after the query service's adjusters
/// ([`SummaryOptions::stored_is_exact`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SummaryFacts {
    /// No span ID appears twice: neither the client/server span-ID split
    /// nor the removal of duplicate spans has anything to do.
    pub unique_span_ids: bool,
    /// Every span whose parent is in the trace lies within the parent's
    /// start and end: clock-skew correction moves nothing.
    pub children_within_parents: bool,
}

/// Summarizes a trace span by span, as [`summarize_trace`] does, and finds
/// its [`SummaryFacts`] on the way (a storage backend keeps both when it
/// writes a trace, to answer summary searches without reading spans).
#[derive(Debug, Default)]
pub struct SummaryBuilder {
    trace_id: TraceId,
    /// Span ID → (start, end).
    spans: HashMap<SpanId, (UnixNanos, UnixNanos)>,
    /// (parent, start, end) of each span with a parent.
    children: Vec<(SpanId, UnixNanos, UnixNanos)>,
    services: Vec<ServiceSummary>,
    /// (start, service, name) of the root span.
    root: Option<(UnixNanos, String, String)>,
    min_start: UnixNanos,
    max_end: UnixNanos,
    span_count: u64,
    errors: u64,
    duplicate_ids: bool,
}

impl SummaryBuilder {
    /// A summary of `trace_id` (when zero, the first span's trace ID).
    pub fn new(trace_id: TraceId) -> Self {
        SummaryBuilder {
            trace_id,
            min_start: UnixNanos::MAX,
            ..SummaryBuilder::default()
        }
    }

    /// The trace summarized (the first span's, when made with a zero ID).
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// Whether a root span (one without a parent) was added.
    pub fn has_root(&self) -> bool {
        self.root.is_some()
    }

    /// Adds one span of the trace.
    pub fn push(&mut self, record: &SpanRecord) {
        let span = &record.span;
        if self.span_count == 0 && self.trace_id.is_zero() {
            self.trace_id = span.trace_id;
        }
        self.span_count += 1;
        // As Jaeger: the string value of service.name, empty otherwise.
        let service = spoor_model::find_attr(&record.resource.attributes, keys::SERVICE_NAME)
            .and_then(|v| v.as_str())
            .unwrap_or("");
        let error = span.status.code == StatusCode::Error;
        let stats = match self.services.iter_mut().position(|s| s.name == service) {
            Some(at) => &mut self.services[at],
            None => {
                self.services.push(ServiceSummary {
                    name: service.to_owned(),
                    span_count: 0,
                    error_span_count: 0,
                });
                let last = self.services.len() - 1;
                &mut self.services[last]
            }
        };
        stats.span_count += 1;
        if error {
            stats.error_span_count += 1;
            self.errors += 1;
        }
        let (start, end) = (span.start_time_unix_nano, span.end_time_unix_nano);
        self.min_start = self.min_start.min(start);
        self.max_end = self.max_end.max(end);
        if self.spans.insert(span.span_id, (start, end)).is_some() {
            self.duplicate_ids = true;
        }
        if span.parent_span_id.is_zero() {
            // The earliest root; the first of those starting together.
            if self.root.as_ref().is_none_or(|(first, ..)| start < *first) {
                self.root = Some((start, service.to_owned(), span.name.clone()));
            }
        } else {
            self.children.push((span.parent_span_id, start, end));
        }
    }

    /// The summary and its facts.
    pub fn finish(self) -> (TraceSummary, SummaryFacts) {
        let mut orphans = 0;
        let mut within = true;
        for (parent, start, end) in &self.children {
            match self.spans.get(parent) {
                None => orphans += 1,
                Some((p_start, p_end)) => within &= p_start <= start && end <= p_end,
            }
        }
        let mut services = self.services;
        services.sort_by(|a, b| a.name.cmp(&b.name));
        let (root_service_name, root_operation_name) = match self.root {
            Some((_, service, name)) => (service, name),
            None => (String::new(), String::new()),
        };
        let summary = TraceSummary {
            trace_id: self.trace_id,
            root_service_name,
            root_operation_name,
            min_start_time_unix_nano: if self.span_count == 0 {
                0
            } else {
                self.min_start
            },
            max_end_time_unix_nano: self.max_end,
            span_count: self.span_count,
            error_span_count: self.errors,
            orphan_span_count: orphans,
            services,
        };
        let facts = SummaryFacts {
            unique_span_ids: !self.duplicate_ids,
            children_within_parents: within,
        };
        (summary, facts)
    }
}

/// Runs on a whole trace before it is summarized: the query service's
/// adjusters (duplicate spans dropped, client/server span IDs told apart,
/// clock skew corrected), which change counts, orphans and times.
pub type PrepareTrace = dyn Fn(&mut Trace) + Send + Sync;

/// Says whether a trace's summary as stored, with these facts, is also its
/// summary after [`PrepareTrace`] ran on it.
pub type StoredIsExact = dyn Fn(&SummaryFacts) -> bool + Send + Sync;

/// How whole traces become summaries.
#[derive(Clone, Default)]
pub struct SummaryOptions {
    /// Runs on each whole trace first; `None` summarizes traces as stored.
    pub prepare: Option<Arc<PrepareTrace>>,
    /// When `prepare` leaves a trace's summary unchanged: a backend that
    /// keeps the summary and [`SummaryFacts`] of a trace stored in one piece
    /// answers from them when this says yes, and reads the trace otherwise.
    /// `None` with `prepare` set: always read the trace.
    pub stored_is_exact: Option<Arc<StoredIsExact>>,
    /// Where traces of [`CpuPool::SPAN_THRESHOLD`] spans or more in total
    /// are prepared and summarized.
    pub cpu: CpuPool,
}

impl std::fmt::Debug for SummaryOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SummaryOptions")
            .field("prepare", &self.prepare.is_some())
            .field("stored_is_exact", &self.stored_is_exact.is_some())
            .field("cpu", &self.cpu)
            .finish()
    }
}

impl SummaryOptions {
    /// Whether the summary of a trace stored in one piece, with `facts`, is
    /// the summary these options lead to (always, when nothing prepares the
    /// trace).
    pub fn accepts_stored(&self, facts: &SummaryFacts) -> bool {
        match (&self.prepare, &self.stored_is_exact) {
            (None, _) => true,
            (Some(_), Some(exact)) => exact(facts),
            (Some(_), None) => false,
        }
    }

    /// Prepares and summarizes whole traces (empty ones are left out), in
    /// their order: inline when small, on the CPU pool when large.
    pub async fn summarize(
        &self,
        mut traces: Vec<Trace>,
    ) -> Result<Vec<TraceSummary>, StorageError> {
        traces.retain(|t| !t.spans.is_empty());
        let spans = traces.iter().map(|t| t.spans.len()).sum();
        let prepare = self.prepare.clone();
        self.cpu
            .run_if_large(spans, move || {
                traces
                    .into_iter()
                    .map(|mut trace| {
                        if let Some(prepare) = &prepare {
                            prepare(&mut trace);
                        }
                        summarize_trace(&trace)
                    })
                    .collect()
            })
            .await
            .map_err(|e| StorageError::internal(format!("query processing task failed: {e}")))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use spoor_model::SpanRecord;
    use spoor_model::testing;

    fn rec(
        service: Option<&str>,
        id: u64,
        parent: u64,
        start: u64,
        end: u64,
        err: bool,
    ) -> SpanRecord {
        let r = testing::record()
            .trace(1)
            .id(id)
            .parent(parent)
            .name(format!("op{id}"))
            .start(start)
            .end(end)
            .error(err);
        match service {
            Some(s) => r.service(s),
            None => r,
        }
        .build()
    }

    #[test]
    fn summary_matches_jaeger_snapshot_shape() {
        // The api_v3 FindTraceSummaries snapshot: two frontend spans, one error.
        let trace = Trace {
            trace_id: TraceId::from_halves(0, 1),
            spans: vec![
                rec(
                    Some("frontend"),
                    1,
                    0,
                    1_000_000_000_000,
                    1_001_000_000_000,
                    false,
                ),
                rec(
                    Some("frontend"),
                    2,
                    1,
                    1_000_100_000_000,
                    1_000_900_000_000,
                    true,
                ),
            ],
            warnings: vec![],
        };
        let mut t = trace;
        t.spans[0].span.name = "HTTP GET /".into();
        let s = summarize_trace(&t);
        assert_eq!(s.trace_id.to_hex(), "00000000000000000000000000000001");
        assert_eq!(s.root_service_name, "frontend");
        assert_eq!(s.root_operation_name, "HTTP GET /");
        assert_eq!(s.min_start_time_unix_nano, 1_000_000_000_000);
        assert_eq!(s.max_end_time_unix_nano, 1_001_000_000_000);
        assert_eq!(
            (s.span_count, s.error_span_count, s.orphan_span_count),
            (2, 1, 0)
        );
        assert_eq!(
            s.services,
            vec![ServiceSummary {
                name: "frontend".into(),
                span_count: 2,
                error_span_count: 1
            }]
        );
    }

    #[test]
    fn summary_picks_earliest_root_counts_orphans_and_sorts_services() {
        let t = Trace {
            trace_id: TraceId::from_halves(0, 1),
            spans: vec![
                rec(Some("b"), 1, 0, 50, 60, false),
                rec(Some("a"), 2, 0, 40, 100, true),
                rec(Some("b"), 3, 2, 45, 55, false),
                rec(Some("c"), 4, 99, 10, 20, true),
                rec(None, 5, 98, 30, 120, false),
            ],
            warnings: vec![],
        };
        let s = summarize_trace(&t);
        assert_eq!(s.root_service_name, "a");
        assert_eq!(s.root_operation_name, "op2");
        assert_eq!(s.min_start_time_unix_nano, 10);
        assert_eq!(s.max_end_time_unix_nano, 120);
        assert_eq!(
            (s.span_count, s.error_span_count, s.orphan_span_count),
            (5, 2, 2)
        );
        let names: Vec<&str> = s.services.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, vec!["", "a", "b", "c"]);
        assert_eq!(s.services[2].span_count, 2);
    }

    #[test]
    fn summary_without_root_has_empty_names() {
        let t = Trace {
            trace_id: TraceId::from_halves(0, 1),
            spans: vec![rec(Some("a"), 2, 1, 5, 6, false)],
            warnings: vec![],
        };
        let s = summarize_trace(&t);
        assert_eq!(s.root_service_name, "");
        assert_eq!(s.root_operation_name, "");
        assert_eq!(s.orphan_span_count, 1);
    }
}
