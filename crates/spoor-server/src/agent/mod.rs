//! `spoor agent`'s surfaces (the server layer of the agent): the Jaeger
//! UDP receivers feeding a [`Forwarder`], the sampling HTTP port, the admin
//! server, and [`run_agent`], which runs them. Which listeners the agent has
//! (and their default ports) is its list in [`crate::roles::AGENT`], over
//! [`AgentState`]; [`AgentListeners::bind`] binds that list.
//!
//! The agent has three layers, one per crate:
//! - `spoor::roles::agent`: the command line (`spoor agent` flags and
//!   `SPOOR_AGENT_*`) turned into an [`AgentConfig`], logging, signals;
//! - this module: listeners and wiring, with [`exporter`] (batches sent on
//!   to the collector over `spoor-client`'s gRPC sender: Jaeger api_v2
//!   `CollectorService/PostSpans` or OTLP `TraceService/Export`) and
//!   [`sampling_proxy`] (strategies asked from the collector's
//!   `SamplingManager`, cached briefly);
//! - `spoor_service::forward`: the protocol-neutral buffer between the
//!   receivers and the exporter, with its retries
//!   (`spoor_service::retry`).

pub mod exporter;
pub mod sampling_proxy;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::routing::get;
use spoor_client::ClientSecurity;
use spoor_client::grpc::GrpcChannel;
use spoor_service::forward::{Exporter, Forwarder, ForwarderOptions};
use spoor_service::sampling::StrategyProvider;
use spoor_service::{BatchSink, Telemetry};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

pub use exporter::{JaegerGrpcExporter, OtlpGrpcExporter, classify};
pub use sampling_proxy::CollectorSamplingProxy;

use crate::jaeger::ThriftProtocol;
use crate::listeners::{Bound, ListenerAddrs};
use crate::net::{NetConfig, NetState};
use crate::roles::AGENT;
use crate::{ServeTask, ServerError, UdpConfig, admin};

/// How long a connection attempt to the collector may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Which protocol the agent speaks to its collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectorProtocol {
    /// Jaeger api_v2 gRPC `CollectorService/PostSpans` (default port 14250).
    Jaeger,
    /// OTLP gRPC `TraceService/Export` (default port 4317).
    Otlp,
}

impl CollectorProtocol {
    /// The collector's default port for this protocol.
    pub fn default_port(self) -> u16 {
        match self {
            CollectorProtocol::Jaeger => 14250,
            CollectorProtocol::Otlp => 4317,
        }
    }
}

/// A gRPC channel to `host_port` (`HOST:PORT`, TLS when `security` has TLS
/// options), connected on first use (`spoor-client`'s one channel
/// construction), with `security`'s credentials on every call.
pub fn lazy_channel(
    host_port: &str,
    request_timeout: Duration,
    security: &ClientSecurity,
) -> Result<GrpcChannel, String> {
    spoor_client::grpc::lazy_channel_to(host_port, CONNECT_TIMEOUT, request_timeout, security)
}

/// The agent's admin server: `GET /status` (also `/` and `/health`) and
/// `GET /metrics` (the receivers' and the forwarder's series).
pub fn admin_router(
    metrics: Arc<Telemetry>,
    forwarder: Arc<Forwarder>,
    started_at: SystemTime,
    ready: Arc<AtomicBool>,
) -> Router {
    let health = move || {
        let ready = ready.clone();
        async move { admin::health_response(started_at, ready.load(Ordering::Relaxed)) }
    };
    let prometheus = move || {
        let (metrics, forwarder) = (metrics.clone(), forwarder.clone());
        async move {
            let mut text = metrics.render_prometheus();
            text.push_str(&forwarder.render_prometheus());
            admin::prometheus_response(text)
        }
    };
    Router::new()
        .route("/", get(health.clone()))
        .route("/status", get(health.clone()))
        .route("/health", get(health))
        .route("/metrics", get(prometheus))
}

/// Default port of the agent's admin server (Jaeger v1 agent's admin port;
/// all-in-one's is 13133).
pub const ADMIN_PORT: u16 = 14271;

/// Everything `spoor agent` needs to run.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Where each of the agent's listeners ([`crate::roles::AGENT`]: Jaeger
    /// compact and binary UDP, sampling HTTP, admin HTTP) binds; `None` =
    /// off. Addresses of other listeners are not read.
    pub listeners: ListenerAddrs,
    /// How the UDP receivers queue and decode datagrams.
    pub udp: UdpConfig,
    /// The collector, `HOST:PORT`.
    pub collector: String,
    /// The protocol spoken to it.
    pub protocol: CollectorProtocol,
    /// TLS and credentials of the connection to the collector.
    pub collector_security: ClientSecurity,
    /// TLS and credentials of the connection to the sampling endpoint
    /// (the collector's when it is the same address).
    pub sampling_security: ClientSecurity,
    /// Where sampling strategies are asked for (`HOST:PORT` of a
    /// `SamplingManager`).
    pub sampling_endpoint: String,
    /// How long a strategy from the collector is reused.
    pub sampling_cache_ttl: Duration,
    /// Deadline of each gRPC request to the collector.
    pub request_timeout: Duration,
    /// Buffering and retries.
    pub forwarder: ForwarderOptions,
}

