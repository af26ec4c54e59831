//! `spoor bench`: the standard benchmark scenarios, printed as a markdown
//! table (or JSON).
//!
//! Every scenario runs against a `spoor` all-in-one started by the
//! benchmark as a child process on free loopback ports, so the server's CPU
//! time and memory are read from `/proc/<pid>` and the load generator's are
//! never counted. Data comes from the tracegen generator with a fixed seed.
//!
//! - [`ingest`]: spans per CPU-second of the server for OTLP gRPC, Jaeger
//!   UDP compact and Zipkin v2 JSON, beside the single-thread decode-only
//!   rate of the same payloads measured in the same run.
//! - storage: bytes per stored span: on disk for the engine (its blocks,
//!   all indexes included), resident-memory growth for the memory backend.
//! - [`queries`]: p50 and p99 of trace by ID, search by service +
//!   operation + tag, and search by attribute, at a stated stored size.
//! - [`memory`]: the server's resident memory idle and under a stated load.
//!
//! A storage backend is a [`StorageKind`] (`--storage memory|engine`): its
//! child flags and whether it has bytes on disk to count are all the
//! scenarios need to know.
//!
//! See `BENCHMARKS.md` for the figures and how to read them.

pub mod child;
pub mod http;
pub mod ingest;
pub mod memory;
pub mod payload;
pub mod procfs;
pub mod queries;
pub mod report;

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

use self::child::{ChildOptions, ChildServer};
use self::http::HttpClient;
use self::payload::{DataSettings, Payloads};
use self::queries::{QueryKind, TAG_KEYS};
use self::report::{Figure, Report, fmt_int, fmt_num, median};
use spoor_client::Protocol;

/// Storage backends `spoor bench` can measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StorageKind {
    /// The in-memory backend: spans are held in RAM, nothing is on disk.
    Memory,
    /// The persistent engine (WAL, head, Parquet blocks) in a fresh temporary data directory per server.
    Engine,
}

/// The engine child's block cut age: long enough that no ingest pass or
/// load is cut by age more than once a half-minute, short enough that the
/// storage scenario sees the last spans in a block soon after loading.
pub const ENGINE_CUT_AGE: Duration = Duration::from_secs(30);

impl StorageKind {
    /// The name used on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            StorageKind::Memory => "memory",
            StorageKind::Engine => "engine",
        }
    }

    /// The flags that select this backend on a `spoor` child: the memory
    /// backend holds at most `max_traces` traces; the engine keeps its data
    /// in `data_dir` with no retention and otherwise default settings, but
    /// for a block cut age of [`ENGINE_CUT_AGE`].
    pub fn server_args(self, max_traces: usize, data_dir: Option<&std::path::Path>) -> Vec<String> {
        match self {
            StorageKind::Memory => vec![
                "--storage".into(),
                "memory".into(),
                "--max-traces".into(),
                max_traces.max(1).to_string(),
            ],
            StorageKind::Engine => vec![
                "--storage".into(),
                "engine".into(),
                "--data-dir".into(),
                data_dir.map_or_else(
                    || "spoor-bench-data".into(),
                    |d| d.to_string_lossy().into_owned(),
                ),
                "--retention".into(),
                "0".into(),
                "--block-cut-age".into(),
                format!("{}s", ENGINE_CUT_AGE.as_secs()),
            ],
        }
    }

    /// Whether the backend keeps data on disk (then the storage scenario
    /// counts bytes on disk per span, and a child gets a data directory).
    pub fn has_disk_data(self) -> bool {
        match self {
            StorageKind::Memory => false,
            StorageKind::Engine => true,
        }
    }
}

/// The scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Spans per server CPU-second over OTLP gRPC, Jaeger UDP and Zipkin, beside decode-only rates
    Ingest,
    /// Bytes per stored span (engine: on disk; memory backend: resident-memory growth)
    Storage,
    /// p50/p99 of trace by ID and of searches at stated stored sizes
    Queries,
    /// Server resident memory idle and under load
    Memory,
}

