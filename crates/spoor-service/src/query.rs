//! The read path: fetch, search, truncate, adjust and summarize traces.

use std::collections::HashSet;
use std::sync::Arc;

use spoor_model::{DependencyLink, Trace, UnixNanos};
use spoor_storage::{
    Capabilities, CpuPool, DependencyReader, GetTraceQuery, Operation, OperationQuery, Partial,
    RedStatsReader, StorageError, StorageErrorKind, SummaryFacts, SummaryOptions, TraceQuery,
    TraceReader,
};

pub use spoor_storage::{ServiceSummary, TraceSummary, summarize_trace};

use crate::adjust::{AdjustOptions, adjust_trace, leaves_summary_unchanged};
use crate::spm::{MetricFamily, MetricKind, MetricsQuery};

/// Jaeger's refusal of a search without a service name on a backend that
/// cannot do it (RFC 0013).
pub const SERVICE_NAME_REQUIRED: &str = "this storage backend requires a service name to search; searching all services is not supported";

/// Settings of the [`QueryService`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueryOptions {
    /// Adjuster settings.
    pub adjust: AdjustOptions,
    /// The most spans returned per trace when not raw; `0` = unlimited.
    /// A truncated trace keeps its first spans and its first span gets the
    /// warning `trace has more than N spans, showing first N spans only`.
    pub max_trace_size: usize,
}

/// Keeps the first `max` spans of `trace` (no-op for `max == 0`), warning on
/// the first span as Jaeger does.
fn truncate(trace: &mut Trace, max: usize) {
    if max == 0 || trace.spans.len() <= max {
        return;
    }
    trace.spans.truncate(max);
    if let Some(first) = trace.spans.first_mut() {
        first.warnings.push(format!(
            "trace has more than {max} spans, showing first {max} spans only"
        ));
    }
}

/// Runs CPU-bound work inline when small, on the CPU pool when large
/// ([`CpuPool::SPAN_THRESHOLD`] spans or more in total).
async fn run_cpu<T, F>(cpu: &CpuPool, spans: usize, work: F) -> Result<T, StorageError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    cpu.run_if_large(spans, work)
        .await
        .map_err(|e| StorageError::internal(format!("query processing task failed: {e}")))
}

fn span_total(traces: &[Trace]) -> usize {
    traces.iter().map(|t| t.spans.len()).sum()
}

/// Reads traces for the query APIs. Cheap to clone.
#[derive(Clone)]
pub struct QueryService {
    reader: Arc<dyn TraceReader>,
    deps: Option<Arc<dyn DependencyReader>>,
    metrics: Option<Arc<dyn RedStatsReader>>,
    opts: QueryOptions,
    /// Where large traces are adjusted and metrics computed.
    cpu: CpuPool,
}

