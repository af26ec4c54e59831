//! `spoor agent`'s surfaces: the Jaeger UDP receivers feeding a
//! [`Forwarder`], sampling strategies proxied from the collector's gRPC
//! `SamplingManager` (with a short cache), the admin server, and the gRPC
//! exporters that send batches on to a collector: Jaeger api_v2
//! `CollectorService/PostSpans` or OTLP `TraceService/Export`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::routing::get;
use spoor_model::SpanRecord;
use spoor_model::sampling::SamplingStrategyResponse;
use spoor_proto::jaeger::api_v2 as pb;
use spoor_proto::jaeger::api_v2::collector_service_client::CollectorServiceClient;
use spoor_proto::jaeger::api_v2::sampling_manager_client::SamplingManagerClient;
use spoor_proto::otlp_collector::trace_service_client::TraceServiceClient;
use spoor_service::forward::{ExportError, Exporter, Forwarder, ForwarderOptions};
use spoor_service::sampling::{SamplingError, StrategyProvider};
use spoor_service::{BatchSink, Metrics};
use tokio::net::{TcpListener, UdpSocket};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};

use crate::jaeger::ThriftProtocol;
use crate::{ServerError, UdpConfig, admin, sampling, serve_http};

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

/// A gRPC channel to `host_port` (`HOST:PORT`), connected on first use.
pub fn lazy_channel(host_port: &str, request_timeout: Duration) -> Result<Channel, String> {
    let endpoint = Endpoint::from_shared(format!("http://{host_port}"))
        .map_err(|e| format!("invalid collector address {host_port:?}: {e}"))?
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(request_timeout)
        .tcp_nodelay(true);
    Ok(endpoint.connect_lazy())
}

/// Whether a failed gRPC call is worth retrying.
pub fn classify(status: &tonic::Status) -> ExportError {
    use tonic::Code;
    let message = format!("{:?}: {}", status.code(), status.message());
    match status.code() {
        Code::Cancelled
        | Code::Unknown
        | Code::DeadlineExceeded
        | Code::ResourceExhausted
        | Code::Aborted
        | Code::OutOfRange
        | Code::Internal
        | Code::Unavailable
        | Code::DataLoss => ExportError::Retryable(message),
        Code::Ok
        | Code::InvalidArgument
        | Code::NotFound
        | Code::AlreadyExists
        | Code::PermissionDenied
        | Code::FailedPrecondition
        | Code::Unimplemented
        | Code::Unauthenticated => ExportError::Permanent(message),
    }
}

/// Sends batches with Jaeger's `CollectorService/PostSpans`.
pub struct JaegerGrpcExporter {
    client: CollectorServiceClient<Channel>,
    target: String,
}

impl JaegerGrpcExporter {
    /// An exporter over `channel` to `target` (for messages).
    pub fn new(channel: Channel, target: impl Into<String>) -> Self {
        JaegerGrpcExporter {
            client: CollectorServiceClient::new(channel),
            target: target.into(),
        }
    }
}

#[tonic::async_trait]
impl Exporter for JaegerGrpcExporter {
    fn describe(&self) -> String {
        format!("jaeger gRPC {}", self.target)
    }

    async fn export(&self, spans: &[SpanRecord]) -> Result<(), ExportError> {
        let request = spoor_codec::jaeger_proto::to_post_spans(spans);
        self.client
            .clone()
            .post_spans(request)
            .await
            .map(|_| ())
            .map_err(|s| classify(&s))
    }
}

/// Sends batches with OTLP's `TraceService/Export`.
pub struct OtlpGrpcExporter {
    client: TraceServiceClient<Channel>,
    target: String,
}

impl OtlpGrpcExporter {
    /// An exporter over `channel` to `target` (for messages).
    pub fn new(channel: Channel, target: impl Into<String>) -> Self {
        OtlpGrpcExporter {
            client: TraceServiceClient::new(channel),
            target: target.into(),
        }
    }
}

#[tonic::async_trait]
impl Exporter for OtlpGrpcExporter {
    fn describe(&self) -> String {
        format!("OTLP gRPC {}", self.target)
    }

    async fn export(&self, spans: &[SpanRecord]) -> Result<(), ExportError> {
        let request = spoor_codec::otlp::to_request(spans);
        let response = self
            .client
            .clone()
            .export(request)
            .await
            .map_err(|s| classify(&s))?
            .into_inner();
        if let Some(partial) = response.partial_success
            && partial.rejected_spans > 0
        {
            tracing::warn!(
                collector = %self.target,
                rejected_spans = partial.rejected_spans,
                message = %partial.error_message,
                "collector rejected part of a batch"
            );
        }
        Ok(())
    }
}