/// Flags of `spoor bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Storage backend of the server under test
    #[arg(long, value_enum, default_value_t = StorageKind::Memory)]
    pub storage: StorageKind,

    /// Scenarios to run, comma-separated [default: all]
    #[arg(long, value_enum, value_delimiter = ',', value_name = "LIST")]
    pub scenario: Vec<Scenario>,

    /// A smaller run (about 2 minutes): 100,000 spans per ingest protocol, queries at 100,000 spans, 5 s of load
    #[arg(long)]
    pub quick: bool,

    /// Runs of each scenario; the table shows the min and median
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub repeat: usize,

    /// Print the report as JSON (every sample, the settings and the machine) instead of markdown
    #[arg(long)]
    pub json: bool,

    /// Also write the JSON report to this file
    #[arg(long, value_name = "PATH")]
    pub json_file: Option<PathBuf>,

    /// The `spoor` executable to start as the server [default: this executable]
    #[arg(long, value_name = "PATH")]
    pub server_bin: Option<PathBuf>,

    /// Seed of the generated data
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,

    /// Attributes per span
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub attrs: usize,

    /// Spans per request (OTLP, Zipkin); UDP batches of this size are split into datagrams per service instance
    #[arg(long, value_name = "N", default_value_t = 512)]
    pub batch_size: usize,

    /// Requests in flight at once (OTLP gRPC and Zipkin)
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub in_flight: usize,

    /// Spans pre-encoded per ingest protocol, rounded up to whole batches [default: 1,000,000; --quick 100,000]
    #[arg(long, value_name = "N")]
    pub ingest_spans: Option<u64>,

    /// Stored sizes (spans) at which queries are timed, comma-separated; a size that does not fit in memory is lowered to the largest that does [default: 1000000,10000000; --quick 100000]
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub query_sizes: Vec<u64>,

    /// Queries of each kind per run [default: 1000; --quick 200]
    #[arg(long, value_name = "N")]
    pub queries: Option<usize>,

    /// Longest time one kind of query may take per run; fewer queries are then timed (the table says how many) [default: 30s; --quick 10s]
    #[arg(long, value_name = "DURATION")]
    pub query_budget: Option<String>,

    /// Memory scenario: the load in spans per second
    #[arg(long, value_name = "SPANS_PER_SEC", default_value_t = 100_000)]
    pub memory_rate: u64,

    /// Memory scenario: how long the load lasts [default: 20s; --quick 5s]
    #[arg(long, value_name = "DURATION")]
    pub memory_duration: Option<String>,

    /// Memory scenario: traces the memory backend holds under load (it evicts the oldest beyond)
    #[arg(long, value_name = "N", default_value_t = 1_000)]
    pub memory_max_traces: usize,

    /// Log filter of the server under test (its log is shown when it fails)
    #[arg(long, value_name = "FILTER", default_value = "warn")]
    pub server_log: String,
}

/// The settings of a run, after `--quick` and the defaults.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub storage: StorageKind,
    pub scenarios: Vec<Scenario>,
    pub quick: bool,
    pub repeat: usize,
    pub json: bool,
    pub json_file: Option<PathBuf>,
    pub server_bin: PathBuf,
    pub data: DataSettings,
    pub in_flight: usize,
    pub ingest_batches: usize,
    pub query_sizes: Vec<u64>,
    pub queries: usize,
    pub query_budget: Duration,
    pub memory_rate: u64,
    pub memory_duration: Duration,
    pub memory_max_traces: usize,
    pub server_log: String,
}

impl BenchArgs {
    /// Checks the flags and applies `--quick` and the defaults.
    pub fn to_config(&self) -> Result<BenchConfig> {
        let quick = self.quick;
        let duration = |flag: &str, v: Option<&String>, default: &str| -> Result<Duration> {
            let text = v.map_or(default, |s| s.as_str());
            let nanos = spoor_model::parse_go_duration(text)
                .map_err(|e| anyhow::anyhow!("--{flag} {text:?}: {e}"))?;
            if nanos <= 0 {
                bail!("--{flag} must be positive, got {text:?}");
            }
            Ok(Duration::from_nanos(nanos as u64))
        };
        if self.repeat == 0 || self.repeat > 100 {
            bail!("--repeat must be between 1 and 100, got {}", self.repeat);
        }
        if self.batch_size == 0 || self.batch_size > 100_000 {
            bail!(
                "--batch-size must be between 1 and 100000, got {}",
                self.batch_size
            );
        }
        if self.attrs > 1_000 {
            bail!("--attrs must be at most 1000, got {}", self.attrs);
        }
        if self.in_flight == 0 || self.in_flight > 1_024 {
            bail!(
                "--in-flight must be between 1 and 1024, got {}",
                self.in_flight
            );
        }
        if self.memory_rate == 0 {
            bail!("--memory-rate must be at least 1");
        }
        let ingest_spans = self
            .ingest_spans
            .unwrap_or(if quick { 100_000 } else { 1_000_000 });
        if ingest_spans == 0 {
            bail!("--ingest-spans must be at least 1");
        }
        let mut query_sizes = if self.query_sizes.is_empty() {
            if quick {
                vec![100_000]
            } else {
                vec![1_000_000, 10_000_000]
            }
        } else {
            self.query_sizes.clone()
        };
        if query_sizes.contains(&0) {
            bail!("--query-sizes must all be at least 1");
        }
        query_sizes.sort_unstable();
        query_sizes.dedup();
        let queries = self.queries.unwrap_or(if quick { 200 } else { 1_000 });
        if queries == 0 {
            bail!("--queries must be at least 1");
        }
        let memory_max_traces = self.memory_max_traces;
        if memory_max_traces == 0 {
            bail!("--memory-max-traces must be at least 1");
        }
        let server_bin = match &self.server_bin {
            Some(p) => p.clone(),
            None => std::env::current_exe().context("cannot find this executable")?,
        };
        let mut scenarios = if self.scenario.is_empty() {
            vec![
                Scenario::Ingest,
                Scenario::Storage,
                Scenario::Queries,
                Scenario::Memory,
            ]
        } else {
            self.scenario.clone()
        };
        scenarios.dedup();
        Ok(BenchConfig {
            storage: self.storage,
            scenarios,
            quick,
            repeat: self.repeat,
            json: self.json,
            json_file: self.json_file.clone(),
            server_bin,
            data: DataSettings {
                seed: self.seed,
                attrs: self.attrs,
                batch_size: self.batch_size,
            },
            in_flight: self.in_flight,
            ingest_batches: ingest_spans.div_ceil(self.batch_size as u64) as usize,
            query_sizes,
            queries,
            query_budget: duration(
                "query-budget",
                self.query_budget.as_ref(),
                if quick { "10s" } else { "30s" },
            )?,
            memory_rate: self.memory_rate,
            memory_duration: duration(
                "memory-duration",
                self.memory_duration.as_ref(),
                if quick { "5s" } else { "20s" },
            )?,
            memory_max_traces,
            server_log: self.server_log.clone(),
        })
    }
}

