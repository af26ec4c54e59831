//! The load loop: workers generate traces, batch them, wait for the shared
//! token bucket, send, retry refusals with backoff, and count everything.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use serde::Serialize;
use spoor_model::{SpanRecord, UnixNanos};
use tokio_util::sync::CancellationToken;

use super::deployment::Deployment;
use super::generator::{GenConfig, Generator};
use super::rng::{Rng, derive_seed};
use super::topology::Topology;
use spoor_client::{Connector, Outcome, Sender, SenderOptions, send_with_retry};
use spoor_service::retry::RetryPolicy;

/// Everything a run needs, already validated.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub sender: SenderOptions,
    pub generator: GenConfig,
    /// Services of the default topology to use (all when `None`).
    pub services: Option<usize>,
    pub seed: u64,
    /// Spans per second over all workers; 0 = as fast as possible.
    pub rate: u64,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop after this many traces.
    pub traces: Option<u64>,
    pub workers: usize,
    /// Spans per request.
    pub batch_size: usize,
    /// Re-sends of a refused request before its spans count as refused.
    pub max_retries: u32,
    /// Print progress to stderr every few seconds.
    pub progress: bool,
}

/// What a run did. Serialized as the `--json-summary` object.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub protocol: String,
    pub endpoint: String,
    pub seed: u64,
    /// Seconds from the first request to the last answer.
    pub elapsed_secs: f64,
    /// Spans acknowledged by the target (UDP: spans in datagrams sent).
    pub spans_sent: u64,
    /// Traces whose every span was acknowledged.
    pub traces_sent: u64,
    /// `spans_sent / elapsed_secs`.
    pub spans_per_sec: f64,
    pub requests_ok: u64,
    /// Requests that failed (an error answer, a timeout, a network error).
    pub requests_failed: u64,
    /// Requests still refused after every retry.
    pub requests_refused: u64,
    /// Refusal answers (HTTP 429/502/503/504, retryable gRPC codes) and failed connections, retried or not.
    pub refusals: u64,
    /// Requests sent again after a refusal.
    pub retries: u64,
    /// Spans of requests still refused after every retry.
    pub spans_refused: u64,
    /// Spans an OTLP partial success rejected.
    pub spans_rejected: u64,
    /// Spans of failed requests, and spans too large for one datagram.
    pub spans_failed: u64,
    /// Request bytes sent (after compression), retries included.
    pub bytes_sent: u64,
    /// Whether the protocol acknowledges (false for UDP).
    pub acknowledged: bool,
    /// The first error or refusal seen, if any.
    pub first_error: Option<String>,
}

impl Summary {
    /// Spans the target refused or lost.
    pub fn spans_lost(&self) -> u64 {
        self.spans_refused + self.spans_rejected + self.spans_failed
    }

    /// True when everything generated for sending was accepted.
    pub fn is_clean(&self) -> bool {
        self.spans_lost() == 0 && self.requests_failed == 0 && self.requests_refused == 0
    }
}

#[derive(Debug, Default)]
struct Stats {
    spans_sent: AtomicU64,
    traces_sent: AtomicU64,
    requests_ok: AtomicU64,
    requests_failed: AtomicU64,
    requests_refused: AtomicU64,
    refusals: AtomicU64,
    retries: AtomicU64,
    spans_refused: AtomicU64,
    spans_rejected: AtomicU64,
    spans_failed: AtomicU64,
    bytes_sent: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Stats {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn error(&self, reason: &str) {
        let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_none() {
            *first = Some(reason.to_string());
        }
    }

    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// A token bucket shared by the workers: a worker reserves a batch's spans
/// and sleeps until the bucket has paid for them.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    /// `rate` tokens per second, at most `burst` saved up; starts empty.
    pub fn new(rate: f64, burst: f64) -> TokenBucket {
        TokenBucket {
            rate,
            burst,
            state: Mutex::new((0.0, Instant::now())),
        }
    }

    /// Takes `n` tokens (going into debt if needed) and says how long to
    /// wait before using them.
    pub fn reserve(&self, n: u64) -> Duration {
        self.reserve_at(n, Instant::now())
    }

    fn reserve_at(&self, n: u64, now: Instant) -> Duration {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, last) = *state;
        let elapsed = now.saturating_duration_since(last).as_secs_f64();
        let tokens = (tokens + elapsed * self.rate).min(self.burst) - n as f64;
        *state = (tokens, now.max(last));
        if tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-tokens / self.rate)
        }
    }
}