impl std::fmt::Debug for QueryService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryService")
            .field("dependencies", &self.deps.is_some())
            .field("metrics", &self.metrics.is_some())
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl QueryService {
    /// A service over `reader`, and `deps` for the dependency graph if any.
    pub fn new(
        reader: Arc<dyn TraceReader>,
        deps: Option<Arc<dyn DependencyReader>>,
        opts: QueryOptions,
    ) -> Self {
        QueryService {
            reader,
            deps,
            metrics: None,
            opts,
            cpu: CpuPool::default(),
        }
    }

    /// The same service running its CPU-heavy work (adjusting large
    /// traces, computing metrics) on `cpu` instead of a pool of its own.
    pub fn with_cpu(mut self, cpu: CpuPool) -> Self {
        self.cpu = cpu;
        self
    }

    /// The pool this service runs CPU-heavy work on; the HTTP layer encodes
    /// large answers on the same one, so one bound holds for all of them.
    pub fn cpu(&self) -> &CpuPool {
        &self.cpu
    }

    /// The same service answering metrics queries from `metrics`.
    pub fn with_red_stats(mut self, metrics: Arc<dyn RedStatsReader>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Whether [`metrics`](Self::metrics) can answer: a metrics reader is
    /// set and the trace reader says it keeps RED statistics.
    pub fn has_metrics(&self) -> bool {
        self.metrics.is_some() && self.reader.capabilities().metrics
    }

    /// A metric (call rate, error rate or latency quantile) per service,
    /// or per operation; see [`crate::spm`].
    /// [`StorageErrorKind::Unsupported`] when no metrics reader is set.
    pub async fn metrics(
        &self,
        kind: MetricKind,
        query: &MetricsQuery,
    ) -> Result<MetricFamily, StorageError> {
        Ok(self.metrics_partial(kind, query).await?.value)
    }

    /// [`metrics`](Self::metrics), with the warnings of data storage had
    /// to skip (a damaged block).
    pub async fn metrics_partial(
        &self,
        kind: MetricKind,
        query: &MetricsQuery,
    ) -> Result<Partial<MetricFamily>, StorageError> {
        let Some(reader) = &self.metrics else {
            return Err(StorageError::new(
                StorageErrorKind::Unsupported,
                "metrics are not available with this storage backend",
            ));
        };
        query.validate()?;
        let Partial {
            value: rows,
            warnings,
        } = reader.red_stats_partial(&query.red_query()).await?;
        let query = query.clone();
        // Points × window minutes × sketch buckets: always off the runtime.
        let value = self
            .cpu
            .run(move || crate::spm::compute(kind, &query, &rows))
            .await
            .map_err(|e| StorageError::internal(format!("metrics task failed: {e}")))?;
        Ok(Partial { value, warnings })
    }

    /// The settings.
    pub fn options(&self) -> &QueryOptions {
        &self.opts
    }

    /// What the trace reader supports.
    pub fn capabilities(&self) -> Capabilities {
        self.reader.capabilities()
    }

    /// Whether [`dependencies`](Self::dependencies) can answer.
    pub fn has_dependencies(&self) -> bool {
        self.deps.is_some()
    }

    /// One trace, truncated and adjusted unless `raw`. `None` when storage
    /// has no span of it.
    pub async fn get_trace(
        &self,
        query: GetTraceQuery,
        raw: bool,
    ) -> Result<Option<Trace>, StorageError> {
        Ok(self.get_trace_partial(query, raw).await?.value)
    }

    /// [`get_trace`](Self::get_trace), with the warnings of data storage
    /// had to skip (a damaged block).
    pub async fn get_trace_partial(
        &self,
        query: GetTraceQuery,
        raw: bool,
    ) -> Result<Partial<Option<Trace>>, StorageError> {
        let Partial { value, warnings } = self.reader.get_trace_partial(query).await?;
        let Some(trace) = value.filter(|t| !t.spans.is_empty()) else {
            return Ok(Partial {
                value: None,
                warnings,
            });
        };
        Ok(Partial {
            value: self.prepare(vec![trace], raw).await?.pop(),
            warnings,
        })
    }

    /// Several traces, in the order asked, skipping unknown and repeated IDs.
    pub async fn get_traces(
        &self,
        ids: &[GetTraceQuery],
        raw: bool,
    ) -> Result<Vec<Trace>, StorageError> {
        Ok(self.get_traces_partial(ids, raw).await?.value)
    }

    /// [`get_traces`](Self::get_traces), with the warnings of data storage
    /// had to skip (a damaged block), each once.
    pub async fn get_traces_partial(
        &self,
        ids: &[GetTraceQuery],
        raw: bool,
    ) -> Result<Partial<Vec<Trace>>, StorageError> {
        let mut seen = HashSet::with_capacity(ids.len());
        let mut traces = Vec::with_capacity(ids.len());
        let mut warnings: Vec<String> = Vec::new();
        for query in ids {
            if !seen.insert(query.trace_id) {
                continue;
            }
            let found = self.reader.get_trace_partial(*query).await?;
            for w in found.warnings {
                if !warnings.contains(&w) {
                    warnings.push(w);
                }
            }
            if let Some(trace) = found.value
                && !trace.spans.is_empty()
            {
                traces.push(trace);
            }
        }
        Ok(Partial {
            value: self.prepare(traces, raw).await?,
            warnings,
        })
    }

    /// Traces matching `query`, in storage order (newest first), truncated
    /// and adjusted unless `raw`.
    pub async fn find_traces(
        &self,
        query: &TraceQuery,
        raw: bool,
    ) -> Result<Vec<Trace>, StorageError> {
        Ok(self.find_traces_partial(query, raw).await?.value)
    }

    /// [`find_traces`](Self::find_traces), with the warnings of data storage
    /// had to skip (a damaged block).
    pub async fn find_traces_partial(
        &self,
        query: &TraceQuery,
        raw: bool,
    ) -> Result<Partial<Vec<Trace>>, StorageError> {
        self.check_search(query)?;
        let Partial {
            value: mut traces,
            warnings,
        } = self.reader.find_traces_partial(query).await?;
        traces.retain(|t| !t.spans.is_empty());
        Ok(Partial {
            value: self.prepare(traces, raw).await?,
            warnings,
        })
    }

    /// The IDs and time ranges of the traces `find_traces` would return,
    /// without reading the traces (the export endpoint pages with these).
    pub async fn find_trace_ids(
        &self,
        query: &TraceQuery,
    ) -> Result<Vec<spoor_storage::FoundTrace>, StorageError> {
        self.check_search(query)?;
        self.reader.find_trace_ids(query).await
    }

    /// [`find_trace_ids`](Self::find_trace_ids), with the warnings of data
    /// storage had to skip (a damaged block).
    pub async fn find_trace_ids_partial(
        &self,
        query: &TraceQuery,
    ) -> Result<Partial<Vec<spoor_storage::FoundTrace>>, StorageError> {
        self.check_search(query)?;
        self.reader.find_trace_ids_partial(query).await
    }

    /// Summaries of the traces matching `query`, computed from the complete
    /// adjusted traces (never truncated), in storage order.
    pub async fn find_trace_summaries(
        &self,
        query: &TraceQuery,
    ) -> Result<Vec<TraceSummary>, StorageError> {
        Ok(self.find_trace_summaries_partial(query).await?.value)
    }

    /// [`find_trace_summaries`](Self::find_trace_summaries), with the
    /// warnings of data storage had to skip (a damaged block).
    pub async fn find_trace_summaries_partial(
        &self,
        query: &TraceQuery,
    ) -> Result<Partial<Vec<TraceSummary>>, StorageError> {
        self.check_search(query)?;
        let adjust = self.opts.adjust;
        let options = SummaryOptions {
            prepare: Some(Arc::new(move |trace: &mut Trace| {
                adjust_trace(trace, &adjust)
            })),
            stored_is_exact: Some(Arc::new(move |facts: &SummaryFacts| {
                leaves_summary_unchanged(facts, &adjust)
            })),
            cpu: self.cpu.clone(),
        };
        self.reader
            .find_trace_summaries_partial(query, &options)
            .await
    }

    /// Every service name, sorted.
    pub async fn services(&self) -> Result<Vec<String>, StorageError> {
        self.reader.services().await
    }

    /// Operations of a service.
    pub async fn operations(&self, query: &OperationQuery) -> Result<Vec<Operation>, StorageError> {
        self.reader.operations(query).await
    }

    /// Dependency edges for spans starting in `[start, end]`, one per
    /// (parent, child) with call counts summed, sorted by parent then child.
    /// [`StorageErrorKind::Unsupported`] when no dependency reader is set.
    pub async fn dependencies(
        &self,
        start: UnixNanos,
        end: UnixNanos,
    ) -> Result<Vec<DependencyLink>, StorageError> {
        Ok(self.dependencies_partial(start, end).await?.value)
    }

    /// [`dependencies`](Self::dependencies), with the warnings of data
    /// storage had to skip (a damaged block).
    pub async fn dependencies_partial(
        &self,
        start: UnixNanos,
        end: UnixNanos,
    ) -> Result<Partial<Vec<DependencyLink>>, StorageError> {
        let Some(deps) = &self.deps else {
            return Err(StorageError::new(
                StorageErrorKind::Unsupported,
                "dependencies are not available with this storage backend",
            ));
        };
        let Partial {
            value: links,
            warnings,
        } = deps.dependencies_partial(start, end).await?;
        Ok(Partial {
            value: merge_dependency_links(links),
            warnings,
        })
    }

    /// Refuses a search without a service name when the backend cannot do it.
    fn check_search(&self, query: &TraceQuery) -> Result<(), StorageError> {
        let has_service = query.service.as_deref().is_some_and(|s| !s.is_empty());
        if !has_service && !self.reader.capabilities().search_without_service {
            return Err(StorageError::invalid_query(SERVICE_NAME_REQUIRED));
        }
        Ok(())
    }

    /// Truncates and adjusts unless `raw`.
    async fn prepare(&self, traces: Vec<Trace>, raw: bool) -> Result<Vec<Trace>, StorageError> {
        if raw {
            return Ok(traces);
        }
        let opts = self.opts;
        run_cpu(&self.cpu, span_total(&traces), move || {
            traces
                .into_iter()
                .map(|mut trace| {
                    truncate(&mut trace, opts.max_trace_size);
                    adjust_trace(&mut trace, &opts.adjust);
                    trace
                })
                .collect()
        })
        .await
    }
}

/// One link per (parent, child), call counts summed, sorted
/// ([`DependencyLink::merge`]).
pub fn merge_dependency_links(links: Vec<DependencyLink>) -> Vec<DependencyLink> {
    DependencyLink::merge(links)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {

    use super::*;
    use spoor_model::TraceId;
    use spoor_model::testing;

    #[test]
    fn truncation_keeps_first_spans_and_warns_once() {
        let mut t = Trace {
            trace_id: TraceId::from_halves(0, 1),
            spans: (1..=5)
                .map(|i| {
                    testing::record()
                        .service("a")
                        .trace(1)
                        .id(i)
                        .name(format!("op{i}"))
                        .start(i)
                        .end(i + 1)
                        .build()
                })
                .collect(),
            warnings: vec![],
        };
        truncate(&mut t, 0);
        assert_eq!(t.spans.len(), 5);
        truncate(&mut t, 5);
        assert_eq!(t.spans.len(), 5);
        truncate(&mut t, 3);
        assert_eq!(t.spans.len(), 3);
        assert_eq!(t.spans[2].span.span_id.as_u64(), 3);
        assert_eq!(
            t.spans[0].warnings,
            vec!["trace has more than 3 spans, showing first 3 spans only"]
        );
        assert!(t.spans[1].warnings.is_empty());
    }

    #[test]
    fn dependency_links_are_merged_and_sorted() {
        let l = |p: &str, c: &str, n: u64| DependencyLink {
            parent: p.into(),
            child: c.into(),
            call_count: n,
        };
        let merged = merge_dependency_links(vec![
            l("b", "c", 1),
            l("a", "b", 2),
            l("b", "c", 3),
            l("a", "a", 1),
            l("a", "b", u64::MAX),
        ]);
        assert_eq!(
            merged,
            vec![l("a", "a", 1), l("a", "b", u64::MAX), l("b", "c", 4)]
        );
    }
}