impl BenchConfig {
    fn wants(&self, s: Scenario) -> bool {
        self.scenarios.contains(&s)
    }

    fn child(&self, max_traces: usize) -> ChildOptions {
        ChildOptions {
            exe: self.server_bin.clone(),
            storage: self.storage,
            max_traces,
            log: self.server_log.clone(),
        }
    }

    fn settings_json(&self) -> serde_json::Value {
        serde_json::json!({
            "storage": self.storage.name(),
            "scenarios": self.scenarios.iter().map(|s| format!("{s:?}").to_lowercase()).collect::<Vec<_>>(),
            "quick": self.quick,
            "repeat": self.repeat,
            "seed": self.data.seed,
            "attrs_per_span": self.data.attrs,
            "batch_size": self.data.batch_size,
            "in_flight": self.in_flight,
            "ingest_spans": self.ingest_batches as u64 * self.data.batch_size as u64,
            "query_sizes": self.query_sizes,
            "queries": self.queries,
            "query_budget_secs": self.query_budget.as_secs_f64(),
            "memory_rate": self.memory_rate,
            "memory_duration_secs": self.memory_duration.as_secs_f64(),
            "memory_max_traces": self.memory_max_traces,
        })
    }
}

/// Runs `spoor bench` and prints the report.
pub fn main(args: BenchArgs) -> Result<()> {
    let config = args.to_config()?;
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 4);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .thread_name("bench")
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime.block_on(run(&config))?;
    let json = serde_json::to_string_pretty(&report).context("cannot write the report")?;
    if let Some(path) = &config.json_file {
        std::fs::write(path, format!("{json}\n"))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    if config.json {
        writeln!(out, "{json}")?;
    } else {
        write!(out, "{}", report.to_markdown())?;
    }
    Ok(())
}

fn progress(msg: impl AsRef<str>) {
    eprintln!("bench: {}", msg.as_ref());
}

/// Figures and notes gathered by the scenarios.
#[derive(Debug, Default)]
struct Findings {
    ingest: Vec<Figure>,
    storage: Vec<Figure>,
    queries: Vec<Figure>,
    memory: Vec<Figure>,
    notes: Vec<String>,
    /// Resident bytes per stored span measured so far (to size later loads).
    bytes_per_span: Option<f64>,
}

