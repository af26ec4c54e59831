//! The `spoor` binary: command line, configuration, wiring and shutdown.
//!
//! `spoor` with no subcommand runs everything in one process (all-in-one):
//! the OTLP receivers, the storage backend, the query APIs, the web UI and
//! the admin endpoints. `spoor agent` is [`roles::agent`]; the tools
//! (`tracegen`, `bench`, `import`, `export`) are `spoor-tools`, called from
//! [`Command`]; `spoor fsck` is [`fsck`] over `spoor_engine::fsck`.

pub mod config;
pub mod fsck;
pub mod roles;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use spoor_server::{AppState, Limits, ServerConfig, UdpConfig};
use spoor_service::sampling::{MergeRules, SamplingOptions};
use spoor_service::{
    AdjustOptions, IngestOptions, Ingester, QueryOptions, QueryService, Telemetry,
};
use spoor_storage::memory::MemoryStore;
use tokio_util::sync::CancellationToken;

use spoor_tools::{bench, export, import, tracegen};

use crate::roles::agent;
use crate::roles::cluster::{self, Deployment};

use crate::config::{Config, RunArgs, Storage};

/// Spoor: distributed tracing, compatible with Jaeger, OpenTelemetry and Zipkin.
///
/// With no subcommand, runs all-in-one: OTLP gRPC on 4317, OTLP HTTP on 4318,
/// the web UI and Jaeger's query APIs on 16686, health and metrics on 13133.
/// Every flag can also be set with its SPOOR_* environment variable or in a
/// YAML file given with --config (flags win over the environment, which wins
/// over the file).
#[derive(Debug, Parser)]
#[command(name = "spoor", version, about, long_about)]
pub struct Cli {
    /// A tool or role; none runs all-in-one with the flags above.
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub run: RunArgs,
}

/// Subcommands of `spoor`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate realistic, seeded traces and send them over any ingest protocol (see docs/tracegen.md)
    Tracegen(tracegen::TracegenArgs),
    /// Run the standard benchmark scenarios against a child `spoor` and print a markdown table (see BENCHMARKS.md)
    ///
    /// Scenarios: ingest (spans per server CPU-second over OTLP gRPC, Jaeger
    /// UDP compact and Zipkin v2 JSON, beside the decode-only rate of the same
    /// payloads in the same run), storage (bytes per stored span), queries
    /// (p50/p99 of trace by ID and searches at stated stored sizes) and
    /// memory (server RSS idle and under load). The server is a `spoor`
    /// all-in-one started as a child process on free loopback ports, so its
    /// CPU time and memory are measured apart from the load generator's.
    Bench(bench::BenchArgs),
    /// Run the agent sidecar: Jaeger UDP (6831/6832) and sampling HTTP (5778), forwarded to a collector over gRPC
    ///
    /// For hosts whose tracers expect a local Jaeger agent. Receives Jaeger
    /// Thrift `emitBatch` over UDP (compact on 6831, binary on 6832) and
    /// forwards the spans to --collector over gRPC: Jaeger api_v2
    /// `CollectorService/PostSpans` (default) or OTLP `TraceService/Export`.
    /// Batches wait in a buffer bounded by --buffer-bytes; failed sends are
    /// retried with exponential backoff and jitter; what cannot be sent is
    /// dropped and counted. Serves sampling strategies on 5778
    /// (`/sampling?service=`, `/`, `/baggageRestrictions`), asked from the
    /// collector's gRPC `SamplingManager` and cached briefly. Health and
    /// Prometheus metrics are on the admin port (14271). On SIGINT/SIGTERM
    /// it stops receiving and sends what is buffered for up to
    /// --drain-timeout. Every flag can also be set with its SPOOR_AGENT_*
    /// environment variable. See docs/configuration.md.
    Agent(Box<agent::AgentArgs>),
    /// Run a collector of a distributed deployment: every receiver, the WAL, blocks cut into the shared store (--blocks-url), its head served to queriers on 14300 (see docs/deploy.md)
    Collector(Box<cluster::CollectorArgs>),
    /// Run a querier of a distributed deployment: the web UI and query APIs over the shared store's blocks and every collector's head (see docs/deploy.md)
    Query(Box<cluster::QueryArgs>),
    /// Run the compactor of a distributed deployment: compaction and retention of the shared store, one at a time through a lease in the store (see docs/deploy.md)
    Compactor(Box<cluster::CompactorArgs>),
    /// Export every trace matching a search to a file: Jaeger JSON, OTLP, Parquet or CSV (see docs/export.md)
    Export(export::ExportArgs),
    /// Import Jaeger JSON, OTLP or Zipkin files into a running Spoor or a data directory (see docs/export.md)
    Import(import::ImportArgs),
    /// Check a stopped Spoor's data directory (WAL segments and blocks) and, with --repair, repair it (see docs/operations.md)
    ///
    /// Reads every WAL segment and every block; prints OK or DAMAGED (what
    /// and where) per file and a summary. With --repair, damaged WAL
    /// segments are rewritten with only their valid records and unreadable
    /// blocks are moved aside; the originals go to DIR/quarantine/ (nothing
    /// is deleted). Refuses a directory a running Spoor holds. Exit status 1
    /// when damage was found and not repaired.
    Fsck(fsck::FsckArgs),
}

