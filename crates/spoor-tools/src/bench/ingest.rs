//! The ingest scenario: the decode-only rate of a set of pre-encoded
//! payloads on one thread, then the rate at which a fresh `spoor` child
//! ingests the same payloads, per CPU-second of the child.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use spoor_model::SpanBatch;

use super::child::ChildServer;
use super::http::HttpClient;
use super::payload::Payloads;
use super::procfs::{self, Rss};
use spoor_client::{Connector, Outcome, Protocol, Sender, SenderOptions, send_with_retry};
use spoor_service::retry::RetryPolicy;

/// Decoded spans held before they are freed (outside the timed part), so
/// that deallocation is not counted as decoding yet memory stays small.
const DECODE_HOLD_SPANS: usize = 16 * 1024;

/// UDP: most datagram bytes sent and not yet handled by the child. Below
/// the kernel's default socket receive buffer (212,992 bytes), so a child
/// that falls behind makes the sender wait instead of losing datagrams.
pub const UDP_WINDOW_BYTES: u64 = 160 * 1024;

/// UDP: pause between two polls of the server's `/metrics`.
const UDP_POLL_PAUSE: Duration = Duration::from_micros(300);

/// UDP: with no progress for this long, what is outstanding counts as lost.
const UDP_STALL: Duration = Duration::from_secs(2);

/// Per-request timeout of the load generator.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Decodes one payload of `protocol` as the child's receiver does.
pub fn decode(protocol: Protocol, body: &[u8]) -> Result<SpanBatch> {
    let batch = match protocol {
        Protocol::OtlpGrpc | Protocol::OtlpHttp => spoor_codec::otlp::decode_request(body),
        Protocol::JaegerUdpCompact => spoor_codec::jaeger_thrift::decode_emit_batch_compact(body),
        Protocol::JaegerUdpBinary => spoor_codec::jaeger_thrift::decode_emit_batch_binary(body),
        Protocol::Zipkin => spoor_codec::zipkin::decode_v2_json(body),
        other => bail!("the benchmark does not decode {other}"),
    };
    batch.with_context(|| format!("a pre-encoded {protocol} payload does not decode"))
}

/// The decode-only rate: spans per CPU-second of one thread decoding every
/// payload once (wire bytes → model; freeing the result is not timed).
pub fn decode_only(payloads: &Payloads) -> Result<f64> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| decode_all(payloads))
            .join()
            .map_err(|_| anyhow::anyhow!("the decode thread panicked"))?
    })
}

fn decode_all(payloads: &Payloads) -> Result<f64> {
    let mut held: Vec<SpanBatch> = Vec::new();
    let mut held_spans = 0usize;
    let mut spans = 0u64;
    let mut cpu_nanos = 0u64;
    let mut started = procfs::thread_cpu_nanos()?;
    for (body, _) in &payloads.parts {
        let batch = decode(payloads.protocol, body)?;
        spans += batch.len() as u64;
        held_spans += batch.len();
        held.push(batch);
        if held_spans >= DECODE_HOLD_SPANS {
            cpu_nanos += procfs::thread_cpu_nanos()?.saturating_sub(started);
            held.clear();
            held_spans = 0;
            started = procfs::thread_cpu_nanos()?;
        }
    }
    cpu_nanos += procfs::thread_cpu_nanos()?.saturating_sub(started);
    drop(held);
    if spans != payloads.spans {
        bail!(
            "{}: decoded {spans} spans, expected {}",
            payloads.protocol,
            payloads.spans
        );
    }
    if cpu_nanos == 0 {
        bail!("the decode took no measurable CPU time; use more spans");
    }
    Ok(spans as f64 / (cpu_nanos as f64 / 1e9))
}

/// What one ingest pass measured.
#[derive(Debug, Clone)]
pub struct IngestPass {
    /// Spans sent.
    pub spans_sent: u64,
    /// Spans the child accepted and stored.
    pub spans_stored: u64,
    /// CPU seconds of the child from the first request to the last answer.
    pub server_cpu_secs: f64,
    /// Wall-clock seconds from the first request to the last answer.
    pub wall_secs: f64,
    pub rss_before: Rss,
    pub rss_after: Rss,
    /// Refusals (retried).
    pub refusals: u64,
    /// UDP: `/metrics` requests made to pace the sender.
    pub polls: u64,
    /// UDP: the child's CPU seconds per `/metrics` request, measured after the pass.
    pub cpu_secs_per_poll: f64,
}