struct Shared {
    config: RunConfig,
    stats: Stats,
    bucket: Option<TokenBucket>,
    traces_claimed: AtomicU64,
    deadline: Option<Instant>,
    stop: CancellationToken,
}

impl Shared {
    fn claim_trace(&self) -> bool {
        match self.config.traces {
            Some(limit) => self.traces_claimed.fetch_add(1, Ordering::Relaxed) < limit,
            None => true,
        }
    }

    fn should_stop(&self) -> bool {
        self.stop.is_cancelled() || self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// Nanoseconds since the Unix epoch, now.
pub fn now_nanos() -> UnixNanos {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as UnixNanos)
}

/// Runs the load until the duration passes, the trace count is reached, or
/// `stop` is cancelled, and returns what happened.
pub async fn run(config: RunConfig, stop: CancellationToken) -> Result<Summary> {
    let topology = Topology::train_ticket(config.services)?;
    let deployment = Arc::new(Deployment::new(topology, config.seed));
    let connector = Connector::new(config.sender.clone()).await?;
    let protocol = config.sender.protocol;
    let bucket = (config.rate > 0).then(|| {
        let rate = config.rate as f64;
        TokenBucket::new(rate, (rate / 10.0).max(config.batch_size as f64))
    });
    // At low rates a batch holds at most half a second of spans, so
    // requests keep flowing.
    let batch_size = if config.rate > 0 {
        config.batch_size.min((config.rate / 2).max(1) as usize)
    } else {
        config.batch_size
    };
    let mut senders = Vec::with_capacity(config.workers);
    for _ in 0..config.workers {
        senders.push(connector.sender().await?);
    }
    let started = Instant::now();
    let shared = Arc::new(Shared {
        deadline: config.duration.map(|d| started + d),
        config,
        stats: Stats::default(),
        bucket,
        traces_claimed: AtomicU64::new(0),
        stop,
    });
    let progress = shared.config.progress.then(|| {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            tick.tick().await;
            loop {
                tick.tick().await;
                let s = &shared.stats;
                let secs = started.elapsed().as_secs_f64();
                let spans = Stats::get(&s.spans_sent);
                eprintln!(
                    "tracegen: {secs:.0}s  spans {spans} ({:.0}/s)  traces {}  requests ok {}  refusals {}  errors {}",
                    spans as f64 / secs.max(1e-9),
                    Stats::get(&s.traces_sent),
                    Stats::get(&s.requests_ok),
                    Stats::get(&s.refusals),
                    Stats::get(&s.requests_failed),
                );
            }
        })
    });
    let mut handles = Vec::with_capacity(senders.len());
    for (i, sender) in senders.into_iter().enumerate() {
        let generator = Generator::new(
            deployment.clone(),
            shared.config.generator.clone(),
            derive_seed(shared.config.seed, i as u64),
        );
        let shared = shared.clone();
        let jitter = Rng::new(derive_seed(shared.config.seed, 1_000_000 + i as u64));
        handles.push(tokio::spawn(worker(
            generator, sender, shared, batch_size, jitter,
        )));
    }
    for h in handles {
        if let Err(e) = h.await {
            shared.stats.error(&format!("worker task failed: {e}"));
            Stats::add(&shared.stats.requests_failed, 1);
        }
    }
    if let Some(p) = progress {
        p.abort();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let s = &shared.stats;
    let spans_sent = Stats::get(&s.spans_sent);
    Ok(Summary {
        protocol: protocol.name().to_string(),
        endpoint: connector.endpoint().to_string(),
        seed: shared.config.seed,
        elapsed_secs: elapsed,
        spans_sent,
        traces_sent: Stats::get(&s.traces_sent),
        spans_per_sec: if elapsed > 0.0 {
            spans_sent as f64 / elapsed
        } else {
            0.0
        },
        requests_ok: Stats::get(&s.requests_ok),
        requests_failed: Stats::get(&s.requests_failed),
        requests_refused: Stats::get(&s.requests_refused),
        refusals: Stats::get(&s.refusals),
        retries: Stats::get(&s.retries),
        spans_refused: Stats::get(&s.spans_refused),
        spans_rejected: Stats::get(&s.spans_rejected),
        spans_failed: Stats::get(&s.spans_failed),
        bytes_sent: Stats::get(&s.bytes_sent),
        acknowledged: !protocol.is_udp(),
        first_error: s
            .first_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
    })
}

