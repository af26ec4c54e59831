//! The forwarder of `spoor agent`: span batches received locally are queued
//! in a buffer bounded by bytes and sent on to a collector by an
//! [`Exporter`], with retries.
//!
//! - **Bounded.** The buffer holds at most `max_buffer_bytes` bytes of
//!   batches (as received on the wire), counting batches being exported or
//!   retried. A batch that does not fit is refused at once and its spans are
//!   counted as dropped (`buffer_full`); the receiver tells its sender (UDP
//!   senders are never told, the drop is only counted).
//! - **Batched.** A worker takes several queued batches at once, up to
//!   `max_export_spans` spans and `max_export_bytes` bytes (a single larger
//!   batch goes alone), and exports them in one call.
//! - **Retried.** A retryable failure is retried after an exponential
//!   backoff with jitter (`initial_backoff`, doubling up to `max_backoff`),
//!   or after the delay the collector asked for, until `max_elapsed` has
//!   passed since the first attempt; then, or on a permanent failure, the
//!   spans are dropped and counted. The waiting is the workspace's one
//!   [`RetryPolicy`] (`crate::retry`); which answers are retryable is decided
//!   by the exporter, with the same module's rules.
//! - **Drained.** [`Forwarder::shutdown`] stops taking batches, exports what
//!   is buffered, and after `drain_timeout` gives up on the rest (counted as
//!   dropped).
//!
//! Layers of `spoor agent`: this module is the buffer (protocol-neutral);
//! the exporter is a trait so that this crate stays so. The gRPC exporters
//! (Jaeger `PostSpans`, OTLP `Export`, over `spoor-client`'s one sender) and
//! the agent's listeners are `spoor_server::agent`; the command line and
//! wiring are `spoor::roles::agent`.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use spoor_model::{SpanBatch, SpanRecord};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::ingest::{BatchSink, IngestError, IngestOutcome};
use crate::retry::RetryPolicy;
use crate::telemetry::{RefuseReason, Source, Telemetry};

/// Why an export failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// Worth retrying: the collector is unreachable, overloaded or timed out.
    #[error("{0}")]
    Retryable(String),
    /// Worth retrying after the delay the collector asked for (`RetryInfo`).
    #[error("{message}")]
    RetryAfter {
        /// What went wrong.
        message: String,
        /// How long the collector asked to wait.
        retry_after: Duration,
    },
    /// Retrying cannot help: the collector rejected the spans.
    #[error("{0}")]
    Permanent(String),
}

/// Sends spans to a collector.
#[async_trait::async_trait]
pub trait Exporter: Send + Sync + 'static {
    /// The protocol and destination, for logs.
    fn describe(&self) -> String;
    /// Sends `spans`; `Ok` once the collector acknowledged them.
    async fn export(&self, spans: &[SpanRecord]) -> Result<(), ExportError>;
}

/// Settings of a [`Forwarder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwarderOptions {
    /// Most bytes of batches held (queued, being exported or retried).
    pub max_buffer_bytes: usize,
    /// Most spans sent in one export.
    pub max_export_spans: usize,
    /// Most bytes (as received) sent in one export; a single larger batch
    /// is still sent whole.
    pub max_export_bytes: usize,
    /// Exports running at once.
    pub workers: usize,
    /// The first retry's delay.
    pub initial_backoff: Duration,
    /// The longest delay between retries.
    pub max_backoff: Duration,
    /// How long an export is retried before its spans are dropped.
    pub max_elapsed: Duration,
    /// How long [`Forwarder::shutdown`] keeps exporting what is buffered.
    pub drain_timeout: Duration,
}

impl Default for ForwarderOptions {
    fn default() -> Self {
        ForwarderOptions {
            max_buffer_bytes: 32 << 20,
            max_export_spans: 1000,
            max_export_bytes: 2 << 20,
            workers: 2,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            max_elapsed: Duration::from_secs(300),
            drain_timeout: Duration::from_secs(10),
        }
    }
}