impl IngestPass {
    /// Spans stored per CPU-second of the child.
    pub fn spans_per_cpu_sec(&self) -> f64 {
        self.spans_stored as f64 / self.server_cpu_secs.max(1e-9)
    }

    /// Spans stored per wall-clock second.
    pub fn spans_per_sec(&self) -> f64 {
        self.spans_stored as f64 / self.wall_secs.max(1e-9)
    }

    /// Share of the child's CPU spent answering the pacing polls.
    pub fn poll_share(&self) -> f64 {
        self.polls as f64 * self.cpu_secs_per_poll / self.server_cpu_secs.max(1e-9)
    }
}

/// Sends every payload once to `child` and measures the child.
pub async fn ingest_pass(
    child: &mut ChildServer,
    http: &HttpClient,
    payloads: &Arc<Payloads>,
    in_flight: usize,
) -> Result<IngestPass> {
    let pass = match payloads.protocol {
        Protocol::JaegerUdpCompact | Protocol::JaegerUdpBinary => {
            udp_pass(child, http, payloads).await?
        }
        _ => request_pass(child, payloads, in_flight).await?,
    };
    child.check_alive()?;
    let stored = child.accepted_spans(http).await?;
    let mut pass = pass;
    pass.spans_stored = stored;
    if !payloads.protocol.is_udp() && stored != pass.spans_sent {
        bail!(
            "{}: the child acknowledged {} spans but counts {stored} accepted",
            payloads.protocol,
            pass.spans_sent
        );
    }
    if payloads.protocol.is_udp() {
        pass.cpu_secs_per_poll = poll_cost(child, http).await?;
    }
    Ok(pass)
}

/// The endpoint of `child` for `protocol`.
pub fn endpoint(child: &ChildServer, protocol: Protocol) -> Result<String> {
    Ok(match protocol {
        Protocol::OtlpGrpc => format!("http://{}", child.otlp_grpc),
        Protocol::Zipkin => format!("http://{}/api/v2/spans", child.zipkin),
        Protocol::JaegerUdpCompact => child.jaeger_compact.to_string(),
        other => bail!("the benchmark child does not listen for {other}"),
    })
}

/// Request/response protocols: `in_flight` senders take the next payload
/// until none is left; refusals are retried.
async fn request_pass(
    child: &ChildServer,
    payloads: &Arc<Payloads>,
    in_flight: usize,
) -> Result<IngestPass> {
    let connector = Connector::new(SenderOptions {
        protocol: payloads.protocol,
        endpoint: endpoint(child, payloads.protocol)?,
        timeout: REQUEST_TIMEOUT,
        gzip: false,
        security: Default::default(),
    })
    .await?;
    let mut senders = Vec::with_capacity(in_flight);
    for _ in 0..in_flight.max(1) {
        senders.push(connector.sender().await?);
    }
    let next = Arc::new(AtomicUsize::new(0));
    let refusals = Arc::new(AtomicU64::new(0));
    let rss_before = child.rss()?;
    let cpu_before = child.cpu_secs()?;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(senders.len());
    for mut sender in senders {
        let payloads = payloads.clone();
        let next = next.clone();
        let refusals = refusals.clone();
        tasks.push(tokio::spawn(async move {
            let mut sent = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((body, spans)) = payloads.parts.get(i) else {
                    return anyhow::Ok(sent);
                };
                send_until_accepted(&mut sender, body, &refusals).await?;
                sent += spans;
            }
        }));
    }
    let mut spans_sent = 0;
    for t in tasks {
        spans_sent += t.await.context("a sender task failed")??;
    }
    let wall_secs = started.elapsed().as_secs_f64();
    let server_cpu_secs = child.cpu_secs()? - cpu_before;
    let rss_after = child.rss()?;
    Ok(IngestPass {
        spans_sent,
        spans_stored: 0,
        server_cpu_secs,
        wall_secs,
        rss_before,
        rss_after,
        refusals: refusals.load(Ordering::Relaxed),
        polls: 0,
        cpu_secs_per_poll: 0.0,
    })
}