/// Where a batch's spans come from: a piece of one trace.
#[derive(Debug, Clone, Copy)]
struct TracePart {
    /// The trace's first spans are in this batch.
    first: bool,
    /// The trace's last spans are in this batch.
    last: bool,
}

async fn worker(
    mut generator: Generator,
    mut sender: Sender,
    shared: Arc<Shared>,
    batch_size: usize,
    mut jitter: Rng,
) {
    let mut pending: VecDeque<SpanRecord> = VecDeque::new();
    let mut pending_is_new = false;
    // Whether every piece so far of a trace spanning batches was accepted.
    let mut open_trace_ok = true;
    let stats = &shared.stats;
    while !shared.should_stop() {
        let mut batch = Vec::with_capacity(batch_size);
        let mut parts = Vec::new();
        while batch.len() < batch_size {
            if pending.is_empty() {
                if !shared.claim_trace() {
                    break;
                }
                pending = generator.next_trace(now_nanos()).into();
                pending_is_new = true;
                if pending.is_empty() {
                    continue;
                }
            }
            let take = (batch_size - batch.len()).min(pending.len());
            batch.extend(pending.drain(..take));
            parts.push(TracePart {
                first: pending_is_new,
                last: pending.is_empty(),
            });
            pending_is_new = false;
        }
        if batch.is_empty() {
            break;
        }
        let encoded = sender.encode(&batch);
        let mut all_ok = encoded.oversized == 0;
        if encoded.oversized > 0 {
            Stats::add(&stats.spans_failed, encoded.oversized);
            stats.error(&format!(
                "{} spans do not fit in one UDP datagram",
                encoded.oversized
            ));
        }
        // A batch once started is sent whole (its parts are not in trace
        // order, so half a batch could hold children without their
        // parents): the run ends at the first batch boundary after the
        // duration. Only an interrupt cuts a batch short.
        let mut stopped = false;
        for (body, spans) in &encoded.parts {
            // Pace every request (every datagram, for UDP, which has no
            // flow control: a burst would overflow the receiver's buffer).
            if let Some(bucket) = &shared.bucket {
                let wait = bucket.reserve(*spans);
                if !wait.is_zero() {
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = shared.stop.cancelled() => {}
                    }
                }
            }
            if shared.stop.is_cancelled() {
                stopped = true;
                all_ok = false;
                break;
            }
            all_ok &= send_with_retries(&mut sender, &shared, body, *spans, &mut jitter).await;
        }
        for part in parts {
            match (part.first, part.last) {
                (true, true) => {
                    if all_ok {
                        Stats::add(&stats.traces_sent, 1);
                    }
                }
                (true, false) => open_trace_ok = all_ok,
                (false, false) => open_trace_ok &= all_ok,
                (false, true) => {
                    if open_trace_ok && all_ok {
                        Stats::add(&stats.traces_sent, 1);
                    }
                    open_trace_ok = true;
                }
            }
        }
        if stopped {
            break;
        }
    }
}

