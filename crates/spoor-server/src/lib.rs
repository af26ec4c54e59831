//! Spoor's network surfaces: the only crate that knows HTTP, gRPC and JSON.
//!
//! - OTLP receivers: gRPC `TraceService/Export` ([`otlp`]) and HTTP `POST /v1/traces`.
//! - Jaeger receivers ([`jaeger`]): Thrift over UDP and HTTP, gRPC `PostSpans`;
//!   the Zipkin receiver ([`zipkin`]): v1 and v2, JSON, Thrift and protobuf.
//! - The query HTTP server: Jaeger's `/api/*` ([`api_legacy`]) and `/api/v3/*`
//!   ([`api_v3`]) JSON APIs, and the web UI ([`ui`]).
//! - The admin server: health `GET /status` and Prometheus `GET /metrics` ([`admin`]).
//!
//! Which listeners a process serves, and how, is written out once: the
//! table of listeners in [`listeners`] and one list per role in [`roles`]
//! (all-in-one, `spoor agent`); a new listener or role goes there.
//!
//! Every handler turns wire input into model values through `spoor-codec`,
//! calls `spoor-service`, and maps failures to statuses in one place
//! ([`error`]).

pub mod admin;
pub mod admission;
pub mod agent;
pub mod api_legacy;
pub mod api_spm;
pub mod api_v3;
pub mod auth;
mod body;
pub mod cluster;
pub mod error;
pub mod export;
mod grpc_ingest;
mod ingest;
pub mod jaeger;
pub mod jaeger_ui;
pub mod listeners;
pub mod net;
pub mod otlp;
pub mod params;
pub mod query_grpc;
pub mod roles;
pub mod sampling;
pub mod security;
pub mod tenancy;
#[cfg(test)]
mod test_support;
pub mod ui;
pub mod zipkin;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use spoor_service::{Ingester, QueryService, Telemetry};
use std::future::Future;
use std::pin::Pin;

use tokio_util::sync::CancellationToken;

pub use listeners::{Bound, LISTENERS, Listener, ListenerAddrs, ListenerSpec, Role, RoleListener};
pub use spoor_storage::CpuPool;

/// Size limits applied to every receiver.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request body accepted on the wire (HTTP) or message (gRPC), in bytes.
    pub max_request_bytes: usize,
    /// Largest body after decompression, in bytes.
    pub max_decompressed_bytes: usize,
    /// Most spans accepted in one request (`0` = no cap).
    pub max_spans_per_request: usize,
}

/// Default of [`Limits::max_spans_per_request`]: a full 16 MiB request of
/// realistic spans (150 bytes and more each) holds about 100,000 spans, far
/// more than any SDK or collector batch (512 and 8,192 by default).
pub const DEFAULT_MAX_SPANS_PER_REQUEST: usize = 100_000;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: 16 << 20,
            max_decompressed_bytes: 64 << 20,
            max_spans_per_request: DEFAULT_MAX_SPANS_PER_REQUEST,
        }
    }
}

/// Bounds on the query server's working memory.
#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    /// Largest `limit` a search may ask for; beyond it the search is
    /// refused with 400 (`0` = no maximum).
    pub max_limit: usize,
    /// Heavy queries (searches, trace fetches, exports) running at once
    /// (`0` = unlimited); further ones wait up to `queue_timeout`.
    pub max_concurrent: usize,
    /// How long a heavy query waits for a slot before 503 + `Retry-After`.
    pub queue_timeout: std::time::Duration,
}

/// Default of [`QueryLimits::max_limit`]: the largest choice of Jaeger UI's
/// "Limit Results" field.
pub const DEFAULT_QUERY_MAX_LIMIT: usize = 1500;

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            max_limit: DEFAULT_QUERY_MAX_LIMIT,
            max_concurrent: 8,
            queue_timeout: std::time::Duration::from_secs(10),
        }
    }
}

