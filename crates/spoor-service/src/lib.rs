//! Spoor's protocol-neutral service layer.
//!
//! - [`ingest`]: the write path. [`Ingester`] holds the ingest memory budget
//!   ([`budget`]: receivers reserve bodies, inflated bytes and decoded spans
//!   before allocating them), applies Jaeger's write-path sanitizers and
//!   writes to storage, acknowledging only once the write returned.
//! - [`query`]: the read path. [`QueryService`] fetches and searches traces,
//!   truncates oversized traces, runs Jaeger's query-time adjusters
//!   ([`adjust`]) unless raw data was asked for, computes trace summaries and
//!   merges dependency edges.
//! - [`spm`]: Jaeger's service performance monitoring queries (call rates,
//!   error rates, latency quantiles) computed from storage's RED statistics.
//! - [`telemetry`]: [`Telemetry`], Spoor's own counters and histograms, a
//!   small lock-light registry rendered in the Prometheus text format.
//!
//! This crate knows no wire format and no storage engine: it sees storage only
//! through the `spoor-storage` traits as `Arc<dyn …>`.

#![warn(missing_docs)]

pub mod adjust;
pub mod budget;
pub mod export;
pub mod forward;
pub mod ingest;
pub mod query;
pub mod retry;
pub mod sampling;
mod shared;
pub mod spm;
pub mod telemetry;

pub use adjust::{AdjustOptions, adjust_trace};
pub use budget::{BudgetError, MemoryBudget, Reservation};
pub use ingest::{BatchSink, IngestError, IngestOptions, IngestOutcome, Ingester};
pub use query::{QueryOptions, QueryService, ServiceSummary, TraceSummary};
pub use telemetry::{
    QueryMetrics, ReceiverMetrics, RefuseReason, SkewDirection, Source, Telemetry, WarnLimiter,
};