impl ForwarderOptions {
    /// The retry policy these options describe: `initial_backoff` doubling
    /// to `max_backoff`, ±50 % jitter, until `max_elapsed`; a collector's
    /// `RetryInfo` is waited as asked, up to `max_backoff`.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            initial_backoff: self.initial_backoff,
            max_backoff: self.max_backoff,
            jitter: 1.0,
            max_retry_after: self.max_backoff,
            max_retries: None,
            max_elapsed: Some(self.max_elapsed),
        }
    }
}

/// Why spans were dropped by the forwarder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The buffer had no room for the batch.
    BufferFull,
    /// The collector rejected the spans (a permanent error).
    Rejected,
    /// Retries went on for `max_elapsed` without success.
    RetriesExhausted,
    /// Still buffered when the drain deadline passed at shutdown.
    Shutdown,
}

impl DropReason {
    /// Every reason, in rendering order.
    pub const ALL: [DropReason; 4] = [
        DropReason::BufferFull,
        DropReason::Rejected,
        DropReason::RetriesExhausted,
        DropReason::Shutdown,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::BufferFull => "buffer_full",
            DropReason::Rejected => "rejected",
            DropReason::RetriesExhausted => "retries_exhausted",
            DropReason::Shutdown => "shutdown",
        }
    }
}

/// A snapshot of the forwarder's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ForwarderStats {
    /// Spans in the buffer (queued, being exported or retried).
    pub buffered_spans: usize,
    /// Bytes in the buffer.
    pub buffered_bytes: usize,
    /// Spans the collector acknowledged.
    pub sent_spans: u64,
    /// Successful exports.
    pub exports_ok: u64,
    /// Failed export attempts (each retry counts).
    pub exports_failed: u64,
    /// Retries scheduled.
    pub retries: u64,
    /// Dropped spans, indexed like [`DropReason::ALL`].
    pub dropped_spans: [u64; 4],
}

impl ForwarderStats {
    /// Dropped spans for one reason.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped_spans[reason as usize]
    }

    /// Dropped spans for every reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_spans.iter().sum()
    }
}

struct Item {
    batch: SpanBatch,
    bytes: usize,
}

#[derive(Default)]
struct Counters {
    buffered_spans: AtomicUsize,
    buffered_bytes: AtomicUsize,
    sent_spans: AtomicU64,
    exports_ok: AtomicU64,
    exports_failed: AtomicU64,
    retries: AtomicU64,
    dropped: [AtomicU64; 4],
}

/// Queues batches and forwards them through an [`Exporter`]. Use it as the
/// receivers' [`BatchSink`].
pub struct Forwarder {
    exporter: Arc<dyn Exporter>,
    metrics: Arc<Telemetry>,
    options: ForwarderOptions,
    sender: Mutex<Option<mpsc::UnboundedSender<Item>>>,
    receiver: tokio::sync::Mutex<mpsc::UnboundedReceiver<Item>>,
    workers: Mutex<Option<JoinSet<()>>>,
    abort: watch::Sender<bool>,
    counters: Counters,
    seed: AtomicU64,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("exporter", &self.exporter.describe())
            .field("options", &self.options)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Forwarder {
    /// Starts a forwarder and its workers on the current Tokio runtime.
    /// Receivers count what it accepts and refuses in `metrics`.
    pub fn start(
        exporter: Arc<dyn Exporter>,
        metrics: Arc<Telemetry>,
        options: ForwarderOptions,
    ) -> Arc<Forwarder> {
        let (tx, rx) = mpsc::unbounded_channel();
        let (abort, _) = watch::channel(false);
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0x5eed, |d| d.as_nanos() as u64);
        let forwarder = Arc::new(Forwarder {
            exporter,
            metrics,
            options,
            sender: Mutex::new(Some(tx)),
            receiver: tokio::sync::Mutex::new(rx),
            workers: Mutex::new(None),
            abort,
            counters: Counters::default(),
            seed: AtomicU64::new(seed),
        });
        let mut workers = JoinSet::new();
        for _ in 0..options.workers.max(1) {
            workers.spawn(Arc::clone(&forwarder).work());
        }
        *forwarder.workers.lock() = Some(workers);
        tracing::info!(
            exporter = %forwarder.exporter.describe(),
            max_buffer_bytes = options.max_buffer_bytes,
            workers = options.workers.max(1),
            "forwarder started"
        );
        forwarder
    }