/// Where each listener binds (`None` = off) and how the servers behave.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    /// Each listener's address ([`listeners::LISTENERS`]); `None` = off.
    pub listeners: ListenerAddrs,
    pub limits: Limits,
    /// Bounds on the query server's working memory.
    pub query_limits: QueryLimits,
    pub udp: UdpConfig,
    /// URL prefix of the query server and UI (`/` or `/jaeger`).
    pub base_path: String,
    /// Value for the `Retry-After` header when the pipeline is full, in seconds.
    pub retry_after_secs: u32,
    /// What the web UI is told: capabilities and extra menu links.
    pub ui: ui::UiConfig,
    /// Timeouts, connection limits, Host and Origin checks of TCP listeners.
    pub net: net::NetConfig,
}

/// How UDP receivers queue and decode datagrams.
#[derive(Debug, Clone, Copy)]
pub struct UdpConfig {
    /// Datagrams queued for decoding; beyond it new ones are dropped and counted.
    pub queue_size: usize,
    /// Tasks decoding datagrams.
    pub workers: usize,
    /// Largest datagram accepted, in bytes.
    pub max_packet_bytes: usize,
}

impl Default for UdpConfig {
    fn default() -> Self {
        UdpConfig {
            queue_size: 1000,
            workers: 4,
            max_packet_bytes: 65_000,
        }
    }
}

/// Shared state handed to every handler.
pub struct AppState {
    pub query: Arc<QueryService>,
    pub ingester: Arc<Ingester>,
    pub metrics: Arc<Telemetry>,
    pub cpu: CpuPool,
    pub limits: Limits,
    /// Bounds on the query server's working memory.
    pub query_limits: QueryLimits,
    /// Slots for heavy queries (`None` = unlimited).
    pub heavy_queries: Option<Arc<tokio::sync::Semaphore>>,
    /// How the UDP receivers queue and decode datagrams.
    pub udp: UdpConfig,
    /// Answers remote sampling requests (HTTP 5778, gRPC 5779 and 14250).
    pub sampling: Arc<dyn spoor_service::sampling::StrategyProvider>,
    pub retry_after_secs: u32,
    pub base_path: String,
    /// Injected into the web UI's `index.html`.
    pub ui: ui::UiConfig,
    pub started_at: SystemTime,
    /// Connection protection of the TCP listeners and its counters.
    pub net: Arc<net::NetState>,
    ready: AtomicBool,
    /// The storage backend's health (`/status`, `/ready`), when it reports one.
    pub storage: Option<Arc<dyn spoor_storage::StorageStatus>>,
    /// What `spoor collector` serves queriers on its internal API (ADR 0025).
    pub cluster: Option<cluster::ClusterHead>,
    /// A Jaeger UI build served instead of Spoor's UI (`--ui-assets`).
    pub jaeger_ui: Option<Arc<jaeger_ui::JaegerUiAssets>>,
    /// Tenants kept apart (`security.tenancy`): each tenant's own state,
    /// which the ingest and query listeners serve per request
    /// ([`tenancy`]). `None`: one tenant, this state.
    pub tenants: Option<Arc<tenancy::Tenants>>,
}

impl AppState {
    pub fn new(
        query: Arc<QueryService>,
        ingester: Arc<Ingester>,
        metrics: Arc<Telemetry>,
        config: &ServerConfig,
    ) -> Self {
        AppState {
            cpu: query.cpu().clone(),
            query,
            ingester,
            metrics,
            limits: config.limits,
            query_limits: config.query_limits,
            heavy_queries: (config.query_limits.max_concurrent > 0).then(|| {
                Arc::new(tokio::sync::Semaphore::new(
                    config.query_limits.max_concurrent,
                ))
            }),
            udp: config.udp,
            sampling: Arc::new(spoor_service::sampling::SamplingProvider::with_defaults(
                spoor_service::sampling::SamplingOptions::default(),
            )),
            retry_after_secs: config.retry_after_secs,
            base_path: normalize_base_path(&config.base_path),
            ui: config.ui.clone(),
            started_at: SystemTime::now(),
            net: Arc::new(net::NetState::new(config.net.clone())),
            ready: AtomicBool::new(false),
            storage: None,
            cluster: None,
            jaeger_ui: None,
            tenants: None,
        }
    }

