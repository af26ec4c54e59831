//! The `spoor` binary: command line, configuration, wiring and shutdown.
//!
//! `spoor` with no subcommand runs everything in one process (all-in-one):
//! the OTLP receivers, the storage backend, the query APIs, the web UI and
//! the admin endpoints.

pub mod config;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use spoor_server::{AppState, Limits, ServerConfig};
use spoor_service::{AdjustOptions, IngestOptions, Ingester, Metrics, QueryOptions, QueryService};
use spoor_storage::memory::MemoryStore;
use tokio_util::sync::CancellationToken;

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
    #[command(flatten)]
    pub run: RunArgs,
}

/// Entry point shared by `main` and tests.
pub fn main_with_args(cli: Cli) -> Result<()> {
    let config = Config::load(&cli.run)?;
    init_logging(&config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("spoor")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run(config, shutdown_signal()))
}

fn init_logging(config: &Config) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .with_context(|| format!("invalid log filter {:?}", config.log))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let result = if config.log_json {
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

/// Runs all-in-one until `shutdown` resolves.
pub async fn run(config: Config, shutdown: impl std::future::Future<Output = ()>) -> Result<()> {
    let metrics = Arc::new(Metrics::new(env!("CARGO_PKG_VERSION")));
    let (writer, reader, deps) = match config.storage {
        Storage::Memory { max_traces } => {
            let store = Arc::new(MemoryStore::new(max_traces));
            tracing::info!(max_traces, "storage: in-memory");
            (
                store.clone() as Arc<dyn spoor_storage::SpanWriter>,
                store.clone() as Arc<dyn spoor_storage::TraceReader>,
                store as Arc<dyn spoor_storage::DependencyReader>,
            )
        }
    };
    let ingester = Arc::new(Ingester::new(
        writer,
        metrics.clone(),
        IngestOptions {
            max_bytes_in_flight: config.max_bytes_in_flight,
        },
    ));
    let query = Arc::new(QueryService::new(
        reader,
        Some(deps),
        QueryOptions {
            adjust: AdjustOptions {
                max_clock_skew_adjust: Duration::from_nanos(config.max_clock_skew_adjust_nanos),
            },
            max_trace_size: config.max_trace_size,
        },
    ));
    let server_config = ServerConfig {
        otlp_grpc_addr: config.otlp_grpc,
        otlp_http_addr: config.otlp_http,
        query_http_addr: config.query_http,
        admin_http_addr: config.admin_http,
        limits: Limits {
            max_request_bytes: config.max_request_bytes,
            max_decompressed_bytes: config.max_decompressed_bytes,
        },
        base_path: config.base_path.clone(),
        retry_after_secs: 1,
    };
    let state = Arc::new(AppState::new(query, ingester, metrics, &server_config));
    let bound = spoor_server::bind_all(&server_config).await?;
    let token = CancellationToken::new();
    let mut serve = tokio::spawn(spoor_server::serve(bound, state, token.clone()));
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "spoor started");
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
    tracing::info!("stopped");
    Ok(())
}