    /// The counters right now.
    pub fn stats(&self) -> ForwarderStats {
        let c = &self.counters;
        let mut dropped_spans = [0; 4];
        for (slot, counter) in dropped_spans.iter_mut().zip(&c.dropped) {
            *slot = counter.load(Ordering::Relaxed);
        }
        ForwarderStats {
            buffered_spans: c.buffered_spans.load(Ordering::Relaxed),
            buffered_bytes: c.buffered_bytes.load(Ordering::Relaxed),
            sent_spans: c.sent_spans.load(Ordering::Relaxed),
            exports_ok: c.exports_ok.load(Ordering::Relaxed),
            exports_failed: c.exports_failed.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            dropped_spans,
        }
    }

    fn count_drop(&self, reason: DropReason, spans: usize) {
        self.counters.dropped[reason as usize].fetch_add(spans as u64, Ordering::Relaxed);
    }

    /// Queues `batch` if the buffer has room for `wire_bytes` more bytes.
    fn enqueue(&self, batch: SpanBatch, wire_bytes: usize) -> Result<(), IngestError> {
        let spans = batch.len();
        let bytes = wire_bytes.max(1);
        let sender = self.sender.lock();
        let Some(tx) = sender.as_ref() else {
            // Shutting down: nothing new is taken.
            self.count_drop(DropReason::Shutdown, spans);
            return Err(IngestError::Overloaded);
        };
        let max = self.options.max_buffer_bytes;
        let reserved = self.counters.buffered_bytes.fetch_update(
            Ordering::AcqRel,
            Ordering::Acquire,
            |held| {
                // An empty buffer takes even a batch larger than the whole budget.
                (held == 0 || held.saturating_add(bytes) <= max).then(|| held.saturating_add(bytes))
            },
        );
        if reserved.is_err() {
            self.count_drop(DropReason::BufferFull, spans);
            return Err(IngestError::Overloaded);
        }
        self.counters
            .buffered_spans
            .fetch_add(spans, Ordering::Relaxed);
        if tx.send(Item { batch, bytes }).is_err() {
            // The workers are gone (cannot happen before shutdown).
            self.release(spans, bytes);
            self.count_drop(DropReason::Shutdown, spans);
            return Err(IngestError::Overloaded);
        }
        Ok(())
    }

    fn release(&self, spans: usize, bytes: usize) {
        self.counters
            .buffered_spans
            .fetch_sub(spans, Ordering::Relaxed);
        self.counters
            .buffered_bytes
            .fetch_sub(bytes, Ordering::AcqRel);
    }