    /// One tenant's state: this state's settings over the tenant's own
    /// query service and ingester, with its own heavy-query slots
    /// (`max_concurrent`, `0` = unlimited).
    pub fn for_tenant(
        &self,
        query: Arc<QueryService>,
        ingester: Arc<Ingester>,
        max_concurrent: usize,
    ) -> AppState {
        AppState {
            cpu: self.cpu.clone(),
            query,
            ingester,
            metrics: self.metrics.clone(),
            limits: self.limits,
            query_limits: QueryLimits {
                max_concurrent,
                ..self.query_limits
            },
            heavy_queries: (max_concurrent > 0)
                .then(|| Arc::new(tokio::sync::Semaphore::new(max_concurrent))),
            udp: self.udp,
            sampling: self.sampling.clone(),
            retry_after_secs: self.retry_after_secs,
            base_path: self.base_path.clone(),
            ui: self.ui.clone(),
            started_at: self.started_at,
            net: self.net.clone(),
            ready: AtomicBool::new(false),
            storage: self.storage.clone(),
            cluster: None,
            jaeger_ui: self.jaeger_ui.clone(),
            tenants: None,
        }
    }

    /// The same state keeping `tenants` apart.
    pub fn with_tenants(mut self, tenants: Arc<tenancy::Tenants>) -> Self {
        self.tenants = Some(tenants);
        self
    }

    /// The same state answering sampling requests from `provider` (by
    /// default every service is told to sample everything).
    pub fn with_sampling(
        mut self,
        provider: Arc<dyn spoor_service::sampling::StrategyProvider>,
    ) -> Self {
        self.sampling = provider;
        self
    }

    /// A slot for a heavy query (search, trace fetch, export), waiting up to
    /// `query_limits.queue_timeout` for one; held until the answer is
    /// written. `None` when heavy queries are not limited.
    pub async fn heavy_query_slot(
        &self,
    ) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, error::QueryBusy> {
        let Some(sem) = &self.heavy_queries else {
            return Ok(None);
        };
        match tokio::time::timeout(self.query_limits.queue_timeout, sem.clone().acquire_owned())
            .await
        {
            Ok(Ok(permit)) => Ok(Some(permit)),
            _ => {
                tracing::debug!(
                    max_concurrent = self.query_limits.max_concurrent,
                    "heavy query refused: all slots busy"
                );
                Err(error::QueryBusy)
            }
        }
    }

    /// The same state reporting `status`'s health on `/status` and `/ready`.
    pub fn with_storage_status(mut self, status: Arc<dyn spoor_storage::StorageStatus>) -> Self {
        self.storage = Some(status);
        self
    }

    /// Serves the Jaeger UI build `ui` instead of Spoor's UI.
    pub fn with_jaeger_ui(mut self, ui: Arc<jaeger_ui::JaegerUiAssets>) -> Self {
        self.jaeger_ui = Some(ui);
        self
    }