/// What the agent's listeners share: their handlers' state in
/// [`crate::roles::AGENT`].
pub struct AgentState {
    /// How the UDP receivers queue and decode datagrams.
    pub udp: UdpConfig,
    /// Where received batches go.
    pub forwarder: Arc<Forwarder>,
    pub metrics: Arc<Telemetry>,
    /// Strategies asked from the collector.
    pub sampling: Arc<dyn StrategyProvider>,
    pub started_at: SystemTime,
    /// Whether every listener is up and the agent is not stopping.
    pub ready: Arc<AtomicBool>,
}

impl AgentState {
    /// Jaeger Thrift `emitBatch` datagrams on `socket` into the forwarder.
    pub fn serve_udp(
        self: Arc<Self>,
        socket: UdpSocket,
        protocol: ThriftProtocol,
        shutdown: CancellationToken,
    ) -> ServeTask {
        let sink: Arc<dyn BatchSink> = self.forwarder.clone();
        Box::pin(crate::jaeger::serve_udp(
            socket,
            protocol,
            self.udp,
            sink,
            self.metrics.clone(),
            shutdown,
        ))
    }

    /// The agent's admin server ([`admin_router`]).
    pub fn admin_router(self: Arc<Self>) -> Router {
        admin_router(
            self.metrics.clone(),
            self.forwarder.clone(),
            self.started_at,
            self.ready.clone(),
        )
    }
}

/// The agent's listeners, bound.
pub struct AgentListeners(Bound<AgentState>);

impl AgentListeners {
    /// Binds every configured listener, so that a busy port is reported first.
    pub async fn bind(config: &AgentConfig) -> Result<Self, ServerError> {
        AGENT.bind(&config.listeners).await.map(AgentListeners)
    }

    /// The addresses actually bound, by name.
    pub fn addrs(&self) -> Vec<(&'static str, SocketAddr)> {
        self.0.addrs()
    }
}

/// Runs the agent on `listeners` until `shutdown` is cancelled: stops the
/// receivers, then drains the forwarder (up to its drain timeout).
pub async fn run_agent(
    config: AgentConfig,
    listeners: AgentListeners,
    metrics: Arc<Telemetry>,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    let started_at = SystemTime::now();
    let channel = lazy_channel(
        &config.collector,
        config.request_timeout,
        &config.collector_security,
    )
    .map_err(|message| ServerError::Serve {
        what: "agent",
        message,
    })?;
    let exporter: Arc<dyn Exporter> = match config.protocol {
        CollectorProtocol::Jaeger => Arc::new(JaegerGrpcExporter::new(
            channel.clone(),
            &config.collector,
            config.request_timeout,
        )),
        CollectorProtocol::Otlp => Arc::new(OtlpGrpcExporter::new(
            channel.clone(),
            &config.collector,
            config.request_timeout,
        )),
    };
    let sampling_channel = if config.sampling_endpoint == config.collector
        && config.sampling_security == config.collector_security
    {
        channel
    } else {
        lazy_channel(
            &config.sampling_endpoint,
            config.request_timeout,
            &config.sampling_security,
        )
        .map_err(|message| ServerError::Serve {
            what: "agent",
            message,
        })?
    };
    let proxy: Arc<dyn StrategyProvider> = Arc::new(CollectorSamplingProxy::new(
        sampling_channel,
        &config.sampling_endpoint,
        config.sampling_cache_ttl,
    ));
    let forwarder = Forwarder::start(exporter, metrics.clone(), config.forwarder);
    let state = Arc::new(AgentState {
        udp: config.udp,
        forwarder: forwarder.clone(),
        metrics,
        sampling: proxy,
        started_at,
        ready: Arc::new(AtomicBool::new(false)),
    });
    tracing::info!(
        listeners = ?listeners.addrs(),
        collector = %config.collector,
        protocol = ?config.protocol,
        collector_tls = config.collector_security.tls.any_set(),
        sampling = %config.sampling_endpoint,
        sampling_tls = config.sampling_security.tls.any_set(),
        "agent listening"
    );

    // Receivers stop on `stop`; the forwarder drains after they are gone.
    // The HTTP listeners get the default timeouts and connection limit
    // (ADR 0018).
    let stop = CancellationToken::new();
    let net = NetState::new(NetConfig::default());
    let limit = net.per_listener_limit(listeners.0.tcp_listeners());
    let mut tasks = tokio::task::JoinSet::new();
    for task in listeners.0.serve_tasks(&state, &net, limit, &stop) {
        tasks.spawn(task);
    }
    state.ready.store(true, Ordering::Relaxed);

    let mut failure = None;
    tokio::select! {
        _ = shutdown.cancelled() => {}
        Some(done) = tasks.join_next() => {
            failure = Some(match done {
                Ok(Ok(())) => ServerError::Serve { what: "agent", message: "a listener stopped unexpectedly".into() },
                Ok(Err(e)) => e,
                Err(e) => ServerError::Serve { what: "agent", message: e.to_string() },
            });
        }
    }
    state.ready.store(false, Ordering::Relaxed);
    stop.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(done) = tasks.join_next().await {
            if let Ok(Err(e)) = done {
                tracing::warn!(error = %e, "agent listener failed while stopping");
            }
        }
    })
    .await;
    if stopped.is_err() {
        tracing::warn!("agent listeners did not stop within 10s");
        tasks.abort_all();
    }
    let stats = forwarder.shutdown().await;
    tracing::info!(
        sent_spans = stats.sent_spans,
        dropped_spans = stats.dropped_total(),
        "agent stopped"
    );
    failure.map_or(Ok(()), Err)
}