    /// A worker: takes queued batches and exports them until the queue is
    /// closed and empty.
    async fn work(self: Arc<Self>) {
        // A batch taken off the queue that did not fit the previous export.
        let mut carry: Option<Item> = None;
        loop {
            let (spans, bytes) = {
                let mut rx = self.receiver.lock().await;
                let first = match carry.take() {
                    Some(item) => item,
                    None => match rx.recv().await {
                        Some(item) => item,
                        None => return,
                    },
                };
                let mut bytes = first.bytes;
                let mut spans = first.batch.spans;
                while let Ok(next) = rx.try_recv() {
                    if spans.len() + next.batch.len() > self.options.max_export_spans
                        || bytes + next.bytes > self.options.max_export_bytes
                    {
                        carry = Some(next);
                        break;
                    }
                    bytes += next.bytes;
                    spans.extend(next.batch.spans);
                }
                (spans, bytes)
            };
            let n = spans.len();
            match self.deliver(&spans).await {
                Ok(()) => {
                    self.counters
                        .sent_spans
                        .fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(reason) => self.count_drop(reason, n),
            }
            self.release(n, bytes);
        }
    }

    /// Exports `spans`, retrying as configured.
    async fn deliver(&self, spans: &[SpanRecord]) -> Result<(), DropReason> {
        let started = Instant::now();
        let policy = self.options.retry_policy();
        let mut retries = 0u32;
        let mut abort = self.abort.subscribe();
        loop {
            if *abort.borrow() {
                return Err(DropReason::Shutdown);
            }
            let result = tokio::select! {
                r = self.exporter.export(spans) => r,
                _ = abort.wait_for(|a| *a) => return Err(DropReason::Shutdown),
            };
            let error = match result {
                Ok(()) => {
                    self.counters.exports_ok.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                Err(e) => e,
            };
            self.counters.exports_failed.fetch_add(1, Ordering::Relaxed);
            let (message, retry_after) = match error {
                ExportError::Permanent(message) => {
                    tracing::warn!(
                        exporter = %self.exporter.describe(),
                        spans = spans.len(),
                        error = %message,
                        "collector rejected spans; dropping them"
                    );
                    return Err(DropReason::Rejected);
                }
                ExportError::Retryable(message) => (message, None),
                ExportError::RetryAfter {
                    message,
                    retry_after,
                } => (message, Some(retry_after)),
            };
            let next = policy.next_delay(retries, started.elapsed(), retry_after, self.random());
            let Some(delay) = next else {
                tracing::warn!(
                    exporter = %self.exporter.describe(),
                    spans = spans.len(),
                    error = %message,
                    "giving up on spans after retrying for {:?}",
                    self.options.max_elapsed
                );
                return Err(DropReason::RetriesExhausted);
            };
            tracing::debug!(
                exporter = %self.exporter.describe(),
                error = %message,
                retry_in = ?delay,
                "export failed; will retry"
            );
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = abort.wait_for(|a| *a) => return Err(DropReason::Shutdown),
            }
            retries = retries.saturating_add(1);
        }
    }

    /// A random number in [0, 1): splitmix64 over a shared counter.
    fn random(&self) -> f64 {
        let mut state = self
            .seed
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
        crate::retry::splitmix_unit(&mut state)
    }

    /// `d` scaled by the policy's random factor, in [0.5, 1.5).
    #[cfg(test)]
    fn jitter(&self, d: Duration) -> Duration {
        self.options.retry_policy().jittered(d, self.random())
    }

    /// Stops taking batches, exports what is buffered for up to
    /// `drain_timeout`, then drops (and counts) the rest. Returns the final
    /// counters. Calling it again returns at once.
    pub async fn shutdown(&self) -> ForwarderStats {
        self.sender.lock().take();
        let workers = self.workers.lock().take();
        if let Some(mut workers) = workers {
            let drained = tokio::time::timeout(self.options.drain_timeout, async {
                while workers.join_next().await.is_some() {}
            })
            .await;
            if drained.is_err() {
                let left = self.stats().buffered_spans;
                tracing::warn!(
                    spans = left,
                    "forwarder drain timed out; dropping what is still buffered"
                );
                self.abort.send_replace(true);
                let stopped = tokio::time::timeout(Duration::from_secs(1), async {
                    while workers.join_next().await.is_some() {}
                })
                .await;
                if stopped.is_err() {
                    workers.abort_all();
                    while workers.join_next().await.is_some() {}
                }
                // Batches still queued once every worker stopped.
                let mut rx = self.receiver.lock().await;
                while let Ok(item) = rx.try_recv() {
                    let n = item.batch.len();
                    self.count_drop(DropReason::Shutdown, n);
                    self.release(n, item.bytes);
                }
            }
            // Exports that were cut short when workers were aborted.
            let stuck = self.counters.buffered_spans.swap(0, Ordering::Relaxed);
            if stuck > 0 {
                self.count_drop(DropReason::Shutdown, stuck);
                self.counters.buffered_bytes.store(0, Ordering::Release);
            }
            let stats = self.stats();
            tracing::info!(
                sent_spans = stats.sent_spans,
                dropped_spans = stats.dropped_total(),
                "forwarder stopped"
            );
        }
        self.stats()
    }

    /// The forwarder's series in the Prometheus text format (to append to
    /// [`Telemetry::render_prometheus`]).
    pub fn render_prometheus(&self) -> String {
        let s = self.stats();
        let mut out = String::with_capacity(1024);
        let mut family = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, value) in samples {
                if labels.is_empty() {
                    let _ = writeln!(out, "{name} {value}");
                } else {
                    let _ = writeln!(out, "{name}{{{labels}}} {value}");
                }
            }
        };
        family(
            "spoor_forwarder_buffered_spans",
            "gauge",
            "Spans held by the forwarder (queued, being exported or retried).",
            &[("", s.buffered_spans as u64)],
        );
        family(
            "spoor_forwarder_buffered_bytes",
            "gauge",
            "Bytes held by the forwarder.",
            &[("", s.buffered_bytes as u64)],
        );
        family(
            "spoor_forwarder_buffer_capacity_bytes",
            "gauge",
            "Most bytes the forwarder holds.",
            &[("", self.options.max_buffer_bytes as u64)],
        );
        family(
            "spoor_forwarder_sent_spans_total",
            "counter",
            "Spans the collector acknowledged.",
            &[("", s.sent_spans)],
        );
        family(
            "spoor_forwarder_exports_total",
            "counter",
            "Export attempts, by result.",
            &[
                ("result=\"ok\"", s.exports_ok),
                ("result=\"error\"", s.exports_failed),
            ],
        );
        family(
            "spoor_forwarder_retries_total",
            "counter",
            "Export retries scheduled.",
            &[("", s.retries)],
        );
        let dropped: Vec<(String, u64)> = DropReason::ALL
            .iter()
            .map(|r| (format!("reason=\"{}\"", r.as_str()), s.dropped(*r)))
            .collect();
        let dropped: Vec<(&str, u64)> = dropped.iter().map(|(l, v)| (l.as_str(), *v)).collect();
        family(
            "spoor_forwarder_dropped_spans_total",
            "counter",
            "Spans the forwarder dropped, by reason.",
            &dropped,
        );
        out
    }
}

