//! Storage contracts for Spoor.
//!
//! Backends implement [`SpanWriter`], [`TraceReader`], [`DependencyReader`]
//! and [`RedStatsReader`];
//! the rest of Spoor only ever sees them as `Arc<dyn …>`. The in-memory
//! backend lives in [`memory`]; the conformance suite that every backend must
//! pass lives in `conformance` (feature `conformance`).

mod cpu;
mod error;
pub mod federate;
pub mod filter;
pub mod memory;
mod query;
pub mod red;
mod status;
mod summary;

#[cfg(feature = "conformance")]
pub mod conformance;

use async_trait::async_trait;
use spoor_model::{DependencyLink, SpanBatch, Trace, TraceId, UnixNanos};

pub use cpu::{CpuPool, CpuPoolError};
pub use error::{StorageError, StorageErrorKind};
pub use filter::{FilterError, FilterExpr};
pub use query::{
    Capabilities, FoundTrace, GetTraceQuery, Operation, OperationQuery, SYNTHESIZED_TAGS,
    TagFilter, TraceQuery, is_synthesized_tag, matches_span,
};
pub use red::{
    LatencySketch, RedAccumulator, RedQuery, RedRow, RedStats, RedStatsReader,
    SKETCH_RELATIVE_ACCURACY,
};
pub use status::{StorageHealth, StorageMetric, StorageMetricKind, StorageStatus};
pub use summary::{
    PrepareTrace, ServiceSummary, StoredIsExact, SummaryBuilder, SummaryFacts, SummaryOptions,
    TraceSummary, summarize_trace,
};

/// Accepts spans for storage.
#[async_trait]
pub trait SpanWriter: Send + Sync + 'static {
    /// Stores a batch. Idempotent for identical spans. Returns only when the
    /// batch is as durable as the backend promises.
    async fn write_spans(&self, batch: SpanBatch) -> Result<(), StorageError>;
}

/// A result that may be missing data the backend could not read (a damaged
/// block, say): the healthy data, and one warning for each part skipped.
/// An empty `warnings` means the result is complete.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Partial<T> {
    /// What could be read.
    pub value: T,
    /// Why the result may be incomplete, for the response and the logs.
    pub warnings: Vec<String>,
}

impl<T> Partial<T> {
    /// A complete result.
    pub fn complete(value: T) -> Self {
        Partial {
            value,
            warnings: Vec::new(),
        }
    }
}

/// Reads traces back.
///
/// The `*_partial` methods answer like their counterparts but also say what
/// they had to skip; a backend that can lose parts of its data to damage
/// (the engine) overrides them, and its plain methods answer with the
/// healthy data alone. The defaults report a complete result.
#[async_trait]
pub trait TraceReader: Send + Sync + 'static {
    /// What this backend can do beyond the baseline.
    fn capabilities(&self) -> Capabilities;

    /// All stored spans of one trace, or `None` when the ID is unknown.
    /// The caller owns the returned data.
    async fn get_trace(&self, query: GetTraceQuery) -> Result<Option<Trace>, StorageError>;

    /// Traces with at least one span matching `query`, newest first
    /// (trace start descending, then trace ID), at most `query.limit`.
    async fn find_traces(&self, query: &TraceQuery) -> Result<Vec<Trace>, StorageError>;

    /// The IDs `find_traces` would return, with each trace's time range.
    async fn find_trace_ids(&self, query: &TraceQuery) -> Result<Vec<FoundTrace>, StorageError>;

    /// Every service name, sorted.
    async fn services(&self) -> Result<Vec<String>, StorageError>;

    /// Operations of a service, optionally of one span kind, sorted by name then kind.
    async fn operations(&self, query: &OperationQuery) -> Result<Vec<Operation>, StorageError>;

    /// [`TraceReader::get_trace`], with what was skipped.
    async fn get_trace_partial(
        &self,
        query: GetTraceQuery,
    ) -> Result<Partial<Option<Trace>>, StorageError> {
        Ok(Partial::complete(self.get_trace(query).await?))
    }

    /// Every stored span of each of `ids` (traces not found are left out),
    /// in the order of `ids`, with what was skipped. By default one
    /// [`TraceReader::get_trace_partial`] after another; a backend that
    /// can read many traces at once overrides it.
    async fn get_traces_partial(
        &self,
        ids: &[TraceId],
    ) -> Result<Partial<Vec<Trace>>, StorageError> {
        let mut out = Partial::complete(Vec::with_capacity(ids.len()));
        for id in ids {
            let Partial { value, warnings } =
                self.get_trace_partial(GetTraceQuery::new(*id)).await?;
            out.value.extend(value);
            out.warnings.extend(warnings);
        }
        out.warnings.sort();
        out.warnings.dedup();
        Ok(out)
    }

    /// [`TraceReader::find_traces`], with what was skipped.
    async fn find_traces_partial(
        &self,
        query: &TraceQuery,
    ) -> Result<Partial<Vec<Trace>>, StorageError> {
        Ok(Partial::complete(self.find_traces(query).await?))
    }

    /// [`TraceReader::find_trace_ids`], with what was skipped.
    async fn find_trace_ids_partial(
        &self,
        query: &TraceQuery,
    ) -> Result<Partial<Vec<FoundTrace>>, StorageError> {
        Ok(Partial::complete(self.find_trace_ids(query).await?))
    }

    /// Summaries of the traces [`TraceReader::find_traces`] returns for
    /// `query`, in the same order (empty traces left out), each computed
    /// from the whole trace after `options.prepare` ran on it, with what
    /// was skipped. By default from the whole traces of
    /// [`TraceReader::find_traces_partial`]; a backend that can answer
    /// more cheaply with the same results overrides it.
    async fn find_trace_summaries_partial(
        &self,
        query: &TraceQuery,
        options: &SummaryOptions,
    ) -> Result<Partial<Vec<TraceSummary>>, StorageError> {
        let Partial { value, warnings } = self.find_traces_partial(query).await?;
        Ok(Partial {
            value: options.summarize(value).await?,
            warnings,
        })
    }
}

/// Service dependency edges over a time window.
#[async_trait]
pub trait DependencyReader: Send + Sync + 'static {
    /// Edges (parent service → child service) for spans starting in `[start, end]`.
    async fn dependencies(
        &self,
        start: UnixNanos,
        end: UnixNanos,
    ) -> Result<Vec<DependencyLink>, StorageError>;

    /// [`DependencyReader::dependencies`], with what was skipped (a damaged
    /// block); the default reports a complete result.
    async fn dependencies_partial(
        &self,
        start: UnixNanos,
        end: UnixNanos,
    ) -> Result<Partial<Vec<DependencyLink>>, StorageError> {
        Ok(Partial::complete(self.dependencies(start, end).await?))
    }
}

/// Removes all data (test and demo environments only).
#[async_trait]
pub trait Purger: Send + Sync + 'static {
    async fn purge(&self) -> Result<(), StorageError>;
}

/// A trace ID found by a search, with the time range of its matching data.
impl FoundTrace {
    pub fn new(trace_id: TraceId, start: UnixNanos, end: UnixNanos) -> Self {
        FoundTrace {
            trace_id,
            start,
            end,
        }
    }
}
