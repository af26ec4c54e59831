//! Spoor's network surfaces: the only crate that knows HTTP, gRPC and JSON.
//!
//! - OTLP receivers: gRPC `TraceService/Export` ([`otlp`]) and HTTP `POST /v1/traces`.
//! - The query HTTP server: Jaeger's `/api/*` ([`api_legacy`]) and `/api/v3/*`
//!   ([`api_v3`]) JSON APIs, and the web UI ([`ui`]).
//! - The admin server: health `GET /status` and Prometheus `GET /metrics` ([`admin`]).
//!
//! Every handler turns wire input into model values through `spoor-codec`,
//! calls `spoor-service`, and maps failures to statuses in one place
//! ([`error`]).

pub mod admin;
pub mod api_legacy;
pub mod api_v3;
mod body;
mod cpu;
pub mod error;
pub mod otlp;
pub mod params;
pub mod ui;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use spoor_service::{Ingester, Metrics, QueryService};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use cpu::CpuPool;

/// Size limits applied to every receiver.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request body accepted on the wire (HTTP) or message (gRPC), in bytes.
    pub max_request_bytes: usize,
    /// Largest body after decompression, in bytes.
    pub max_decompressed_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: 16 << 20,
            max_decompressed_bytes: 64 << 20,
        }
    }
}

/// Where each listener binds and how the query server behaves.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub otlp_grpc_addr: SocketAddr,
    pub otlp_http_addr: SocketAddr,
    pub query_http_addr: SocketAddr,
    pub admin_http_addr: SocketAddr,
    pub limits: Limits,
    /// URL prefix of the query server and UI (`/` or `/jaeger`).
    pub base_path: String,
    /// Value for the `Retry-After` header when the pipeline is full, in seconds.
    pub retry_after_secs: u32,
}

/// Shared state handed to every handler.
pub struct AppState {
    pub query: Arc<QueryService>,
    pub ingester: Arc<Ingester>,
    pub metrics: Arc<Metrics>,
    pub cpu: CpuPool,
    pub limits: Limits,
    pub retry_after_secs: u32,
    pub base_path: String,
    pub started_at: SystemTime,
    ready: AtomicBool,
}

impl AppState {
    pub fn new(
        query: Arc<QueryService>,
        ingester: Arc<Ingester>,
        metrics: Arc<Metrics>,
        config: &ServerConfig,
    ) -> Self {
        AppState {
            query,
            ingester,
            metrics,
            cpu: CpuPool::new(std::thread::available_parallelism().map_or(2, |n| n.get())),
            limits: config.limits,
            retry_after_secs: config.retry_after_secs,
            base_path: normalize_base_path(&config.base_path),
            started_at: SystemTime::now(),
            ready: AtomicBool::new(false),
        }
    }

    /// Whether all listeners are up and the server is not shutting down.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }
}

/// `/` stays empty; `jaeger/` becomes `/jaeger`.
pub fn normalize_base_path(p: &str) -> String {
    let trimmed = p.trim().trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}

/// A listener that could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{what} server failed: {message}")]
    Serve { what: &'static str, message: String },
}

/// Listeners bound and ready to serve.
pub struct Bound {
    otlp_grpc: TcpListener,
    otlp_http: TcpListener,
    query_http: TcpListener,
    admin_http: TcpListener,
}

impl Bound {
    /// The addresses actually bound (useful when a port was 0).
    pub fn addrs(&self) -> BoundAddrs {
        let a = |l: &TcpListener| l.local_addr().ok();
        BoundAddrs {
            otlp_grpc: a(&self.otlp_grpc),
            otlp_http: a(&self.otlp_http),
            query_http: a(&self.query_http),
            admin_http: a(&self.admin_http),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct BoundAddrs {
    pub otlp_grpc: Option<SocketAddr>,
    pub otlp_http: Option<SocketAddr>,
    pub query_http: Option<SocketAddr>,
    pub admin_http: Option<SocketAddr>,
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { what, addr, source })
}

/// Binds every listener, so that a busy port is reported before anything runs.
pub async fn bind_all(config: &ServerConfig) -> Result<Bound, ServerError> {
    Ok(Bound {
        otlp_grpc: bind("OTLP gRPC", config.otlp_grpc_addr).await?,
        otlp_http: bind("OTLP HTTP", config.otlp_http_addr).await?,
        query_http: bind("query HTTP", config.query_http_addr).await?,
        admin_http: bind("admin HTTP", config.admin_http_addr).await?,
    })
}

/// Serves every surface until `shutdown` is cancelled, then drains in-flight
/// requests and returns.
pub async fn serve(
    bound: Bound,
    state: Arc<AppState>,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    let addrs = bound.addrs();
    tracing::info!(
        otlp_grpc = ?addrs.otlp_grpc,
        otlp_http = ?addrs.otlp_http,
        query_http = ?addrs.query_http,
        admin_http = ?addrs.admin_http,
        "listening"
    );
    let http = |what: &'static str, listener: TcpListener, router: axum::Router| {
        let token = shutdown.clone();
        async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(token.cancelled_owned())
                .await
                .map_err(|e| ServerError::Serve {
                    what,
                    message: e.to_string(),
                })
        }
    };
    state.set_ready(true);
    let result = tokio::try_join!(
        otlp::serve_grpc(bound.otlp_grpc, state.clone(), shutdown.clone()),
        http(
            "OTLP HTTP",
            bound.otlp_http,
            otlp::http_router(state.clone())
        ),
        http("query HTTP", bound.query_http, query_router(state.clone())),
        http("admin HTTP", bound.admin_http, admin::router(state.clone())),
    );
    state.set_ready(false);
    result.map(|_| ())
}

/// The query server: `/api/*`, `/api/v3/*` and the UI, under the base path.
pub fn query_router(state: Arc<AppState>) -> axum::Router {
    let api = api_legacy::router(state.clone()).merge(api_v3::router(state.clone()));
    let app = api.merge(ui::router(state.clone()));
    let base = state.base_path.clone();
    if base.is_empty() {
        app
    } else {
        axum::Router::new().nest(&base, app)
    }
}
