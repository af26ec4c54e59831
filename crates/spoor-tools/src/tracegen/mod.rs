//! `spoor tracegen`: realistic, seeded load over every ingest protocol.
//!
//! - [`topology`]: the simulated system (a Train-Ticket-like set of ~45
//!   services, their endpoints, databases and queues).
//! - [`deployment`]: its instances, with OpenTelemetry resources and scopes.
//! - [`generator`]: traces from the topology, deterministic for a seed.
//! - encoding batches for each wire protocol and sending them, with
//!   retries: `spoor_client` (shared with bench, import and the agent).
//! - [`run`]: workers, the shared rate limit, retries and the summary.
//!
//! See `docs/tracegen.md` for usage.

pub mod deployment;
pub mod generator;
pub mod rng;
pub mod run;
pub mod topology;

#[cfg(test)]
mod encoding_tests;

use std::io::Write as _;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use tokio_util::sync::CancellationToken;

pub use generator::{GenConfig, Generator};
pub use run::{RunConfig, Summary};
pub use spoor_client::{Protocol, SenderOptions};

/// Request body compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Compression {
    None,
    Gzip,
}

/// Flags of `spoor tracegen`.
#[derive(Debug, Clone, Args)]
pub struct TracegenArgs {
    /// Wire protocol to send with
    #[arg(long, value_enum, default_value_t = Protocol::OtlpGrpc)]
    pub protocol: Protocol,

    /// Target: a URL for HTTP and gRPC protocols (a missing path gets the protocol's), `HOST:PORT` for UDP [default: the protocol's standard port on 127.0.0.1]
    #[arg(long, value_name = "URL|HOST:PORT")]
    pub endpoint: Option<String>,

    /// Target rate in spans per second over all workers; 0 sends as fast as possible
    #[arg(long, value_name = "SPANS_PER_SEC", default_value_t = 1_000)]
    pub rate: u64,

    /// How long to send, a Go duration such as `30s` or `5m` [default: 10s, unless --traces is given]
    #[arg(long, value_name = "DURATION")]
    pub duration: Option<String>,

    /// Traces to send; with --duration too, whichever limit comes first stops the run
    #[arg(long, value_name = "N")]
    pub traces: Option<u64>,

    /// Concurrent senders, each with its own generator stream
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub workers: usize,

    /// Spans per request (at low rates, at most half a second's worth)
    #[arg(long, value_name = "N", default_value_t = 512)]
    pub batch_size: usize,

    /// Attributes per span: semantic-convention ones first, padded with `tracegen.attr.K` (or cut) to exactly N
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub attrs: usize,

    /// Seed of the generator; the same seed and worker count give the same traces (timestamps aside) [default: from the clock, printed in the summary]
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Use only the first N services of the topology [default: all]
    #[arg(long, value_name = "N")]
    pub services: Option<usize>,

    /// Share of traces, 0 to 1, in which a span fails and the error propagates to its callers
    #[arg(long, value_name = "RATE", default_value_t = 0.02)]
    pub error_rate: f64,

    /// Every Nth trace is a very large one; 0 never
    #[arg(long, value_name = "N", default_value_t = 1_000)]
    pub large_trace_every: u64,

    /// Spans in a very large trace
    #[arg(long, value_name = "N", default_value_t = 5_000)]
    pub large_trace_spans: usize,

    /// Times a request is retried, with backoff, when OTLP says to (HTTP 429/502/503/504, gRPC UNAVAILABLE or RESOURCE_EXHAUSTED with RetryInfo, no connection, a timeout) before its spans count as refused or failed
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub max_retries: u32,

    /// Timeout of one request, a Go duration
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub timeout: String,

    /// Compress request bodies (OTLP and Zipkin)
    #[arg(long, value_enum, default_value_t = Compression::None)]
    pub compression: Compression,

    /// Print the summary as one JSON object on stdout
    #[arg(long)]
    pub json_summary: bool,

    /// Log filter for tracegen's own messages (stderr)
    #[arg(long, value_name = "FILTER", default_value = "warn")]
    pub log: String,

    /// TLS (for `https://` endpoints) and credentials of the requests
    #[command(flatten)]
    pub client: crate::common::ClientArgs,
}

/// Most attributes per span accepted (a guard against typos).
const MAX_ATTRS: usize = 1_000;