/// Sampling strategies asked from a collector's `SamplingManager`, each kept
/// for `ttl`. When the collector cannot be reached, the last strategy it gave
/// for the service (however old) is served instead of an error.
pub struct CollectorSamplingProxy {
    client: SamplingManagerClient<Channel>,
    target: String,
    ttl: Duration,
    cache: Mutex<HashMap<String, (Instant, SamplingStrategyResponse)>>,
}

/// Most services remembered by the proxy's cache.
const MAX_CACHED_SERVICES: usize = 10_000;

impl CollectorSamplingProxy {
    /// A proxy over `channel` to `target` (for messages) caching for `ttl`.
    pub fn new(channel: Channel, target: impl Into<String>, ttl: Duration) -> Self {
        CollectorSamplingProxy {
            client: SamplingManagerClient::new(channel),
            target: target.into(),
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cache(&self) -> MutexGuard<'_, HashMap<String, (Instant, SamplingStrategyResponse)>> {
        // The map stays consistent even if a holder panicked.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remember(&self, service: &str, strategy: &SamplingStrategyResponse) {
        let mut cache = self.cache();
        if cache.len() >= MAX_CACHED_SERVICES && !cache.contains_key(service) {
            let ttl = self.ttl;
            cache.retain(|_, (at, _)| at.elapsed() < ttl);
            if cache.len() >= MAX_CACHED_SERVICES {
                cache.clear();
            }
        }
        cache.insert(service.to_string(), (Instant::now(), strategy.clone()));
    }
}

#[tonic::async_trait]
impl StrategyProvider for CollectorSamplingProxy {
    async fn get_sampling_strategy(
        &self,
        service: &str,
    ) -> Result<SamplingStrategyResponse, SamplingError> {
        let cached = self.cache().get(service).cloned();
        if let Some((at, strategy)) = &cached
            && at.elapsed() < self.ttl
        {
            return Ok(strategy.clone());
        }
        let asked = self
            .client
            .clone()
            .get_sampling_strategy(pb::SamplingStrategyParameters {
                service_name: service.to_string(),
            })
            .await;
        let failure = match asked {
            Ok(resp) => match spoor_codec::sampling_json::from_proto(resp.into_inner()) {
                Ok(strategy) => {
                    self.remember(service, &strategy);
                    return Ok(strategy);
                }
                Err(e) => format!("invalid answer from {}: {e}", self.target),
            },
            Err(status) => format!(
                "{} answered {:?}: {}",
                self.target,
                status.code(),
                status.message()
            ),
        };
        match cached {
            Some((_, stale)) => {
                tracing::warn!(service, error = %failure, "collector unavailable; serving the last known sampling strategy");
                Ok(stale)
            }
            None => Err(SamplingError::Upstream(failure)),
        }
    }
}

/// The agent's admin server: `GET /status` (also `/` and `/health`) and
/// `GET /metrics` (the receivers' and the forwarder's series).
pub fn admin_router(
    metrics: Arc<Metrics>,
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

/// Everything `spoor agent` needs to run.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Jaeger Thrift compact over UDP (6831); `None` = off.
    pub compact_addr: Option<SocketAddr>,
    /// Jaeger Thrift binary over UDP (6832); `None` = off.
    pub binary_addr: Option<SocketAddr>,
    /// Sampling strategies over HTTP (5778); `None` = off.
    pub sampling_http_addr: Option<SocketAddr>,
    /// Admin HTTP: `/status`, `/metrics` (14271); `None` = off.
    pub admin_http_addr: Option<SocketAddr>,
    /// How the UDP receivers queue and decode datagrams.
    pub udp: UdpConfig,
    /// The collector, `HOST:PORT`.
    pub collector: String,
    /// The protocol spoken to it.
    pub protocol: CollectorProtocol,
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

async fn bind_tcp(
    what: &'static str,
    addr: Option<SocketAddr>,
) -> Result<Option<TcpListener>, ServerError> {
    let Some(addr) = addr else { return Ok(None) };
    TcpListener::bind(addr)
        .await
        .map(Some)
        .map_err(|source| ServerError::Bind { what, addr, source })
}

async fn bind_udp(
    what: &'static str,
    addr: Option<SocketAddr>,
) -> Result<Option<UdpSocket>, ServerError> {
    let Some(addr) = addr else { return Ok(None) };
    UdpSocket::bind(addr)
        .await
        .map(Some)
        .map_err(|source| ServerError::Bind { what, addr, source })
}

/// The agent's listeners, bound.
pub struct AgentListeners {
    compact: Option<UdpSocket>,
    binary: Option<UdpSocket>,
    sampling_http: Option<TcpListener>,
    admin_http: Option<TcpListener>,
}

impl AgentListeners {
    /// Binds every configured listener, so that a busy port is reported first.
    pub async fn bind(config: &AgentConfig) -> Result<Self, ServerError> {
        Ok(AgentListeners {
            compact: bind_udp("Jaeger compact UDP", config.compact_addr).await?,
            binary: bind_udp("Jaeger binary UDP", config.binary_addr).await?,
            sampling_http: bind_tcp("sampling HTTP", config.sampling_http_addr).await?,
            admin_http: bind_tcp("admin HTTP", config.admin_http_addr).await?,
        })
    }

    /// The addresses actually bound, by name.
    pub fn addrs(&self) -> Vec<(&'static str, SocketAddr)> {
        let mut out = Vec::new();
        let udp = [
            ("jaeger_compact", &self.compact),
            ("jaeger_binary", &self.binary),
        ];
        for (name, s) in udp {
            if let Some(a) = s.as_ref().and_then(|s| s.local_addr().ok()) {
                out.push((name, a));
            }
        }
        let tcp = [
            ("sampling_http", &self.sampling_http),
            ("admin_http", &self.admin_http),
        ];
        for (name, l) in tcp {
            if let Some(a) = l.as_ref().and_then(|l| l.local_addr().ok()) {
                out.push((name, a));
            }
        }
        out
    }
}

/// Runs the agent on `listeners` until `shutdown` is cancelled: stops the
/// receivers, then drains the forwarder (up to its drain timeout).
pub async fn run_agent(
    config: AgentConfig,
    listeners: AgentListeners,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    let started_at = SystemTime::now();
    let channel = lazy_channel(&config.collector, config.request_timeout).map_err(|message| {
        ServerError::Serve {
            what: "agent",
            message,
        }
    })?;
    let exporter: Arc<dyn Exporter> = match config.protocol {
        CollectorProtocol::Jaeger => {
            Arc::new(JaegerGrpcExporter::new(channel.clone(), &config.collector))
        }
        CollectorProtocol::Otlp => {
            Arc::new(OtlpGrpcExporter::new(channel.clone(), &config.collector))
        }
    };
    let sampling_channel = if config.sampling_endpoint == config.collector {
        channel
    } else {
        lazy_channel(&config.sampling_endpoint, config.request_timeout).map_err(|message| {
            ServerError::Serve {
                what: "agent",
                message,
            }
        })?
    };
    let proxy: Arc<dyn StrategyProvider> = Arc::new(CollectorSamplingProxy::new(
        sampling_channel,
        &config.sampling_endpoint,
        config.sampling_cache_ttl,
    ));
    let forwarder = Forwarder::start(exporter, metrics.clone(), config.forwarder);
    let ready = Arc::new(AtomicBool::new(false));
    tracing::info!(
        listeners = ?listeners.addrs(),
        collector = %config.collector,
        protocol = ?config.protocol,
        sampling = %config.sampling_endpoint,
        "agent listening"
    );

    // Receivers stop on `stop`; the forwarder drains after they are gone.
    let stop = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    for (socket, protocol) in [
        (listeners.compact, ThriftProtocol::Compact),
        (listeners.binary, ThriftProtocol::Binary),
    ] {
        let Some(socket) = socket else { continue };
        let sink: Arc<dyn BatchSink> = forwarder.clone();
        tasks.spawn(crate::jaeger::serve_udp(
            socket,
            protocol,
            config.udp,
            sink,
            metrics.clone(),
            stop.clone(),
        ));
    }
    if let Some(l) = listeners.sampling_http {
        tasks.spawn(serve_http(
            "sampling HTTP",
            l,
            sampling::http_router(proxy),
            stop.clone(),
        ));
    }
    if let Some(l) = listeners.admin_http {
        let router = admin_router(
            metrics.clone(),
            forwarder.clone(),
            started_at,
            ready.clone(),
        );
        tasks.spawn(serve_http("admin HTTP", l, router, stop.clone()));
    }
    ready.store(true, Ordering::Relaxed);

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
    ready.store(false, Ordering::Relaxed);
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use spoor_proto::jaeger::api_v2::sampling_manager_server::SamplingManager;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn statuses_split_into_retryable_and_permanent() {
        for code in [
            tonic::Code::Unavailable,
            tonic::Code::ResourceExhausted,
            tonic::Code::DeadlineExceeded,
        ] {
            assert!(matches!(
                classify(&tonic::Status::new(code, "x")),
                ExportError::Retryable(_)
            ));
        }
        for code in [
            tonic::Code::InvalidArgument,
            tonic::Code::Unimplemented,
            tonic::Code::PermissionDenied,
        ] {
            assert!(matches!(
                classify(&tonic::Status::new(code, "x")),
                ExportError::Permanent(_)
            ));
        }
    }

    /// A collector `SamplingManager` counting calls; fails while `down`.
    struct Upstream {
        calls: AtomicUsize,
        down: AtomicBool,
    }

    struct UpstreamSvc(Arc<Upstream>);

    #[tonic::async_trait]
    impl SamplingManager for UpstreamSvc {
        async fn get_sampling_strategy(
            &self,
            request: tonic::Request<pb::SamplingStrategyParameters>,
        ) -> Result<tonic::Response<pb::SamplingStrategyResponse>, tonic::Status> {
            self.0.calls.fetch_add(1, Ordering::SeqCst);
            if self.0.down.load(Ordering::SeqCst) {
                return Err(tonic::Status::unavailable("down for maintenance"));
            }
            let rate = if request.into_inner().service_name == "a" {
                0.25
            } else {
                0.75
            };
            Ok(tonic::Response::new(spoor_codec::sampling_json::to_proto(
                &SamplingStrategyResponse::probabilistic(rate),
            )))
        }
    }

    async fn upstream() -> (Arc<Upstream>, String, CancellationToken) {
        let up = Arc::new(Upstream {
            calls: AtomicUsize::new(0),
            down: AtomicBool::new(false),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = CancellationToken::new();
        let svc = pb::sampling_manager_server::SamplingManagerServer::new(UpstreamSvc(up.clone()));
        let s = stop.clone();
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener),
                    s.cancelled_owned(),
                )
                .await
                .unwrap();
        });
        (up, addr, stop)
    }