/// How tracegen retries: 100 ms, 200 ms, 400 ms … up to 5 s with ±25 %
/// jitter, or the target's `Retry-After` (up to 30 s), at most `max_retries`
/// times.
fn retry_policy(max_retries: u32) -> RetryPolicy {
    RetryPolicy {
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(5),
        jitter: 0.5,
        max_retry_after: Duration::from_secs(30),
        max_retries: Some(max_retries),
        max_elapsed: None,
    }
}

/// Sends one request, retrying what OTLP calls retryable with exponential
/// backoff (or the target's `Retry-After`); returns whether all its spans
/// were accepted.
async fn send_with_retries(
    sender: &mut Sender,
    shared: &Shared,
    body: &bytes::Bytes,
    spans: u64,
    jitter: &mut Rng,
) -> bool {
    let stats = &shared.stats;
    let policy = retry_policy(shared.config.max_retries);
    let attempts = send_with_retry(
        sender,
        body,
        &policy,
        &mut || jitter.f64(),
        Some(&shared.stop),
        |outcome| {
            Stats::add(&stats.bytes_sent, body.len() as u64);
            if matches!(
                outcome,
                Outcome::Refused { .. } | Outcome::Unreachable { .. }
            ) {
                Stats::add(&stats.refusals, 1);
            }
        },
    )
    .await;
    Stats::add(&stats.retries, u64::from(attempts.retries));
    match attempts.outcome {
        Outcome::Accepted { rejected } => {
            Stats::add(&stats.requests_ok, 1);
            let rejected = rejected.min(spans);
            Stats::add(&stats.spans_sent, spans - rejected);
            if rejected > 0 {
                Stats::add(&stats.spans_rejected, rejected);
                stats.error(&format!(
                    "the target rejected {rejected} spans (partial success)"
                ));
            }
            rejected == 0
        }
        Outcome::Lost { reason } | Outcome::Rejected { reason } => {
            tracing::warn!(%reason, spans, "request failed");
            Stats::add(&stats.requests_failed, 1);
            Stats::add(&stats.spans_failed, spans);
            stats.error(&reason);
            false
        }
        Outcome::Refused { reason, .. } | Outcome::Unreachable { reason } => {
            tracing::warn!(%reason, spans, retries = attempts.retries, "request refused; giving up");
            Stats::add(&stats.requests_refused, 1);
            Stats::add(&stats.spans_refused, spans);
            stats.error(&reason);
            false
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_paces_reservations_at_the_rate() {
        let bucket = TokenBucket::new(1_000.0, 500.0);
        let t0 = Instant::now();
        {
            let mut st = bucket.state.lock().unwrap();
            *st = (0.0, t0);
        }
        // Empty at start: 500 tokens cost half a second.
        assert_eq!(bucket.reserve_at(500, t0), Duration::from_millis(500));
        // The next 500 queue behind them.
        assert_eq!(bucket.reserve_at(500, t0), Duration::from_secs(1));
        // A second later the debt is down to 500.
        let w = bucket.reserve_at(0, t0 + Duration::from_secs(1));
        assert_eq!(w, Duration::ZERO);
        // Saving up is capped at the burst.
        let later = t0 + Duration::from_secs(100);
        assert_eq!(bucket.reserve_at(500, later), Duration::ZERO);
        assert_eq!(bucket.reserve_at(500, later), Duration::from_millis(500));
    }

    #[test]
    fn summaries_know_when_something_was_lost() {
        let mut s = Summary::default();
        assert!(s.is_clean());
        s.spans_rejected = 1;
        assert!(!s.is_clean());
        assert_eq!(s.spans_lost(), 1);
        let s = Summary {
            requests_failed: 1,
            ..Summary::default()
        };
        assert!(!s.is_clean());
    }
}