impl TracegenArgs {
    /// Checks the flags and turns them into a run configuration.
    pub fn to_config(&self) -> Result<RunConfig> {
        let go_duration = |flag: &str, v: &str| -> Result<Duration> {
            let nanos = spoor_model::parse_go_duration(v)
                .map_err(|e| anyhow::anyhow!("--{flag} {v:?}: {e}"))?;
            if nanos <= 0 {
                bail!("--{flag} must be positive, got {v:?}");
            }
            Ok(Duration::from_nanos(nanos as u64))
        };
        let duration = match (&self.duration, self.traces) {
            (Some(d), _) => Some(go_duration("duration", d)?),
            (None, Some(_)) => None,
            (None, None) => Some(Duration::from_secs(10)),
        };
        if self.traces == Some(0) {
            bail!("--traces must be at least 1");
        }
        if self.workers == 0 || self.workers > 4_096 {
            bail!("--workers must be between 1 and 4096, got {}", self.workers);
        }
        if self.batch_size == 0 {
            bail!("--batch-size must be at least 1");
        }
        if self.attrs > MAX_ATTRS {
            bail!("--attrs must be at most {MAX_ATTRS}, got {}", self.attrs);
        }
        if !(0.0..=1.0).contains(&self.error_rate) {
            bail!(
                "--error-rate must be between 0 and 1, got {}",
                self.error_rate
            );
        }
        if self.large_trace_spans == 0 {
            bail!("--large-trace-spans must be at least 1");
        }
        if self.services == Some(0) {
            bail!("--services must be at least 1");
        }
        let timeout = go_duration("timeout", &self.timeout)?;
        let seed = self.seed.unwrap_or_else(|| {
            let mut s = run::now_nanos() ^ u64::from(std::process::id()).rotate_left(32);
            rng::splitmix64(&mut s)
        });
        Ok(RunConfig {
            sender: SenderOptions {
                protocol: self.protocol,
                endpoint: self.endpoint.clone().unwrap_or_default(),
                timeout,
                gzip: self.compression == Compression::Gzip,
                security: self.client.security()?,
            },
            generator: GenConfig {
                attrs: self.attrs,
                error_rate: self.error_rate,
                large_trace_every: self.large_trace_every,
                large_trace_spans: self.large_trace_spans,
            },
            services: self.services,
            seed,
            rate: self.rate,
            duration,
            traces: self.traces,
            workers: self.workers,
            batch_size: self.batch_size,
            max_retries: self.max_retries,
            progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        })
    }
}

/// Runs `spoor tracegen`: sends, prints the summary, and fails when the
/// target refused or lost spans or a request failed.
pub fn main(args: TracegenArgs) -> Result<()> {
    crate::common::init_logging(&args.log)?;
    let config = args.to_config()?;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(config.workers)
        .max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .thread_name("tracegen")
        .build()
        .context("cannot start the async runtime")?;
    let summary = runtime.block_on(async {
        let stop = CancellationToken::new();
        let on_signal = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                on_signal.cancel();
            }
        });
        run::run(config, stop).await
    })?;
    print_summary(&summary, args.json_summary)?;
    if !summary.is_clean() {
        bail!(
            "the target refused or lost {} spans ({} requests failed, {} refused after retries){}",
            summary.spans_lost(),
            summary.requests_failed,
            summary.requests_refused,
            summary
                .first_error
                .as_deref()
                .map(|e| format!("; first error: {e}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

fn print_summary(s: &Summary, json: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let text = serde_json::to_string(s).context("cannot write the summary")?;
        writeln!(out, "{text}")?;
        return Ok(());
    }
    writeln!(
        out,
        "tracegen: {} → {} (seed {})",
        s.protocol, s.endpoint, s.seed
    )?;
    writeln!(out, "  elapsed        {:.2} s", s.elapsed_secs)?;
    writeln!(
        out,
        "  spans sent     {} ({:.0} spans/s){}",
        s.spans_sent,
        s.spans_per_sec,
        if s.acknowledged {
            ""
        } else {
            ", not acknowledged (UDP)"
        }
    )?;
    writeln!(out, "  traces sent    {}", s.traces_sent)?;
    writeln!(
        out,
        "  requests       {} ok, {} failed, {} refused after retries",
        s.requests_ok, s.requests_failed, s.requests_refused
    )?;
    writeln!(
        out,
        "  refusals       {} ({} retries)",
        s.refusals, s.retries
    )?;
    writeln!(
        out,
        "  spans lost     {} refused, {} rejected, {} failed",
        s.spans_refused, s.spans_rejected, s.spans_failed
    )?;
    writeln!(out, "  bytes sent     {}", s.bytes_sent)?;
    if let Some(e) = &s.first_error {
        writeln!(out, "  first error    {e}")?;
    }
    Ok(())
}