/// How the benchmark retries: at once after 10 ms (or the target's
/// `Retry-After`, up to 1 s), for as long as the target refuses.
const RETRY: RetryPolicy = RetryPolicy {
    initial_backoff: Duration::from_millis(10),
    max_backoff: Duration::from_millis(10),
    jitter: 0.0,
    max_retry_after: Duration::from_secs(1),
    max_retries: None,
    max_elapsed: None,
};

/// Sends `body` until the target accepts it; a refusal waits and retries.
pub async fn send_until_accepted(
    sender: &mut Sender,
    body: &Bytes,
    refusals: &AtomicU64,
) -> Result<()> {
    let attempts = send_with_retry(sender, body, &RETRY, &mut || 0.0, None, |outcome| {
        if outcome.is_retryable() {
            refusals.fetch_add(1, Ordering::Relaxed);
        }
    })
    .await;
    match attempts.outcome {
        Outcome::Accepted { rejected: 0 } => Ok(()),
        Outcome::Accepted { rejected } => bail!("the target rejected {rejected} spans"),
        other => bail!("a request failed: {}", other.reason()),
    }
}

/// UDP: one socket; datagrams go out as long as fewer than
/// [`UDP_WINDOW_BYTES`] are waiting to be handled by the child, which the
/// sender learns by polling the child's `/metrics`.
async fn udp_pass(
    child: &ChildServer,
    http: &HttpClient,
    payloads: &Arc<Payloads>,
) -> Result<IngestPass> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .context("cannot open a UDP socket")?;
    socket
        .connect(child.jaeger_compact)
        .await
        .context("cannot address the child's UDP port")?;
    let parts = &payloads.parts;
    // prefix[i] = bytes of the first i datagrams.
    let mut prefix = Vec::with_capacity(parts.len() + 1);
    prefix.push(0u64);
    for (body, _) in parts {
        prefix.push(prefix[prefix.len() - 1] + body.len() as u64);
    }
    let base = child.udp_datagrams_handled(http).await?;
    let rss_before = child.rss()?;
    let cpu_before = child.cpu_secs()?;
    let started = Instant::now();
    let mut sent = 0usize;
    let mut spans_sent = 0u64;
    // Datagrams counted as handled: the child's count plus those given up as lost.
    let mut handled = 0usize;
    let mut given_up = 0usize;
    let mut polls = 0u64;
    let mut last_progress = Instant::now();
    loop {
        while sent < parts.len() && prefix[sent + 1] - prefix[handled] <= UDP_WINDOW_BYTES {
            let (body, spans) = &parts[sent];
            let n = socket.send(body).await.context("UDP send failed")?;
            if n != body.len() {
                bail!("a datagram was truncated to {n} of {} bytes", body.len());
            }
            sent += 1;
            spans_sent += spans;
        }
        if handled >= sent && sent == parts.len() {
            break;
        }
        if polls > 0 {
            // Each poll costs the server CPU: at most a few thousand a
            // second. The pause is shorter than the async timer's
            // millisecond, and nothing else runs meanwhile.
            std::thread::sleep(UDP_POLL_PAUSE);
        }
        let count = child.udp_datagrams_handled(http).await?;
        polls += 1;
        let now_handled = ((count.saturating_sub(base)) as usize + given_up).min(sent);
        if now_handled > handled {
            handled = now_handled;
            last_progress = Instant::now();
        } else if last_progress.elapsed() > UDP_STALL {
            given_up += sent - handled;
            handled = sent;
            last_progress = Instant::now();
        }
    }
    let wall_secs = started.elapsed().as_secs_f64();
    let server_cpu_secs = child.cpu_secs()? - cpu_before;
    let rss_after = child.rss()?;
    Ok(IngestPass {
        spans_sent,
        spans_stored: 0,
        server_cpu_secs,
        wall_secs,
        rss_before,
        rss_after,
        refusals: 0,
        polls,
        cpu_secs_per_poll: 0.0,
    })
}

/// The child's CPU seconds per `/metrics` request, from 2,000 requests in a
/// row (CPU time is counted in 10 ms ticks, so it takes many).
async fn poll_cost(child: &ChildServer, http: &HttpClient) -> Result<f64> {
    const POLLS: u32 = 2_000;
    let before = child.cpu_secs()?;
    for _ in 0..POLLS {
        child.udp_datagrams_handled(http).await?;
    }
    Ok(((child.cpu_secs()? - before) / f64::from(POLLS)).max(0.0))
}
