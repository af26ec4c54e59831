//! Connection-level protection of every TCP listener (ADR 0018).
//!
//! - Timeouts: a new connection must send a complete request head within the
//!   header timeout (slowloris), a request body must arrive within the body
//!   timeout (stalled or never-ending bodies), a connection with no request
//!   in flight is closed after the idle timeout ([`conn`], [`http`], [`grpc`]).
//! - A connection limit per listener: when it is reached the connection idle
//!   for longest is closed to make room, and when every connection is busy
//!   the new one is closed at once; both are counted in `/metrics`.
//! - Browser-borne requests: a Host allow-list against DNS rebinding, the
//!   receivers refuse cross-origin requests, and configurable CORS for the
//!   query API ([`origin`]).

pub(crate) mod conn;
pub mod grpc;
pub mod http;
pub mod origin;
pub mod tls;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

pub(crate) use conn::Mode;
use conn::{ConnShared, TimeoutKind};
pub use conn::{GrpcConnInfo, GuardedBody, GuardedIo, ServerIo};

/// The TCP peer of a request, in the extensions of every HTTP and gRPC
/// request of every TCP listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// How every TCP listener protects itself.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// A connection must deliver a complete request head within this long
    /// after it was accepted or its first byte of a new request arrived.
    pub header_timeout: Duration,
    /// A request body must be read completely within this long after its head.
    pub body_timeout: Duration,
    /// A connection with no request in flight is closed after this long.
    pub idle_timeout: Duration,
    /// Most connections open at once on one listener.
    pub max_connections: usize,
    /// Most connections open at once over all TCP listeners (derived from the
    /// file descriptor limit); split evenly between the listeners.
    pub max_connections_total: Option<usize>,
    /// Host names (and IPs) accepted in the `Host` header besides the
    /// loopback names and the listen address; `*` accepts any. Empty: any
    /// Host is accepted on listeners bound to a non-loopback address.
    pub allowed_hosts: Vec<String>,
    /// Origins (`scheme://host[:port]`) allowed to call the query API from a
    /// browser (CORS); `*` allows any.
    pub cors_allowed_origins: Vec<String>,
    /// Origins allowed to send spans to the HTTP receivers from a browser;
    /// `*` allows any. Requests with any other `Origin` are refused.
    pub receiver_allowed_origins: Vec<String>,
    /// TLS, authentication and tenancy (`security:`, docs/security.md).
    pub security: crate::security::SecurityConfig,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
            max_connections: 4096,
            max_connections_total: None,
            allowed_hosts: Vec::new(),
            cors_allowed_origins: Vec::new(),
            receiver_allowed_origins: Vec::new(),
            security: crate::security::SecurityConfig::default(),
        }
    }
}

/// Connections of one listener beyond its limit that may still be closing
/// (evicted, not yet dropped) before new ones are refused outright.
const EVICTION_SLACK: usize = 16;

/// The connections of one listener and its counters.
pub struct ListenerGuard {
    /// The listener's name in logs and metrics (`otlp_http`, `query_http`, …).
    pub name: &'static str,
    limit: usize,
    header_timeout: Duration,
    idle_timeout: Duration,
    next_id: AtomicU64,
    conns: Mutex<HashMap<u64, Arc<ConnShared>>>,
    accepted: AtomicU64,
    refused: AtomicU64,
    evicted: AtomicU64,
    header_timeouts: AtomicU64,
    idle_timeouts: AtomicU64,
    write_timeouts: AtomicU64,
    body_timeouts: AtomicU64,
    host_refused: AtomicU64,
    origin_refused: AtomicU64,
    accept_errors: AtomicU64,
    tls_handshake_failures: AtomicU64,
}