/// Runs the selected scenarios.
pub async fn run(config: &BenchConfig) -> Result<Report> {
    let machine = procfs::machine()?;
    let started = Instant::now();
    let started_at = spoor_model::format_rfc3339(crate::tracegen::run::now_nanos());
    let http = HttpClient::new();
    let mut found = Findings::default();

    let mut protocols = Vec::new();
    if config.wants(Scenario::Ingest) {
        protocols.extend([
            Protocol::OtlpGrpc,
            Protocol::JaegerUdpCompact,
            Protocol::Zipkin,
        ]);
    } else if config.wants(Scenario::Memory) {
        protocols.push(Protocol::OtlpGrpc);
    }
    let sets: Vec<Arc<Payloads>> = if protocols.is_empty() {
        Vec::new()
    } else {
        let spans = config.ingest_batches * config.data.batch_size;
        progress(format!(
            "generating {spans} spans (seed {}) and encoding them for {}",
            config.data.seed,
            protocols
                .iter()
                .map(|p| p.name())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let (data, batches) = (config.data, config.ingest_batches);
        tokio::task::spawn_blocking(move || payload::build(data, batches, &protocols))
            .await
            .context("the payload builder failed")??
            .into_iter()
            .map(Arc::new)
            .collect()
    };

    if config.wants(Scenario::Ingest) {
        for set in &sets {
            ingest_scenario(config, &http, set, &mut found).await?;
        }
    }
    if config.wants(Scenario::Memory) {
        let otlp = sets
            .iter()
            .find(|s| s.protocol == Protocol::OtlpGrpc)
            .context("no OTLP payloads for the memory scenario")?;
        memory_scenario(config, &http, otlp, &mut found).await?;
    }
    // The loads below may need all the memory there is.
    drop(sets);
    if config.wants(Scenario::Storage) || config.wants(Scenario::Queries) {
        query_scenario(config, &http, &mut found).await?;
    }
    if config.wants(Scenario::Storage) && !config.storage.has_disk_data() {
        found.storage.push(
            Figure::new(
                "storage",
                "engine: bytes on disk per span, all indexes included",
                "B/span",
                Vec::new(),
                "not measured in this run: the memory backend keeps nothing on disk; `spoor bench --storage engine` fills this row",
            )
            .against(DISK_TARGET, DISK_PEER),
        );
    }

    let Findings {
        ingest,
        storage,
        queries,
        memory,
        notes,
        ..
    } = found;
    let figures = [ingest, storage, queries, memory].concat();
    Ok(Report {
        spoor_version: env!("CARGO_PKG_VERSION"),
        storage: config.storage.name(),
        machine,
        started_at,
        elapsed_secs: started.elapsed().as_secs_f64(),
        settings: config.settings_json(),
        figures,
        notes,
    })
}

/// The brief's bytes-on-disk target and the best published peer figure.
const DISK_TARGET: &str = "≤ 30 B";
const DISK_PEER: &str = "Jaeger + ClickHouse 76 B (11 attrs); Uptrace claims ~40 B";

/// Target and best published peer of ingest, per protocol.
fn ingest_targets(protocol: Protocol) -> (&'static str, &'static str) {
    match protocol {
        Protocol::OtlpGrpc => (
            "≥ 500,000 per core (durable)",
            "Jaeger + ClickHouse ≈ 13,000/core (52,129/s on 4 cores); Tempo monolithic 55,000–80,000/s; Rotel → ClickHouse 462,000/core",
        ),
        Protocol::JaegerUdpCompact => (
            "",
            "OTel Collector v0.1.3, Jaeger Thrift: ≈ 14,000/s on 1 CPU",
        ),
        Protocol::Zipkin => (
            "",
            "OTel Collector v0.1.3, Zipkin v2 JSON: ≈ 10,500/s on 1 CPU",
        ),
        _ => ("", ""),
    }
}

async fn ingest_scenario(
    config: &BenchConfig,
    http: &HttpClient,
    set: &Arc<Payloads>,
    found: &mut Findings,
) -> Result<()> {
    let p = set.protocol;
    let mut decode = Vec::new();
    let mut ingest = Vec::new();
    let mut ratio = Vec::new();
    let mut wall = Vec::new();
    let mut cores = Vec::new();
    let mut lost = Vec::new();
    let mut rss_growth = Vec::new();
    let mut polls = Vec::new();
    let mut poll_share = Vec::new();
    let mut refusals = 0;
    for run in 1..=config.repeat {
        progress(format!(
            "ingest {p}, run {run}/{}: decode-only, then a fresh server",
            config.repeat
        ));
        let decode_set = set.clone();
        let d = tokio::task::spawn_blocking(move || ingest::decode_only(&decode_set))
            .await
            .context("the decode task failed")??;
        let mut child = ChildServer::start(&config.child(set.spans as usize), http).await?;
        let pass = ingest::ingest_pass(&mut child, http, set, config.in_flight).await?;
        drop(child);
        let rate = pass.spans_per_cpu_sec();
        progress(format!(
            "  decode-only {} spans/CPU-s, ingest {} spans/server-CPU-s ({:.2}), {} spans/s wall, server {:.2} cores",
            fmt_num(d),
            fmt_num(rate),
            rate / d,
            fmt_num(pass.spans_per_sec()),
            pass.server_cpu_secs / pass.wall_secs.max(1e-9),
        ));
        decode.push(d);
        ingest.push(rate);
        ratio.push(rate / d);
        wall.push(pass.spans_per_sec());
        cores.push(pass.server_cpu_secs / pass.wall_secs.max(1e-9));
        lost.push(pass.spans_sent.saturating_sub(pass.spans_stored) as f64);
        refusals += pass.refusals;
        if p == Protocol::OtlpGrpc && !config.storage.has_disk_data() {
            rss_growth.push(
                pass.rss_after
                    .current
                    .saturating_sub(pass.rss_before.current) as f64
                    / pass.spans_stored.max(1) as f64,
            );
        }
        if p.is_udp() {
            polls.push(pass.polls as f64);
            poll_share.push(pass.poll_share());
        }
    }
    let kib = set.bytes as f64 / set.parts.len().max(1) as f64 / 1024.0;
    let mut params = format!(
        "{} spans ({} traces, {} attributes per span, seed {}) in {} {} of {:.1} spans and {:.1} KiB on average, {} B per span on the wire; a fresh server per run",
        fmt_int(set.spans),
        fmt_int(set.traces),
        config.data.attrs,
        config.data.seed,
        fmt_int(set.parts.len() as u64),
        if p.is_udp() { "datagrams" } else { "requests" },
        set.spans_per_part(),
        kib,
        fmt_num(set.bytes as f64 / set.spans.max(1) as f64),
    );
    if p.is_udp() {
        params.push_str(&format!(
            "; one sender, at most {} KiB of datagrams not yet handled by the server, learnt by polling its /metrics (median {} polls per run, ≈ {:.1}% of the server's CPU, included)",
            ingest::UDP_WINDOW_BYTES / 1024,
            median(&polls).map_or("0".into(), fmt_num),
            median(&poll_share).unwrap_or(0.0) * 100.0,
        ));
    } else {
        params.push_str(&format!("; {} requests in flight", config.in_flight));
        if refusals > 0 {
            params.push_str(&format!("; {refusals} refusals retried"));
        }
    }
    let decoder = match p {
        Protocol::OtlpGrpc => "spoor_codec::otlp::decode_request",
        Protocol::JaegerUdpCompact => "spoor_codec::jaeger_thrift::decode_emit_batch_compact",
        Protocol::Zipkin => "spoor_codec::zipkin::decode_v2_json",
        _ => "",
    };
    let (target, peer) = ingest_targets(p);
    let storage = config.storage.name();
    found.ingest.push(
        Figure::new(
            "ingest",
            format!("{p}: spans stored ({storage}) per CPU-second of the server"),
            "spans/CPU-s",
            ingest,
            params.clone(),
        )
        .against(target, peer),
    );
    found.ingest.push(Figure::new(
        "ingest",
        format!("{p}: decode-only, 1 thread, same payloads, same run"),
        "spans/CPU-s",
        decode,
        format!("{decoder}: wire bytes → model; freeing the result not timed"),
    ));
    found.ingest.push(
        Figure::new(
            "ingest",
            format!("{p}: ingest ÷ decode-only (ratio within each run)"),
            "ratio",
            ratio,
            "each run's ingest rate over the decode-only rate measured just before it",
        )
        .against(
            if p == Protocol::OtlpGrpc {
                "≥ 0.5"
            } else {
                ""
            },
            "",
        ),
    );
    found.ingest.push(Figure::new(
        "ingest",
        format!("{p}: wall-clock ingest rate"),
        "spans/s",
        wall,
        format!(
            "load generator and server share the machine's {} CPUs",
            procfs::machine().map_or(0, |m| m.cpus)
        ),
    ));
    found.ingest.push(Figure::new(
        "ingest",
        format!("{p}: server CPU while ingesting"),
        "cores",
        cores,
        "server CPU-seconds ÷ wall-clock seconds",
    ));
    if p.is_udp() {
        found.ingest.push(Figure::new(
            "ingest",
            format!("{p}: spans lost (sent − stored)"),
            "spans",
            lost,
            "UDP has no acknowledgement: stored is the server's spoor_receiver_accepted_spans_total",
        ));
    }
    if !rss_growth.is_empty() {
        found.bytes_per_span = median(&rss_growth);
        found.storage.push(
            Figure::new(
                "storage",
                format!(
                    "memory backend: RSS growth per stored span after the OTLP ingest of {} spans (RAM, not disk)",
                    fmt_int(set.spans)
                ),
                "B/span",
                rss_growth,
                "server VmRSS after − before the ingest pass, ÷ spans stored; includes allocator slack and the memory of the receive path",
            )
            .against("— (≤ 30 B is an on-disk target)", ""),
        );
    }
    Ok(())
}

/// Floor of available memory below which loading stops: 2 GiB or a tenth
/// of the machine's memory, whichever is larger.
fn memory_floor(total: u64) -> u64 {
    (2u64 << 30).max(total / 10)
}

/// `n` rounded down to two significant digits.
fn round_down_2sig(n: u64) -> u64 {
    if n < 100 {
        return n;
    }
    let mut unit = 1u64;
    while n / unit >= 100 {
        unit *= 10;
    }
    n / unit * unit
}

async fn query_scenario(
    config: &BenchConfig,
    http: &HttpClient,
    found: &mut Findings,
) -> Result<()> {
    let machine = procfs::machine()?;
    let floor = memory_floor(machine.mem_total);
    let mut measured: Vec<u64> = Vec::new();
    for &wanted in &config.query_sizes {
        // Resident bytes per span: measured when possible, else a cautious guess.
        let per_span = found.bytes_per_span.unwrap_or(2_500.0).max(200.0);
        let available = procfs::mem_available()?;
        let budget = (available.saturating_sub(floor) as f64 * 0.9) as u64;
        let fits = (budget as f64 / per_span) as u64;
        let size = if wanted > fits && !config.storage.has_disk_data() {
            let capped = round_down_2sig(fits);
            found.notes.push(format!(
                "queries: {} spans were asked for, but the memory backend holds about {} B per span here, so they need ≈ {:.1} GiB while {:.1} GiB is available above a {:.1} GiB reserve: measured at {} spans instead, the largest size that fits.",
                fmt_int(wanted),
                fmt_num(per_span),
                wanted as f64 * per_span / (1u64 << 30) as f64,
                available as f64 / (1u64 << 30) as f64,
                floor as f64 / (1u64 << 30) as f64,
                fmt_int(capped),
            ));
            capped
        } else {
            wanted
        };
        if size == 0 || measured.contains(&size) {
            continue;
        }
        measured.push(size);
        let batches = size.div_ceil(config.data.batch_size as u64);
        let mut child = ChildServer::start(&config.child(size as usize + 1), http).await?;
        progress(format!(
            "queries: loading {} spans over OTLP gRPC",
            fmt_int(batches * config.data.batch_size as u64)
        ));
        let loaded = queries::load(
            &child,
            config.data,
            batches,
            config.in_flight,
            config.queries,
            floor,
        )
        .await?;
        child.check_alive()?;
        progress(format!(
            "  loaded {} spans ({} traces) in {:.1} s; server RSS {} MiB",
            fmt_int(loaded.spans),
            fmt_int(loaded.traces),
            loaded.wall_secs,
            loaded.rss_after.current >> 20
        ));
        if let Some(why) = &loaded.stopped_early {
            found
                .notes
                .push(format!("queries at {} spans: {why}", fmt_int(size)));
        }
        let stored = fmt_int(loaded.spans);
        if let (Some(dir), true) = (child.data_dir(), config.wants(Scenario::Storage)) {
            progress("  waiting for the engine to cut its head into a block");
            let disk = settle_on_disk(dir).await;
            found.storage.push(
                Figure::new(
                    "storage",
                    format!("engine: bytes on disk per span, all indexes included, {stored} spans loaded"),
                    "B/span",
                    vec![disk.blocks as f64 / loaded.spans.max(1) as f64],
                    format!(
                        "one load per size: the blocks directory ({} blocks: Parquet, trace index, Bloom filter, summaries, meta; apparent file sizes) ÷ spans, once the head was cut ({} s cut age) and the directory stopped changing ({:.0} s after loading); the WAL left then, {} B ({:.1} B per span), is not counted",
                        fmt_int(disk.block_count),
                        ENGINE_CUT_AGE.as_secs(),
                        disk.waited_secs,
                        fmt_int(disk.wal),
                        disk.wal as f64 / loaded.spans.max(1) as f64,
                    ),
                )
                .against(DISK_TARGET, DISK_PEER),
            );
        }
        if !config.storage.has_disk_data() {
            found.bytes_per_span = Some(loaded.rss_bytes_per_span());
        }
        if config.wants(Scenario::Storage) && !config.storage.has_disk_data() {
            found.storage.push(
                Figure::new(
                    "storage",
                    format!("memory backend: RSS growth per stored span, {stored} spans loaded (RAM, not disk)"),
                    "B/span",
                    vec![loaded.rss_bytes_per_span()],
                    format!(
                        "one load per size: server VmRSS after − before loading {stored} spans ({} traces) over OTLP gRPC, ÷ spans",
                        fmt_int(loaded.traces)
                    ),
                )
                .against("— (≤ 30 B is an on-disk target)", ""),
            );
        }
        if config.wants(Scenario::Queries) {
            let base = format!("http://{}", child.query_http);
            for kind in QueryKind::ALL {
                let paths = queries::query_paths(kind, &loaded.samples, 20);
                let mut p50 = Vec::new();
                let mut p99 = Vec::new();
                let mut counts = Vec::new();
                let mut non_empty = 0;
                let mut total = 0;
                let mut bytes = Vec::new();
                for run in 1..=config.repeat {
                    progress(format!(
                        "queries at {stored} spans: {}, run {run}/{}",
                        kind.describe(),
                        config.repeat
                    ));
                    let r = queries::run_queries(
                        http,
                        &base,
                        &paths,
                        config.queries,
                        config.query_budget,
                    )
                    .await?;
                    counts.push(r.latencies_ms.len());
                    non_empty += r.non_empty;
                    total += r.latencies_ms.len();
                    bytes.push(r.mean_bytes);
                    p50.extend(r.p50());
                    p99.extend(r.p99());
                    progress(format!(
                        "  {} queries: p50 {} ms, p99 {} ms",
                        r.latencies_ms.len(),
                        r.p50().map_or("—".into(), fmt_num),
                        r.p99().map_or("—".into(), fmt_num)
                    ));
                }
                let fewest = counts.iter().copied().min().unwrap_or(0);
                let mut params = format!(
                    "{stored} spans stored; {} queries per run{} from {} sampled, one at a time, client-side over HTTP/1.1 keep-alive, from request to the last byte; {}% of answers non-empty; mean answer {} KiB",
                    fmt_int(fewest as u64),
                    if fewest < config.queries {
                        format!(
                            " (fewest in a run: the {} s budget ran out before {})",
                            config.query_budget.as_secs_f64(),
                            config.queries
                        )
                    } else {
                        String::new()
                    },
                    fmt_int(paths.len() as u64),
                    (non_empty * 100).checked_div(total).unwrap_or(0),
                    fmt_num(median(&bytes).unwrap_or(0.0) / 1024.0),
                );
                match kind {
                    QueryKind::TraceById => params.push_str("; trace IDs uniform over the stored traces"),
                    _ => params.push_str(&format!(
                        "; each query's service, operation and tag come from a span of a stored trace, the tag one of {}",
                        TAG_KEYS.join(", ")
                    )),
                }
                let (target, peer) = match kind {
                    QueryKind::TraceById => (
                        "p99 ≤ 5 ms at 100M spans",
                        "Jaeger + ClickHouse 101 ms (mean) at 10M spans",
                    ),
                    QueryKind::ServiceOperationTag => (
                        "p99 ≤ 50 ms at 100M spans",
                        "Jaeger + ClickHouse 139 ms (mean, all filters) at 10M spans",
                    ),
                    QueryKind::Attribute => {
                        ("", "Jaeger + ClickHouse 1,769 ms (mean) at 10M spans")
                    }
                };
                found.queries.push(Figure::new(
                    "queries",
                    format!("{} @ {stored} spans: p50", kind.describe()),
                    "ms",
                    p50,
                    params.clone(),
                ));
                found.queries.push(
                    Figure::new(
                        "queries",
                        format!("{} @ {stored} spans: p99", kind.describe()),
                        "ms",
                        p99,
                        params,
                    )
                    .against(target, peer),
                );
            }
        }
        drop(child);
    }
    Ok(())
}

/// What an engine data directory holds once it stopped changing.
struct OnDisk {
    blocks: u64,
    block_count: u64,
    wal: u64,
    waited_secs: f64,
}

/// Waits until the engine cut its head (the cut age passed) and its data
/// directory has not changed for five seconds (or two minutes passed),
/// then measures the blocks and the WAL.
async fn settle_on_disk(dir: &std::path::Path) -> OnDisk {
    let started = Instant::now();
    let blocks = dir.join("blocks");
    let wal = dir.join("wal");
    let measure = || (child::dir_bytes(&blocks), child::dir_bytes(&wal));
    tokio::time::sleep(ENGINE_CUT_AGE + Duration::from_secs(2)).await;
    let mut last = measure();
    let mut unchanged = 0;
    while unchanged < 5 && started.elapsed() < ENGINE_CUT_AGE + Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = measure();
        if now == last {
            unchanged += 1;
        } else {
            unchanged = 0;
            last = now;
        }
    }
    let block_count = std::fs::read_dir(&blocks)
        .map(|d| d.flatten().filter(|e| e.path().is_dir()).count() as u64)
        .unwrap_or(0);
    OnDisk {
        blocks: last.0,
        block_count,
        wal: last.1,
        waited_secs: started.elapsed().as_secs_f64(),
    }
}

async fn memory_scenario(
    config: &BenchConfig,
    http: &HttpClient,
    otlp: &Arc<Payloads>,
    found: &mut Findings,
) -> Result<()> {
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    let mut idle_steady = Vec::new();
    let mut idle_peak = Vec::new();
    for run in 1..=config.repeat {
        progress(format!("memory: idle server, run {run}/{}", config.repeat));
        let child = ChildServer::start(&config.child(config.memory_max_traces), http).await?;
        let m = memory::idle(&child).await?;
        idle_steady.push(mib(m.steady));
        idle_peak.push(mib(m.peak));
    }
    let idle_params = format!(
        "a fresh server with every benchmark listener open (OTLP gRPC, Jaeger UDP, Zipkin, query, admin), left alone for {} s after it answers /status",
        memory::IDLE_SETTLE.as_secs()
    );
    found.memory.push(
        Figure::new(
            "memory",
            "idle: steady RSS",
            "MiB",
            idle_steady,
            idle_params.clone(),
        )
        .against(
            "≤ 25 MiB",
            "Jaeger all-in-one ≈ 20 MB idle; Rotel 15–22 MiB",
        ),
    );
    found.memory.push(Figure::new(
        "memory",
        "idle: peak RSS (VmHWM)",
        "MiB",
        idle_peak,
        idle_params,
    ));

    // Going round the payloads must not re-send traces the store still
    // holds, so the store holds at most half the traces of the payloads.
    let max_traces = config
        .memory_max_traces
        .min((otlp.traces / 2).max(1) as usize);
    if max_traces < config.memory_max_traces && !config.storage.has_disk_data() {
        found.notes.push(format!(
            "memory under load: the store was capped at {} traces (asked: {}) so that going round the {} pre-encoded traces never re-sends a trace it still holds.",
            fmt_int(max_traces as u64),
            fmt_int(config.memory_max_traces as u64),
            fmt_int(otlp.traces)
        ));
    }
    let held_spans = max_traces as f64 * otlp.spans as f64 / otlp.traces.max(1) as f64;
    let mut steady = Vec::new();
    let mut peak = Vec::new();
    let mut rate = Vec::new();
    let mut cores = Vec::new();
    for run in 1..=config.repeat {
        progress(format!(
            "memory: {} spans/s for {} s, run {run}/{}",
            fmt_int(config.memory_rate),
            config.memory_duration.as_secs_f64(),
            config.repeat
        ));
        let mut child = ChildServer::start(&config.child(max_traces), http).await?;
        let m = memory::under_load(
            &child,
            otlp,
            config.memory_rate,
            config.memory_duration,
            config.in_flight,
        )
        .await?;
        child.check_alive()?;
        progress(format!(
            "  achieved {} spans/s, steady RSS {:.1} MiB, peak {:.1} MiB",
            fmt_num(m.achieved_rate),
            mib(m.memory.steady),
            mib(m.memory.peak)
        ));
        steady.push(mib(m.memory.steady));
        peak.push(mib(m.memory.peak));
        rate.push(m.achieved_rate);
        cores.push(m.server_cores);
    }
    let achieved = median(&rate).unwrap_or(0.0);
    if achieved < 0.95 * config.memory_rate as f64 {
        found.notes.push(format!(
            "memory under load: {} spans/s was asked for but {} spans/s (median) was reached, with the load generator on the same cores; the RSS figures are at that rate.",
            fmt_int(config.memory_rate),
            fmt_num(achieved)
        ));
    }
    let store = if config.storage.has_disk_data() {
        "the engine with its default head bounds (cut at 128 MiB, at most 512 MiB)".to_string()
    } else {
        format!(
            "memory backend capped at {} traces (≈ {} spans held once full, oldest evicted)",
            fmt_int(max_traces as u64),
            fmt_num(held_spans),
        )
    };
    let params = format!(
        "OTLP gRPC, {} spans/s asked for {} s, batches of {}, {} in flight; {store}; RSS sampled every 200 ms, steady = median over the second half",
        fmt_int(config.memory_rate),
        config.memory_duration.as_secs_f64(),
        config.data.batch_size,
        config.in_flight,
    ) + &found.bytes_per_span.map_or(String::new(), |b| {
        format!(
            "; at the {} B per stored span of the storage rows the held spans account for ≈ {:.0} MiB",
            fmt_num(b),
            held_spans * b / (1u64 << 20) as f64
        )
    });
    found.memory.push(
        Figure::new(
            "memory",
            "under load: steady RSS",
            "MiB",
            steady,
            params.clone(),
        )
        .against(
            "≤ 150 MiB at 100k spans/s",
            "Jaeger all-in-one 250 MB after use; OTel Collector 66 MiB at 10k spans/s (no storage)",
        ),
    );
    found.memory.push(Figure::new(
        "memory",
        "under load: peak RSS (VmHWM)",
        "MiB",
        peak,
        params.clone(),
    ));
    found.memory.push(Figure::new(
        "memory",
        "under load: achieved rate",
        "spans/s",
        rate,
        params.clone(),
    ));
    found.memory.push(Figure::new(
        "memory",
        "under load: server CPU",
        "cores",
        cores,
        params,
    ));
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    fn config(args: &[&str]) -> Result<BenchConfig> {
        let mut argv = vec!["bench"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv)?.bench.to_config()
    }

    #[test]
    fn quick_and_full_defaults() {
        let full = config(&[]).unwrap();
        assert_eq!(full.repeat, 3);
        assert_eq!(full.ingest_batches, 1_954);
        assert_eq!(full.query_sizes, vec![1_000_000, 10_000_000]);
        assert_eq!(full.queries, 1_000);
        assert_eq!(full.scenarios.len(), 4);
        let quick = config(&["--quick"]).unwrap();
        assert_eq!(quick.ingest_batches, 196);
        assert_eq!(quick.query_sizes, vec![100_000]);
        assert_eq!(quick.memory_duration, Duration::from_secs(5));
        let some = config(&[
            "--scenario",
            "ingest,memory",
            "--query-sizes",
            "5000,100,5000",
            "--memory-duration",
            "1500ms",
        ])
        .unwrap();
        assert_eq!(some.scenarios, vec![Scenario::Ingest, Scenario::Memory]);
        assert_eq!(some.query_sizes, vec![100, 5_000]);
        assert_eq!(some.memory_duration, Duration::from_millis(1_500));
    }

    #[test]
    fn bad_flags_are_refused() {
        for bad in [
            &["--repeat", "0"][..],
            &["--batch-size", "0"],
            &["--in-flight", "0"],
            &["--query-sizes", "0"],
            &["--queries", "0"],
            &["--memory-duration", "-1s"],
            &["--query-budget", "soon"],
            &["--storage", "cassandra"],
            &["--storage", "engine", "--repeat", "101"],
        ] {
            assert!(config(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_memory_backend_child_flags() {
        assert_eq!(
            StorageKind::Memory.server_args(0, None),
            vec!["--storage", "memory", "--max-traces", "1"]
        );
        assert!(!StorageKind::Memory.has_disk_data());
        let dir = std::path::Path::new("/tmp/d");
        assert_eq!(
            StorageKind::Engine.server_args(5, Some(dir)),
            vec![
                "--storage",
                "engine",
                "--data-dir",
                "/tmp/d",
                "--retention",
                "0",
                "--block-cut-age",
                "30s"
            ]
        );
        assert!(StorageKind::Engine.has_disk_data());
    }

    #[test]
    fn sizes_round_down_to_two_significant_digits() {
        assert_eq!(round_down_2sig(7_654_321), 7_600_000);
        assert_eq!(round_down_2sig(99), 99);
        assert_eq!(round_down_2sig(100), 100);
        assert_eq!(round_down_2sig(1_049), 1_000);
        assert_eq!(memory_floor(24 << 30), (24u64 << 30) / 10);
        assert_eq!(memory_floor(8 << 30), 2 << 30);
    }
}
