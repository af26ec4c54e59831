//! Trace summaries for search result lists (Jaeger's `TraceSummary`, api_v3
//! `FindTraceSummaries`): the one summary type, how a whole trace is
//! summarized, and how a backend answers
//! [`TraceReader::find_trace_summaries_partial`](crate::TraceReader::find_trace_summaries_partial).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use spoor_model::{StatusCode, Trace, TraceId, UnixNanos, keys};

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
    let ids: HashSet<_> = trace.spans.iter().map(|r| r.span.span_id).collect();
    let mut services: HashMap<&str, (u64, u64)> = HashMap::new();
    let mut root: Option<(UnixNanos, &str, &str)> = None;
    let mut min_start = UnixNanos::MAX;
    let mut max_end = 0;
    let mut errors = 0;
    let mut orphans = 0;
    for record in &trace.spans {
        let span = &record.span;
        // As Jaeger: the string value of service.name, empty otherwise.
        let service = spoor_model::find_attr(&record.resource.attributes, keys::SERVICE_NAME)
            .and_then(|v| v.as_str())
            .unwrap_or("");
        let stats = services.entry(service).or_default();
        stats.0 += 1;
        if span.status.code == StatusCode::Error {
            stats.1 += 1;
            errors += 1;
        }
        min_start = min_start.min(span.start_time_unix_nano);
        max_end = max_end.max(span.end_time_unix_nano);
        if span.parent_span_id.is_zero() {
            if root.is_none_or(|(start, _, _)| span.start_time_unix_nano < start) {
                root = Some((span.start_time_unix_nano, service, span.name.as_str()));
            }
        } else if !ids.contains(&span.parent_span_id) {
            orphans += 1;
        }
    }
    let mut services: Vec<ServiceSummary> = services
        .into_iter()
        .map(|(name, (span_count, error_span_count))| ServiceSummary {
            name: name.to_string(),
            span_count,
            error_span_count,
        })
        .collect();
    services.sort_by(|a, b| a.name.cmp(&b.name));
    let trace_id = match trace.spans.first() {
        Some(first) if trace.trace_id.is_zero() => first.span.trace_id,
        _ => trace.trace_id,
    };
    TraceSummary {
        trace_id,
        root_service_name: root.map(|r| r.1.to_string()).unwrap_or_default(),
        root_operation_name: root.map(|r| r.2.to_string()).unwrap_or_default(),
        min_start_time_unix_nano: if trace.spans.is_empty() { 0 } else { min_start },
        max_end_time_unix_nano: max_end,
        span_count: trace.spans.len() as u64,
        error_span_count: errors,
        orphan_span_count: orphans,
        services,
    }
}

/// Runs on a whole trace before it is summarized: the query service's
/// adjusters (duplicate spans dropped, client/server span IDs told apart,
/// clock skew corrected), which change counts, orphans and times.
pub type PrepareTrace = dyn Fn(&mut Trace) + Send + Sync;

/// How whole traces become summaries.
#[derive(Clone, Default)]
pub struct SummaryOptions {
    /// Runs on each whole trace first; `None` summarizes traces as stored.
    pub prepare: Option<Arc<PrepareTrace>>,
    /// Where traces of [`CpuPool::SPAN_THRESHOLD`] spans or more in total
    /// are prepared and summarized.
    pub cpu: CpuPool,
}

impl std::fmt::Debug for SummaryOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SummaryOptions")
            .field("prepare", &self.prepare.is_some())
            .field("cpu", &self.cpu)
            .finish()
    }
}

impl SummaryOptions {
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