impl std::fmt::Debug for ListenerGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerGuard")
            .field("name", &self.name)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl ListenerGuard {
    fn new(name: &'static str, limit: usize, config: &NetConfig) -> Self {
        ListenerGuard {
            name,
            limit: limit.max(1),
            header_timeout: config.header_timeout,
            idle_timeout: config.idle_timeout,
            next_id: AtomicU64::new(0),
            conns: Mutex::new(HashMap::new()),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
            header_timeouts: AtomicU64::new(0),
            idle_timeouts: AtomicU64::new(0),
            write_timeouts: AtomicU64::new(0),
            body_timeouts: AtomicU64::new(0),
            host_refused: AtomicU64::new(0),
            origin_refused: AtomicU64::new(0),
            accept_errors: AtomicU64::new(0),
            tls_handshake_failures: AtomicU64::new(0),
        }
    }

    /// The most connections this listener keeps open.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<ConnShared>>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits `stream` or closes it (by dropping it) when the listener is full
    /// of busy connections. At the limit, the connection that has served no
    /// request for longest is closed to make room.
    pub(crate) fn admit(self: &Arc<Self>, stream: TcpStream, mode: Mode) -> Option<GuardedIo> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::new(ConnShared::new(
            id,
            mode,
            self.header_timeout,
            self.idle_timeout,
        ));
        {
            let mut conns = self.lock();
            if conns.len() >= self.limit {
                let mut closing = 0usize;
                let mut oldest: Option<(tokio::time::Instant, &Arc<ConnShared>)> = None;
                for c in conns.values() {
                    if c.is_killed() {
                        closing += 1;
                        continue;
                    }
                    if let Some(since) = c.evictable_since()
                        && oldest.is_none_or(|(s, _)| since < s)
                    {
                        oldest = Some((since, c));
                    }
                }
                match oldest {
                    Some((_, victim)) if closing < EVICTION_SLACK => {
                        victim.kill();
                        self.evicted.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        drop(conns);
                        self.refused.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(
                            listener = self.name,
                            limit = self.limit,
                            "connection refused: limit reached"
                        );
                        return None;
                    }
                }
            }
            conns.insert(id, shared.clone());
        }
        self.accepted.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        Some(GuardedIo::new(stream, shared, self.clone()))
    }

    pub(crate) fn release(&self, id: u64) {
        self.lock().remove(&id);
    }

    pub(crate) fn timed_out(&self, kind: TimeoutKind) {
        match kind {
            TimeoutKind::Header => &self.header_timeouts,
            TimeoutKind::Idle => &self.idle_timeouts,
            TimeoutKind::Write => &self.write_timeouts,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn body_timed_out(&self) {
        self.body_timeouts.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn host_refused(&self) {
        self.host_refused.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn tls_handshake_failed(&self) {
        self.tls_handshake_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn origin_refused(&self) {
        self.origin_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Accepts the next connection; on errors such as EMFILE (no file
    /// descriptor left) it waits briefly instead of spinning.
    pub(crate) async fn accept(
        self: &Arc<Self>,
        listener: &TcpListener,
        mode: Mode,
    ) -> Option<GuardedIo> {
        match listener.accept().await {
            Ok((stream, _)) => self.admit(stream, mode),
            Err(e) => {
                let n = self.accept_errors.fetch_add(1, Ordering::Relaxed);
                if n.is_power_of_two() || n == 0 {
                    tracing::warn!(listener = self.name, error = %e, errors = n + 1, "accept failed");
                }
                // EMFILE/ENFILE/ENOMEM: the pending connection stays in the
                // backlog; give in-flight work time to release descriptors.
                tokio::time::sleep(Duration::from_millis(50)).await;
                None
            }
        }
    }
}

/// Connection protection state of a server: its configuration and every
/// listener's guard (for `/metrics`).
#[derive(Debug, Default)]
pub struct NetState {
    pub config: NetConfig,
    listeners: Mutex<Vec<Arc<ListenerGuard>>>,
    /// The web UI's login and its sessions (`security.login`), shared by
    /// the login routes and the authentication layer.
    pub login: Option<Arc<crate::auth::login::Login>>,
    /// Authentication of every group, built on first use ([`NetState::auth`]).
    pub(crate) auth: Mutex<Option<Arc<crate::auth::Auth>>>,
    /// TLS of the listeners, built on first use ([`NetState::tls`]).
    tls: std::sync::OnceLock<Result<Option<Arc<tls::TlsServer>>, String>>,
}

impl NetState {
    pub fn new(config: NetConfig) -> Self {
        let login = config.security.login.clone().map(|settings| {
            let tls = config.security.tls.is_some();
            Arc::new(crate::auth::login::Login::new(settings, tls))
        });
        NetState {
            config,
            listeners: Mutex::new(Vec::new()),
            login,
            auth: Mutex::new(None),
            tls: std::sync::OnceLock::new(),
        }
    }

    /// The process's TLS side (`security.tls`), built once and shared by
    /// every listener; its certificate reloader is started on first use.
    /// `Ok(None)`: no TLS configured. `Err`: the files cannot be used.
    pub fn tls(&self) -> Result<Option<Arc<tls::TlsServer>>, String> {
        let built = self.tls.get_or_init(|| match &self.config.security.tls {
            None => Ok(None),
            Some(settings) => {
                let server = tls::TlsServer::new(settings).map_err(|e| e.to_string())?;
                tracing::info!(
                    cert_file = %settings.cert_file.display(),
                    client_auth = ?settings.effective_client_auth(),
                    min_version = ?settings.min_version,
                    groups = ?settings.groups,
                    "TLS on"
                );
                Ok(Some(server))
            }
        });
        if let Ok(Some(server)) = built {
            server.spawn_reloader();
        }
        built.clone()
    }

    /// Puts `listener` under protection as `name`, allowing `limit` connections.
    pub fn protect(
        &self,
        name: &'static str,
        listener: TcpListener,
        limit: usize,
    ) -> ProtectedListener {
        let guard = Arc::new(ListenerGuard::new(name, limit, &self.config));
        self.listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(guard.clone());
        ProtectedListener {
            listener,
            guard,
            config: self.config.clone(),
            access: None,
            auth: None,
            tls: None,
        }
    }

    /// The connection limit of each of `tcp_listeners` listeners: the
    /// configured per-listener limit, lowered so that all together stay within
    /// `max_connections_total`.
    pub fn per_listener_limit(&self, tcp_listeners: usize) -> usize {
        let configured = self.config.max_connections.max(1);
        match self.config.max_connections_total {
            Some(total) if tcp_listeners > 0 => configured.min((total / tcp_listeners).max(4)),
            _ => configured,
        }
    }

    /// The listeners' connection series in Prometheus text format.
    pub fn render_prometheus(&self) -> String {
        let listeners = self
            .listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut out = String::new();
        let gauge =
            |out: &mut String, name: &str, help: &str, f: &dyn Fn(&ListenerGuard) -> u64| {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
                for l in &listeners {
                    let _ = writeln!(out, "{name}{{listener=\"{}\"}} {}", l.name, f(l));
                }
            };
        gauge(
            &mut out,
            "spoor_connections_open",
            "TCP connections open now, by listener.",
            &|l| l.open() as u64,
        );
        gauge(
            &mut out,
            "spoor_connections_limit",
            "Most TCP connections a listener keeps open.",
            &|l| l.limit as u64,
        );
        let counter =
            |out: &mut String, name: &str, help: &str, f: &dyn Fn(&ListenerGuard) -> u64| {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
                for l in &listeners {
                    let _ = writeln!(out, "{name}{{listener=\"{}\"}} {}", l.name, f(l));
                }
            };
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        counter(
            &mut out,
            "spoor_connections_accepted_total",
            "TCP connections accepted, by listener.",
            &|l| load(&l.accepted),
        );
        counter(
            &mut out,
            "spoor_connections_refused_total",
            "TCP connections closed at once because the listener was full of busy connections.",
            &|l| load(&l.refused),
        );
        counter(
            &mut out,
            "spoor_connections_evicted_total",
            "Idle TCP connections closed to make room for new ones at the connection limit.",
            &|l| load(&l.evicted),
        );
        counter(
            &mut out,
            "spoor_connection_accept_errors_total",
            "Failed accepts (e.g. no file descriptor left), by listener.",
            &|l| load(&l.accept_errors),
        );
        let _ = writeln!(
            out,
            "# HELP spoor_connection_timeouts_total Connections closed by a timeout, by listener and timeout (header, idle, body, write).\n# TYPE spoor_connection_timeouts_total counter"
        );
        for l in &listeners {
            for (kind, v) in [
                ("header", load(&l.header_timeouts)),
                ("idle", load(&l.idle_timeouts)),
                ("write", load(&l.write_timeouts)),
                ("body", load(&l.body_timeouts)),
            ] {
                let _ = writeln!(
                    out,
                    "spoor_connection_timeouts_total{{listener=\"{}\",timeout=\"{kind}\"}} {v}",
                    l.name
                );
            }
        }
        counter(
            &mut out,
            "spoor_tls_handshake_failures_total",
            "TLS handshakes that failed or timed out (bad or no client certificate, wrong version, plain text on a TLS port), by listener.",
            &|l| load(&l.tls_handshake_failures),
        );
        let _ = writeln!(
            out,
            "# HELP spoor_http_requests_forbidden_total HTTP requests refused by the Host allow-list or the Origin check, by listener and check.\n# TYPE spoor_http_requests_forbidden_total counter"
        );
        for l in &listeners {
            for (check, v) in [
                ("host", load(&l.host_refused)),
                ("origin", load(&l.origin_refused)),
            ] {
                let _ = writeln!(
                    out,
                    "spoor_http_requests_forbidden_total{{listener=\"{}\",check=\"{check}\"}} {v}",
                    l.name
                );
            }
        }
        out
    }
}

/// Does the TLS handshake of `io` (in its connection's task), within
/// `timeout` (the header timeout); a failure is counted and logged at debug
/// level, and the connection dropped.
pub(crate) async fn tls_handshake(
    io: GuardedIo,
    acceptor: tokio_rustls::TlsAcceptor,
    timeout: Duration,
) -> Option<ServerIo> {
    let listener = io.listener().clone();
    let peer = io.peer_addr().ok();
    match tokio::time::timeout(timeout, acceptor.accept(io)).await {
        Ok(Ok(tls)) => {
            let cert = tls::PeerCertificate::of_connection(tls.get_ref().1);
            Some(ServerIo::Tls(Box::new(tls), cert))
        }
        Ok(Err(error)) => {
            listener.tls_handshake_failed();
            tracing::debug!(listener = listener.name, ?peer, %error, "TLS handshake failed");
            None
        }
        Err(_) => {
            listener.tls_handshake_failed();
            tracing::debug!(listener = listener.name, ?peer, "TLS handshake timed out");
            None
        }
    }
}

/// A bound listener with its guard and the timeouts to apply.
#[derive(Debug)]
pub struct ProtectedListener {
    pub(crate) listener: TcpListener,
    pub(crate) guard: Arc<ListenerGuard>,
    pub(crate) config: NetConfig,
    /// Host and Origin checks of HTTP requests; `None` = none.
    pub(crate) access: Option<Arc<origin::AccessPolicy>>,
    /// Authentication of its group's requests; `None` = open.
    pub(crate) auth: Option<Arc<crate::auth::GroupAuth>>,
    /// TLS on its connections; `None` = plain TCP.
    pub(crate) tls: Option<Arc<tls::TlsServer>>,
}

impl ProtectedListener {
    /// The same listener serving TLS (handshakes in each connection's task).
    pub fn with_tls(mut self, tls: Arc<tls::TlsServer>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Whether its connections are TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The address bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The guard counting this listener's connections.
    pub fn guard(&self) -> &Arc<ListenerGuard> {
        &self.guard
    }

    /// The same listener authenticating its requests with `auth`
    /// (gRPC: [`ProtectedListener::grpc_server`]'s layer).
    pub fn with_auth(mut self, auth: Arc<crate::auth::GroupAuth>) -> Self {
        self.auth = Some(auth);
        self
    }

    /// The same listener checking each HTTP request's Host and Origin.
    pub fn with_access(mut self, access: origin::AccessPolicy) -> Self {
        self.access = Some(Arc::new(access));
        self
    }
}

/// A listener used without a server's [`NetState`] (tests, tools): default
/// timeouts and limit, counted nowhere.
impl From<TcpListener> for ProtectedListener {
    fn from(listener: TcpListener) -> Self {
        let config = NetConfig::default();
        let guard = Arc::new(ListenerGuard::new("tcp", config.max_connections, &config));
        ProtectedListener {
            listener,
            guard,
            config,
            access: None,
            auth: None,
            tls: None,
        }
    }
}