#[async_trait::async_trait]
impl BatchSink for Forwarder {
    async fn submit(
        &self,
        batch: SpanBatch,
        wire_bytes: usize,
        source: Source,
    ) -> Result<IngestOutcome, IngestError> {
        let counters = self.metrics.receiver(source);
        let spans = batch.len();
        if spans == 0 {
            counters.request_ok();
            return Ok(IngestOutcome::default());
        }
        match self.enqueue(batch, wire_bytes) {
            Ok(()) => {
                counters.accepted(spans as u64);
                counters.request_ok();
                Ok(IngestOutcome {
                    accepted_spans: spans,
                    sanitized_spans: 0,
                })
            }
            Err(e) => {
                counters.refused(spans as u64, RefuseReason::Overloaded);
                counters.request_refused(RefuseReason::Overloaded);
                Err(e)
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use spoor_model::{Resource, Scope, Span, SpanId, TraceId};
    use std::collections::VecDeque;

    const SRC: Source = Source {
        receiver: "jaeger",
        transport: "udp",
        format: "thrift_compact",
    };

    fn batch(n: usize) -> SpanBatch {
        let resource = Arc::new(Resource::default());
        let scope = Arc::new(Scope::default());
        SpanBatch {
            spans: (0..n)
                .map(|i| {
                    SpanRecord::new(
                        resource.clone(),
                        scope.clone(),
                        Span {
                            trace_id: TraceId::from_halves(0, 1),
                            span_id: SpanId::from_u64(i as u64 + 1),
                            name: format!("op{i}"),
                            ..Span::default()
                        },
                    )
                })
                .collect(),
        }
    }

    /// An exporter whose results the test scripts; `Ok` once the script runs out.
    #[derive(Default)]
    struct Fake {
        script: Mutex<VecDeque<Result<(), ExportError>>>,
        calls: Mutex<Vec<(Instant, usize)>>,
        /// Calls that started (before waiting at the gate).
        entered: AtomicUsize,
        gate: Option<tokio::sync::Semaphore>,
    }

    impl Fake {
        fn scripted(results: Vec<Result<(), ExportError>>) -> Arc<Self> {
            Arc::new(Fake {
                script: Mutex::new(results.into()),
                ..Fake::default()
            })
        }
        fn gated() -> Arc<Self> {
            Arc::new(Fake {
                gate: Some(tokio::sync::Semaphore::new(0)),
                ..Fake::default()
            })
        }
        fn sizes(&self) -> Vec<usize> {
            self.calls.lock().iter().map(|(_, n)| *n).collect()
        }
    }

    #[async_trait::async_trait]
    impl Exporter for Fake {
        fn describe(&self) -> String {
            "fake".into()
        }
        async fn export(&self, spans: &[SpanRecord]) -> Result<(), ExportError> {
            self.entered.fetch_add(1, Ordering::SeqCst);
            if let Some(gate) = &self.gate {
                gate.acquire().await.unwrap().forget();
            }
            self.calls.lock().push((Instant::now(), spans.len()));
            self.script.lock().pop_front().unwrap_or(Ok(()))
        }
    }

    fn options() -> ForwarderOptions {
        ForwarderOptions {
            max_buffer_bytes: 1000,
            max_export_spans: 100,
            max_export_bytes: 1 << 20,
            workers: 1,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(80),
            max_elapsed: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(5),
        }
    }

    fn metrics() -> Arc<Telemetry> {
        Arc::new(Telemetry::new("test"))
    }

    async fn wait_until(mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !f() {
            assert!(Instant::now() < deadline, "condition not reached in time");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    #[tokio::test]
    async fn forwards_batches_and_counts_them() {
        let fake = Fake::scripted(vec![]);
        let m = metrics();
        let fwd = Forwarder::start(fake.clone(), m.clone(), options());
        let outcome = fwd.submit(batch(3), 100, SRC).await.unwrap();
        assert_eq!(outcome.accepted_spans, 3);
        wait_until(|| fwd.stats().sent_spans == 3).await;
        let stats = fwd.shutdown().await;
        assert_eq!(stats.buffered_spans, 0);
        assert_eq!(stats.buffered_bytes, 0);
        assert_eq!(stats.exports_ok, 1);
        assert_eq!(stats.dropped_total(), 0);
        let text = m.render_prometheus();
        assert!(
            text.contains("spoor_receiver_accepted_spans_total{receiver=\"jaeger\",transport=\"udp\",format=\"thrift_compact\"} 3"),
            "{text}"
        );
        assert!(
            fwd.render_prometheus()
                .contains("spoor_forwarder_sent_spans_total 3")
        );
    }

    #[tokio::test]
    async fn a_full_buffer_refuses_and_counts_drops() {
        let fake = Fake::gated();
        let fwd = Forwarder::start(fake.clone(), metrics(), options());
        // 600 + 400 bytes fit the 1000-byte budget; the next batch does not.
        fwd.submit(batch(2), 600, SRC).await.unwrap();
        fwd.submit(batch(2), 400, SRC).await.unwrap();
        let err = fwd.submit(batch(5), 1, SRC).await.unwrap_err();
        assert!(matches!(err, IngestError::Overloaded));
        let s = fwd.stats();
        assert_eq!(s.dropped(DropReason::BufferFull), 5);
        assert_eq!(s.buffered_bytes, 1000);
        assert_eq!(s.buffered_spans, 4);
        assert!(
            fwd.render_prometheus()
                .contains("spoor_forwarder_dropped_spans_total{reason=\"buffer_full\"} 5")
        );
        // Once exported, the room comes back.
        fake.gate.as_ref().unwrap().add_permits(10);
        wait_until(|| fwd.stats().buffered_bytes == 0).await;
        fwd.submit(batch(1), 900, SRC).await.unwrap();
        let s = fwd.shutdown().await;
        assert_eq!(s.sent_spans, 5);
    }

    #[tokio::test]
    async fn a_batch_larger_than_the_buffer_is_taken_when_the_buffer_is_empty() {
        let fake = Fake::scripted(vec![]);
        let fwd = Forwarder::start(fake.clone(), metrics(), options());
        fwd.submit(batch(1), 5000, SRC).await.unwrap();
        let s = fwd.shutdown().await;
        assert_eq!(s.sent_spans, 1);
    }

    #[tokio::test]
    async fn queued_batches_are_exported_together_within_limits() {
        let fake = Fake::gated();
        let fwd = Forwarder::start(
            fake.clone(),
            metrics(),
            ForwarderOptions {
                max_export_spans: 4,
                ..options()
            },
        );
        // The worker takes the first batch and waits at the gate; the rest queue.
        fwd.submit(batch(1), 10, SRC).await.unwrap();
        // The worker holds the first batch at the gate; the rest queue.
        wait_until(|| fake.entered.load(Ordering::SeqCst) == 1).await;
        for _ in 0..6 {
            fwd.submit(batch(1), 10, SRC).await.unwrap();
        }
        fake.gate.as_ref().unwrap().add_permits(100);
        let s = fwd.shutdown().await;
        assert_eq!(s.sent_spans, 7);
        assert_eq!(fake.sizes(), [1, 4, 2]);
    }

    #[tokio::test]
    async fn exports_never_exceed_the_span_and_byte_limits() {
        let fake = Fake::gated();
        let fwd = Forwarder::start(
            fake.clone(),
            metrics(),
            ForwarderOptions {
                max_export_spans: 4,
                max_export_bytes: 25,
                ..options()
            },
        );
        fwd.submit(batch(1), 10, SRC).await.unwrap();
        // The worker holds the first batch at the gate; the rest queue.
        wait_until(|| fake.entered.load(Ordering::SeqCst) == 1).await;
        // 3 + 3 spans > 4: apart. 3 + 1 spans fit (11 bytes); one more span
        // would not. 1 + 1 spans fit (20 bytes); the 6-span batch does not.
        fwd.submit(batch(3), 1, SRC).await.unwrap();
        fwd.submit(batch(3), 1, SRC).await.unwrap();
        for _ in 0..3 {
            fwd.submit(batch(1), 10, SRC).await.unwrap();
        }
        // A batch above both limits still goes, alone.
        fwd.submit(batch(6), 100, SRC).await.unwrap();
        fake.gate.as_ref().unwrap().add_permits(100);
        let s = fwd.shutdown().await;
        assert_eq!(s.sent_spans, 16);
        assert_eq!(fake.sizes(), [1, 3, 4, 2, 6]);
    }

    #[tokio::test]
    async fn retryable_failures_back_off_exponentially_then_succeed() {
        let retry = || Err(ExportError::Retryable("unavailable".into()));
        let fake = Fake::scripted(vec![retry(), retry(), retry()]);
        let fwd = Forwarder::start(fake.clone(), metrics(), options());
        fwd.submit(batch(2), 10, SRC).await.unwrap();
        wait_until(|| fwd.stats().sent_spans == 2).await;
        let s = fwd.shutdown().await;
        assert_eq!(s.retries, 3);
        assert_eq!(s.exports_failed, 3);
        assert_eq!(s.exports_ok, 1);
        let times: Vec<Instant> = fake.calls.lock().iter().map(|(t, _)| *t).collect();
        assert_eq!(times.len(), 4);
        let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
        // 20ms, 40ms, 80ms, each scaled by a factor in [0.5, 1.5).
        for (gap, base) in gaps.iter().zip([20u64, 40, 80]) {
            assert!(
                *gap >= Duration::from_millis(base / 2),
                "gap {gap:?} shorter than half of {base}ms"
            );
            // Generous: the machine may be busy.
            assert!(
                *gap < Duration::from_millis(base * 3 / 2 + 500),
                "gap {gap:?} for {base}ms"
            );
        }
    }

    #[tokio::test]
    async fn backoff_is_capped_and_jittered() {
        let fwd = Forwarder::start(Fake::scripted(vec![]), metrics(), options());
        let d = Duration::from_millis(100);
        let samples: Vec<Duration> = (0..200).map(|_| fwd.jitter(d)).collect();
        assert!(samples.iter().all(|s| *s >= d / 2 && *s < d * 3 / 2));
        let distinct: std::collections::HashSet<_> = samples.iter().collect();
        assert!(distinct.len() > 150, "jitter should vary");
        fwd.shutdown().await;
    }

    #[tokio::test]
    async fn permanent_failures_and_exhausted_retries_drop_spans() {
        let fake = Fake::scripted(vec![Err(ExportError::Permanent("bad request".into()))]);
        let fwd = Forwarder::start(fake, metrics(), options());
        fwd.submit(batch(3), 10, SRC).await.unwrap();
        wait_until(|| fwd.stats().dropped(DropReason::Rejected) == 3).await;
        assert_eq!(fwd.stats().retries, 0);
        fwd.shutdown().await;

        let retry = || Err(ExportError::Retryable("down".into()));
        let fake = Fake::scripted((0..100).map(|_| retry()).collect());
        let fwd = Forwarder::start(
            fake,
            metrics(),
            ForwarderOptions {
                max_elapsed: Duration::from_millis(100),
                ..options()
            },
        );
        fwd.submit(batch(2), 10, SRC).await.unwrap();
        wait_until(|| fwd.stats().dropped(DropReason::RetriesExhausted) == 2).await;
        let s = fwd.shutdown().await;
        assert!(s.retries >= 1);
        assert_eq!(s.buffered_bytes, 0);
    }

    #[tokio::test]
    async fn shutdown_drains_what_is_buffered() {
        let fake = Fake::gated();
        let fwd = Forwarder::start(fake.clone(), metrics(), options());
        for _ in 0..5 {
            fwd.submit(batch(2), 10, SRC).await.unwrap();
        }
        let gate = fake.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            gate.gate.as_ref().unwrap().add_permits(100);
        });
        let s = fwd.shutdown().await;
        assert_eq!(s.sent_spans, 10);
        assert_eq!(s.dropped_total(), 0);
        // Closed: new batches are refused.
        assert!(fwd.submit(batch(1), 10, SRC).await.is_err());
        assert_eq!(fwd.stats().dropped(DropReason::Shutdown), 1);
    }

    #[tokio::test]
    async fn shutdown_gives_up_after_the_drain_timeout() {
        let retry = || Err(ExportError::Retryable("down".into()));
        let fake = Fake::scripted((0..1000).map(|_| retry()).collect());
        let fwd = Forwarder::start(
            fake,
            metrics(),
            ForwarderOptions {
                drain_timeout: Duration::from_millis(100),
                ..options()
            },
        );
        for _ in 0..3 {
            fwd.submit(batch(2), 10, SRC).await.unwrap();
        }
        let started = Instant::now();
        let s = fwd.shutdown().await;
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(s.sent_spans, 0);
        assert_eq!(s.dropped(DropReason::Shutdown), 6);
        assert_eq!(s.buffered_spans, 0);
        assert_eq!(s.buffered_bytes, 0);
    }
}