/// Entry point shared by `main` and tests.
pub fn main_with_args(cli: Cli) -> Result<()> {
    match cli.command {
        Some(Command::Tracegen(args)) => return tracegen::main(args),
        Some(Command::Bench(args)) => return bench::main(args),
        Some(Command::Agent(args)) => return agent::main(*args),
        Some(Command::Export(args)) => return export::main(args),
        Some(Command::Import(args)) => return import::main(args),
        Some(Command::Fsck(args)) => return fsck::main(args),
        Some(Command::Collector(args)) => {
            let config = Config::load(&args.run)?;
            let deployment = cluster::collector(&config, &args.cluster)?;
            return serve_until_signal(config, deployment, &spoor_server::roles::COLLECTOR);
        }
        Some(Command::Query(args)) => {
            let config = Config::load(&args.run)?;
            let deployment = cluster::query(&config, &args.cluster)?;
            return serve_until_signal(config, deployment, &spoor_server::roles::QUERY);
        }
        Some(Command::Compactor(args)) => {
            let config = Config::load(&args.run)?;
            let deployment = cluster::compactor(&config, &args.cluster)?;
            return serve_until_signal(config, deployment, &spoor_server::roles::COMPACTOR);
        }
        None => {}
    }
    let config = Config::load(&cli.run)?;
    serve_until_signal(
        config,
        Deployment::AllInOne,
        &spoor_server::roles::ALL_IN_ONE,
    )
}

/// Logging, the runtime, then the role until SIGINT/SIGTERM.
fn serve_until_signal(
    config: Config,
    deployment: Deployment,
    role: &'static spoor_server::Role<AppState>,
) -> Result<()> {
    init_logging(&config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("spoor")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run_role(config, deployment, role, shutdown_signal()))
}

fn init_logging(config: &Config) -> Result<()> {
    init_logging_with(&config.log, config.log_json)
}