    #[tokio::test]
    async fn the_sampling_proxy_caches_and_serves_stale_answers_when_the_collector_is_down() {
        let (up, addr, stop) = upstream().await;
        let channel = lazy_channel(&addr, Duration::from_secs(5)).unwrap();
        let proxy = CollectorSamplingProxy::new(channel, &addr, Duration::from_secs(1));
        let rate = |s: SamplingStrategyResponse| s.probabilistic.unwrap().sampling_rate;
        assert_eq!(rate(proxy.get_sampling_strategy("a").await.unwrap()), 0.25);
        assert_eq!(rate(proxy.get_sampling_strategy("a").await.unwrap()), 0.25);
        assert_eq!(
            up.calls.load(Ordering::SeqCst),
            1,
            "second answer from the cache"
        );
        assert_eq!(rate(proxy.get_sampling_strategy("b").await.unwrap()), 0.75);
        assert_eq!(up.calls.load(Ordering::SeqCst), 2);

        tokio::time::sleep(Duration::from_millis(1100)).await;
        up.down.store(true, Ordering::SeqCst);
        // Expired, collector down: the stale answer.
        assert_eq!(rate(proxy.get_sampling_strategy("a").await.unwrap()), 0.25);
        assert_eq!(up.calls.load(Ordering::SeqCst), 3);
        // Never seen, collector down: an error naming the collector.
        let err = proxy.get_sampling_strategy("c").await.unwrap_err();
        assert!(
            matches!(&err, SamplingError::Upstream(m) if m.contains("down for maintenance")),
            "{err}"
        );
        stop.cancel();
    }

    #[tokio::test]
    async fn an_unreachable_collector_is_an_upstream_error() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        let channel = lazy_channel(&addr, Duration::from_secs(2)).unwrap();
        let proxy = CollectorSamplingProxy::new(channel, &addr, Duration::from_secs(10));
        let err = proxy.get_sampling_strategy("x").await.unwrap_err();
        assert!(matches!(err, SamplingError::Upstream(_)), "{err}");
        let exporter =
            JaegerGrpcExporter::new(lazy_channel(&addr, Duration::from_secs(2)).unwrap(), &addr);
        assert!(matches!(
            exporter.export(&[]).await,
            Err(ExportError::Retryable(_))
        ));
    }
}