    /// Serves `head` on the internal API (`spoor collector`).
    pub fn with_cluster_head(mut self, head: cluster::ClusterHead) -> Self {
        self.cluster = Some(head);
        self
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
    /// The OS error is part of the message, not a `source`, so that a
    /// report of the error chain does not print it twice.
    #[error("cannot listen on {addr} ({what}): {error}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error("{what} server failed: {message}")]
    Serve { what: &'static str, message: String },
}

/// Binds every configured listener of all-in-one ([`roles::ALL_IN_ONE`]),
/// so that a busy port is reported before anything runs.
pub async fn bind_all(config: &ServerConfig) -> Result<Bound, ServerError> {
    bind_role(&roles::ALL_IN_ONE, config).await
}

/// Binds every listener of `role` that `config` turns on.
pub async fn bind_role(
    role: &'static listeners::Role<AppState>,
    config: &ServerConfig,
) -> Result<Bound, ServerError> {
    role.bind(&config.listeners).await
}

/// A server running until shutdown.
pub type ServeTask = Pin<Box<dyn Future<Output = Result<(), ServerError>> + Send>>;

/// Serves an axum router on `listener` until `shutdown`, with the
/// listener's timeouts, connection limit and Host/Origin checks ([`net`]).
pub fn serve_http(
    what: &'static str,
    listener: impl Into<net::ProtectedListener>,
    router: axum::Router,
    shutdown: CancellationToken,
) -> ServeTask {
    let listener = listener.into();
    Box::pin(async move {
        net::http::serve(listener, router, shutdown)
            .await
            .map_err(|e| ServerError::Serve {
                what,
                message: e.to_string(),
            })
    })
}

/// Serves every bound surface until `shutdown` is cancelled, then drains
/// in-flight requests and returns.
pub async fn serve(
    bound: Bound,
    state: Arc<AppState>,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    tracing::info!(listeners = ?bound.addrs(), "listening");
    let limit = state.net.per_listener_limit(bound.tcp_listeners());
    let c = &state.net.config;
    tracing::info!(
        per_listener = limit,
        total = ?c.max_connections_total,
        header_timeout = ?c.header_timeout,
        body_timeout = ?c.body_timeout,
        idle_timeout = ?c.idle_timeout,
        "connection limits and timeouts"
    );
    // Authentication: its files are read now, so that a mistake stops the
    // start; the UI login's sessions authenticate on the query group.
    let auth = state.net.auth().map_err(|e| ServerError::Serve {
        what: "authentication",
        message: e.to_string(),
    })?;
    if let Some(login) = &state.net.login {
        auth.set_login(login.sessions().clone(), &state.base_path);
    }
    warn_unprotected(&bound, &c.security);
    let tasks = bound.serve_tasks(&state, &state.net, limit, &shutdown);
    state.set_ready(true);
    let result = futures::future::try_join_all(tasks).await;
    state.set_ready(false);
    result.map(|_| ())
}

/// Warns about every TCP listener reachable from other machines (bound to
/// a non-loopback address) whose group has no authentication, and every
/// UDP receiver so bound: anyone who reaches them can read or write traces
/// (docs/security.md).
fn warn_unprotected(bound: &Bound, security: &security::SecurityConfig) {
    for (name, addr) in bound.addrs() {
        if addr.ip().is_loopback() {
            continue;
        }
        let Some(spec) = LISTENERS.iter().find(|s| s.name == name) else {
            continue;
        };
        if spec.transport == listeners::Transport::Udp {
            tracing::warn!(
                listener = name,
                %addr,
                "a UDP receiver is reachable from other machines and cannot authenticate: expose it only inside a trusted network"
            );
            continue;
        }
        let authenticated = security
            .auth
            .group(spec.group)
            .is_some_and(|g| g.has_method())
            || (spec.group == security::Group::Query && security.login.is_some());
        if !authenticated {
            tracing::warn!(
                listener = name,
                %addr,
                group = spec.group.name(),
                "listener reachable from other machines without authentication: configure security.auth.{} (docs/security.md)",
                spec.group.name()
            );
        }
    }
}

/// The query server: `/api/*`, `/api/v3/*` and the UI, under the base path;
/// under tenancy the API per tenant ([`tenancy`]).
pub fn query_router(state: Arc<AppState>) -> axum::Router {
    tenancy::http_router(state, query_routes, tenancy::Scope::Api)
}

fn query_routes(state: Arc<AppState>) -> axum::Router {
    let api = api_legacy::router(state.clone())
        .merge(api_spm::router(state.clone()))
        .merge(api_v3::router(state.clone()));
    let mut api = api.merge(export::router(state.clone()));
    if state.net.login.is_some() {
        // The web UI's own login (`security.login`): `/login`, its callback, `/logout`.
        api = api.merge(auth::login::router(state.clone()));
    }
    let app = api.merge(ui::router(state.clone()));
    let base = state.base_path.clone();
    if base.is_empty() {
        app
    } else {
        // `nest` leaves `{base}/` unrouted; the UI answers it.
        axum::Router::new()
            .nest(&base, app)
            .merge(ui::base_slash_router(state, &base))
            .fallback(ui::outside_base_path)
    }
}