/// Logs to stderr with `filter` (e.g. `info`), as text or JSON lines.
fn init_logging_with(filter: &str, json: bool) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .with_context(|| format!("invalid log filter {filter:?}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let result = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // A second init (tests) is harmless.
    let _ = result;
    Ok(())
}

/// Resolves when SIGINT or SIGTERM arrives.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// The engine as the role uses it: itself for all-in-one, a collector and
/// a compactor; for a querier, the federation of its blocks and the
/// collectors' heads.
fn engine_readers(store: &Arc<spoor_engine::Engine>, deployment: &Deployment) -> Result<Readers> {
    let writer = store.clone() as Arc<dyn spoor_storage::SpanWriter>;
    let Deployment::Query {
        collectors,
        collector_security,
        refresh,
        ..
    } = deployment
    else {
        return Ok((
            writer,
            store.clone() as Arc<dyn spoor_storage::TraceReader>,
            store.clone() as Arc<dyn spoor_storage::DependencyReader>,
            store.clone() as Arc<dyn spoor_storage::RedStatsReader>,
        ));
    };
    let collectors = spoor_client::cluster::Collectors::parse(
        collectors,
        COLLECTOR_TIMEOUT,
        (*refresh).min(Duration::from_secs(10)),
    )
    .map_err(anyhow::Error::msg)?
    .with_security(collector_security.clone());
    if collectors.is_empty() {
        tracing::warn!(
            "no --collectors: this querier reads the shared store only, without the spans              still in the collectors' heads"
        );
    }
    let federation = Arc::new(spoor_storage::federate::Federation::new(
        spoor_storage::federate::FederationBase {
            reader: store.clone(),
            dependencies: store.clone(),
            red: store.clone(),
            catalog: store.clone(),
        },
        Arc::new(collectors),
        COLLECTOR_TIMEOUT,
    ));
    Ok((writer, federation.clone(), federation.clone(), federation))
}

/// File descriptors never given to connections: the storage engine (WAL
/// segments, block files opened by queries, compaction), logs and the runtime.
const FD_RESERVE_MIN: u64 = 256;

/// Raises the soft limit on open files to the hard limit and returns how many
/// connections all TCP listeners may hold together so that a reserve of
/// descriptors always stays for the engine (`None`: no limit).
fn connection_fd_budget() -> Option<usize> {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let before = getrlimit(Resource::Nofile);
        let mut limit = before.current;
        if before.current != before.maximum {
            let raised = Rlimit {
                current: before.maximum,
                maximum: before.maximum,
            };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => limit = before.maximum,
                Err(e) => tracing::warn!(error = %e, "cannot raise the open file limit"),
            }
        }
        let limit = limit?;
        let reserve = FD_RESERVE_MIN.max(limit / 4);
        let connections = limit.saturating_sub(reserve);
        tracing::info!(
            limit,
            raised_from = ?before.current,
            reserve,
            connections,
            "file descriptors: connections are limited to keep a reserve for storage"
        );
        Some(usize::try_from(connections).unwrap_or(usize::MAX))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Runs all-in-one until `shutdown` resolves.
pub async fn run(config: Config, shutdown: impl std::future::Future<Output = ()>) -> Result<()> {
    run_role(
        config,
        Deployment::AllInOne,
        &spoor_server::roles::ALL_IN_ONE,
        shutdown,
    )
    .await
}

/// The readers a role answers queries from.
type Readers = (
    Arc<dyn spoor_storage::SpanWriter>,
    Arc<dyn spoor_storage::TraceReader>,
    Arc<dyn spoor_storage::DependencyReader>,
    Arc<dyn spoor_storage::RedStatsReader>,
);

/// Opens the store `storage` names for `deployment`: its readers, and the
/// engine when it is one.
async fn open_storage(
    storage: &Storage,
    deployment: &Deployment,
    cpu: &spoor_storage::CpuPool,
) -> Result<(Readers, Option<Arc<spoor_engine::Engine>>)> {
    match storage {
        Storage::Memory { max_traces } => {
            let store = Arc::new(MemoryStore::new(*max_traces));
            tracing::info!(max_traces, "storage: in-memory");
            Ok((
                (
                    store.clone() as Arc<dyn spoor_storage::SpanWriter>,
                    store.clone() as Arc<dyn spoor_storage::TraceReader>,
                    store.clone() as Arc<dyn spoor_storage::DependencyReader>,
                    store as Arc<dyn spoor_storage::RedStatsReader>,
                ),
                None,
            ))
        }
        Storage::Engine {
            data_dir,
            blocks_url,
            retention_nanos,
            cut_bytes,
            cut_age_nanos,
            read_cache_bytes,
            read_cache_dir,
            read_cache_disk_bytes,
            backlog_max_bytes,
        } => {
            let mut engine_config = spoor_engine::EngineConfig::new(data_dir.clone());
            engine_config.cpu = cpu.clone();
            engine_config.role = engine_role(deployment);
            if let Deployment::Query {
                bucket_index_max_age,
                ..
            } = deployment
            {
                engine_config.bucket_index_max_age = *bucket_index_max_age;
            }
            engine_config.read_cache_bytes = *read_cache_bytes;
            engine_config.read_cache_dir = read_cache_dir.clone();
            engine_config.read_cache_disk_bytes = *read_cache_disk_bytes;
            engine_config.backlog_max_bytes = *backlog_max_bytes;
            engine_config.retention = retention_nanos.map(Duration::from_nanos);
            if let Some(url) = blocks_url {
                engine_config.block_storage = spoor_engine::BlockStorage::from_url(url)?;
            }
            if let Some(bytes) = cut_bytes {
                engine_config.head_cut_bytes = *bytes;
            }
            if let Some(age) = cut_age_nanos {
                engine_config.head_cut_age = Duration::from_nanos(*age);
            }
            let started = std::time::Instant::now();
            let store = Arc::new(
                spoor_engine::Engine::open(engine_config)
                    .await
                    .with_context(|| {
                        format!("cannot open the data directory {}", data_dir.display())
                    })?,
            );
            tracing::info!(
                data_dir = %data_dir.display(),
                blocks_url = blocks_url.as_deref().unwrap_or("file://<data_dir>/blocks"),
                open_ms = started.elapsed().as_millis() as u64,
                "storage: engine"
            );
            let readers = engine_readers(&store, deployment)?;
            Ok((readers, Some(store)))
        }
    }
}

/// `tenant`'s store, one of `count`: with the engine its own data directory
/// `<data_dir>/tenants/<tenant>` (its own WAL), blocks prefix
/// `<blocks_url>/tenants/<tenant>`, read cache (a `count`th of the memory
/// tier, its own folder of the disk tier) and retention; with the memory
/// backend its own `MemoryStore` of `max_traces`.
fn tenant_storage(
    storage: &Storage,
    tenant: &str,
    limits: &spoor_server::tenancy::TenantLimits,
    count: usize,
) -> Result<Storage> {
    anyhow::ensure!(
        spoor_server::tenancy::valid_tenant_name(tenant),
        "invalid tenant name {tenant:?}"
    );
    Ok(match storage {
        Storage::Memory { .. } => storage.clone(),
        Storage::Engine {
            data_dir,
            blocks_url,
            retention_nanos,
            cut_bytes,
            cut_age_nanos,
            read_cache_bytes,
            read_cache_dir,
            read_cache_disk_bytes,
            backlog_max_bytes,
        } => {
            let retention_nanos = match &limits.retention {
                Some(text) => {
                    let nanos = config::go_nanos(text, "security.tenancy.limits retention")?;
                    anyhow::ensure!(nanos >= 0, "a tenant's retention cannot be negative");
                    (nanos > 0).then_some(nanos as u64)
                }
                None => *retention_nanos,
            };
            Storage::Engine {
                data_dir: data_dir.join("tenants").join(tenant),
                blocks_url: blocks_url.as_deref().map(|u| tenant_blocks_url(u, tenant)),
                retention_nanos,
                cut_bytes: *cut_bytes,
                cut_age_nanos: *cut_age_nanos,
                read_cache_bytes: *read_cache_bytes / count.max(1),
                read_cache_dir: read_cache_dir
                    .as_ref()
                    .map(|d| d.join("tenants").join(tenant)),
                read_cache_disk_bytes: *read_cache_disk_bytes / count.max(1) as u64,
                backlog_max_bytes: *backlog_max_bytes,
            }
        }
    })
}

/// `url` with `/tenants/<tenant>` appended to its path (before any query):
/// the tenant's blocks prefix.
fn tenant_blocks_url(url: &str, tenant: &str) -> String {
    let (path, query) = match url.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (url, None),
    };
    let mut out = format!("{}/tenants/{tenant}", path.trim_end_matches('/'));
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// The health and series of every tenant's engine as one: writable when
/// all are, counters and sizes summed, `*writable*` gauges the lowest.
struct TenantsStatus(Vec<Arc<spoor_engine::Engine>>);

impl spoor_storage::StorageStatus for TenantsStatus {
    fn health(&self) -> spoor_storage::StorageHealth {
        self.0
            .iter()
            .map(|e| spoor_storage::StorageStatus::health(e.as_ref()))
            .find(|h| !h.writable)
            .unwrap_or_else(spoor_storage::StorageHealth::writable)
    }

    fn metrics(&self) -> Vec<spoor_storage::StorageMetric> {
        let mut out: Vec<spoor_storage::StorageMetric> = Vec::new();
        for e in &self.0 {
            for m in spoor_storage::StorageStatus::metrics(e.as_ref()) {
                match out.iter_mut().find(|o| o.name == m.name) {
                    Some(o) if m.name.contains("writable") => o.value = o.value.min(m.value),
                    Some(o) => o.value = o.value.saturating_add(m.value),
                    None => out.push(m),
                }
            }
        }
        out
    }
}

/// The engine's part for `deployment` (ADR 0025).
fn engine_role(deployment: &Deployment) -> spoor_engine::EngineRole {
    match deployment {
        Deployment::AllInOne => spoor_engine::EngineRole::Owner,
        Deployment::Collector { node, recent } => spoor_engine::EngineRole::Writer {
            node: node.clone(),
            recent: *recent,
        },
        Deployment::Query { refresh, .. } => spoor_engine::EngineRole::Reader { refresh: *refresh },
        Deployment::Compactor {
            node,
            refresh,
            lease,
            delete_delay,
        } => spoor_engine::EngineRole::Compactor {
            node: node.clone(),
            refresh: *refresh,
            lease: *lease,
            delete_delay: *delete_delay,
        },
    }
}

/// How long a querier waits for a collector's answer.
const COLLECTOR_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `role` (all-in-one or a distributed role) until `shutdown` resolves.
pub async fn run_role(
    config: Config,
    deployment: Deployment,
    role: &'static spoor_server::Role<AppState>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let metrics = Arc::new(Telemetry::new(env!("CARGO_PKG_VERSION")));
    // One bounded pool for the CPU-heavy work of queries in every layer
    // (engine decoding, adjusters, answer encoding; ADR 0020).
    let cpu = spoor_storage::CpuPool::default();
    let tenancy = config.net.security.tenancy.clone();
    if let Some(t) = &tenancy {
        anyhow::ensure!(
            matches!(deployment, Deployment::AllInOne),
            "security.tenancy is supported by all-in-one only for now: `spoor {}` keeps one tenant \
             (remove security.tenancy from its configuration)",
            deployment.name()
        );
        t.validate().context("invalid security.tenancy")?;
    }
    let mut engines: Vec<Arc<spoor_engine::Engine>> = Vec::new();
    // Without tenancy one store; with it, each tenant's own, in order.
    let mut stores: Vec<(String, Readers)> = Vec::new();
    match &tenancy {
        None => {
            let (readers, engine) = open_storage(&config.storage, &deployment, &cpu).await?;
            engines.extend(engine);
            stores.push((String::new(), readers));
        }
        Some(t) => {
            for name in &t.tenants {
                let storage =
                    tenant_storage(&config.storage, name, &t.limits_of(name), t.tenants.len())?;
                let (readers, engine) = open_storage(&storage, &deployment, &cpu)
                    .await
                    .with_context(|| format!("cannot open the store of tenant {name:?}"))?;
                engines.extend(engine);
                stores.push((name.clone(), readers));
            }
            tracing::info!(tenants = ?t.tenants, header = %t.header, "tenancy: each tenant its own store");
        }
    }
    let engine: Option<Arc<dyn spoor_storage::StorageStatus>> = match engines.as_slice() {
        [] => None,
        [one] => Some(one.clone()),
        many => Some(Arc::new(TenantsStatus(many.to_vec()))),
    };
    if let Some(status) = &engine {
        metrics.set_storage_status(status.clone());
    }
    // The plain bytes, plus the decoded spans' reservation (ADR 0017).
    let largest_request = config
        .max_decompressed_bytes
        .saturating_mul(1 + spoor_server::admission::DECODED_CONTENT_FACTOR)
        .saturating_add(
            config
                .max_spans_per_request
                .saturating_mul(spoor_server::admission::DECODED_SPAN_BYTES),
        );
    if config.max_bytes_in_flight < largest_request {
        tracing::warn!(
            max_bytes_in_flight = config.max_bytes_in_flight,
            max_decompressed_bytes = config.max_decompressed_bytes,
            max_spans_per_request = config.max_spans_per_request,
            "the ingest memory budget is smaller than the largest request it may have to hold \
             (twice max_decompressed_bytes + 1 KiB per span): such requests are refused with 413 (ADR 0017)"
        );
    }
    let services = |(writer, reader, deps, red): Readers, max_bytes_in_flight: usize| {
        let ingester = Arc::new(Ingester::new(
            writer,
            metrics.clone(),
            IngestOptions {
                max_bytes_in_flight,
            },
        ));
        let query = Arc::new(
            QueryService::new(
                reader,
                Some(deps),
                QueryOptions {
                    adjust: AdjustOptions {
                        max_clock_skew_adjust: Duration::from_nanos(
                            config.max_clock_skew_adjust_nanos,
                        ),
                    },
                    max_trace_size: config.max_trace_size,
                },
            )
            .with_red_stats(red)
            .with_cpu(cpu.clone()),
        );
        (query, ingester)
    };
    let tenant_metrics = tenancy.as_ref().map(|t| {
        let m = Arc::new(spoor_server::tenancy::TenantMetrics::new(&t.tenants));
        metrics.add_extra(m.clone());
        m
    });
    let mut tenant_services = Vec::new();
    let mut tenant_services_built: Vec<(Arc<QueryService>, Arc<Ingester>)> = Vec::new();
    for (name, (writer, reader, deps, red)) in stores {
        let (writer, max_bytes) = match (&tenancy, &tenant_metrics) {
            (Some(t), Some(m)) => {
                let limits = t.limits_of(&name);
                let writer: Arc<dyn spoor_storage::SpanWriter> = Arc::new(
                    spoor_server::tenancy::TenantWriter::new(&name, writer, &limits, m.clone()),
                );
                let max_bytes = limits
                    .max_bytes_in_flight
                    .unwrap_or(config.max_bytes_in_flight);
                let concurrent = limits
                    .query_max_concurrent
                    .unwrap_or(config.query_max_concurrent);
                tenant_services.push((name.clone(), concurrent));
                (writer, max_bytes)
            }
            _ => (writer, config.max_bytes_in_flight),
        };
        let built = services((writer, reader, deps, red), max_bytes);
        tenant_services_built.push(built);
    }
    // The first (or only) store serves the process-wide state: the single
    // tenant, or under tenancy what needs no tenant (the UI's capabilities).
    let (query, ingester) = tenant_services_built
        .first()
        .cloned()
        .context("no store was opened")?;
    let server_config = ServerConfig {
        listeners: config.listeners.clone(),
        udp: UdpConfig {
            queue_size: config.udp_queue_size,
            workers: config.udp_workers,
            max_packet_bytes: config.udp_max_packet_bytes,
        },
        limits: Limits {
            max_request_bytes: config.max_request_bytes,
            max_decompressed_bytes: config.max_decompressed_bytes,
            max_spans_per_request: config.max_spans_per_request,
        },
        query_limits: spoor_server::QueryLimits {
            max_limit: config.query_max_limit,
            max_concurrent: config.query_max_concurrent,
            queue_timeout: Duration::from_nanos(config.query_queue_timeout_nanos),
        },
        base_path: config.base_path.clone(),
        retry_after_secs: 1,
        ui: spoor_server::ui::UiConfig {
            menu: config.ui_menu_links.clone(),
            archive: false,
            // The query router always serves `/api/export`.
            export: true,
        },
        net: spoor_server::net::NetConfig {
            max_connections_total: connection_fd_budget(),
            ..config.net.clone()
        },
    };
    let sampling = spoor_server::sampling::build_provider(
        config.sampling.strategies.as_deref(),
        SamplingOptions {
            default_probability: config.sampling.default_probability,
            reload_interval: Duration::from_nanos(config.sampling.reload_interval_nanos),
            merge_rules: MergeRules::Jaeger,
        },
    )
    .await
    .context("cannot load the sampling strategies")?;
    let mut state =
        AppState::new(query, ingester, metrics, &server_config).with_sampling(sampling.clone());
    if let Some(dir) = &config.ui_assets {
        let ui = spoor_server::jaeger_ui::JaegerUiAssets::open(dir, config.ui_config.as_deref())
            .with_context(|| format!("cannot serve the Jaeger UI build in {}", dir.display()))?;
        tracing::info!(ui_assets = %dir.display(), ui_config = ?config.ui_config, "serving a Jaeger UI build");
        state = state.with_jaeger_ui(Arc::new(ui));
    }
    if let Some(status) = &engine {
        state = state.with_storage_status(status.clone());
    }
    // A collector is never under tenancy (refused above): one engine.
    if let Some(engine) = engines.first().filter(|_| tenancy.is_none())
        && let Deployment::Collector { .. } = deployment
    {
        state = state.with_cluster_head(spoor_server::cluster::ClusterHead {
            reader: engine.clone(),
            dependencies: engine.clone(),
            red: engine.clone(),
            recent: engine.clone(),
        });
    }
    if let (Some(t), Some(m)) = (&tenancy, tenant_metrics) {
        let mut states = std::collections::HashMap::new();
        for ((name, concurrent), (query, ingester)) in
            tenant_services.into_iter().zip(tenant_services_built)
        {
            states.insert(
                name,
                Arc::new(state.for_tenant(query, ingester, concurrent)),
            );
        }
        let tenants = spoor_server::tenancy::Tenants::new(t, states, m)
            .context("invalid security.tenancy")?;
        state = state.with_tenants(Arc::new(tenants));
    }
    let state = Arc::new(state);
    let bound = spoor_server::bind_role(role, &server_config).await?;
    let token = CancellationToken::new();
    tokio::spawn(sampling.run_reloader(token.clone().cancelled_owned()));
    let mut serve = tokio::spawn(spoor_server::serve(bound, state, token.clone()));
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        role = deployment.name(),
        "spoor started"
    );
    tokio::select! {
        _ = shutdown => {}
        finished = &mut serve => {
            // A server stopped on its own: that is a failure.
            return match finished {
                Ok(Ok(())) => Err(anyhow::anyhow!("server stopped unexpectedly")),
                Ok(Err(e)) => Err(e).context("server failed"),
                Err(e) => Err(anyhow::anyhow!("server task failed: {e}")),
            };
        }
    }
    tracing::info!("shutting down");
    token.cancel();
    match tokio::time::timeout(Duration::from_secs(10), serve).await {
        Ok(Ok(result)) => result.context("server failed")?,
        Ok(Err(e)) => return Err(anyhow::anyhow!("server task failed: {e}")),
        Err(_) => tracing::warn!("in-flight requests did not finish within 10s"),
    }
    for engine in engines {
        // Flush the head and stop background work; the WAL already holds
        // every acknowledged span, so this only shortens the next start.
        if let Err(e) = engine.close().await {
            tracing::warn!(error = %e, "closing the storage engine failed");
        }
    }
    tracing::info!("stopped");
    Ok(())
}
