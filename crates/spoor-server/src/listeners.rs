//! Spoor's listeners, written out once, in two layers.
//!
//! - [`LISTENERS`] says what each listener *is*, whichever role serves it:
//!   its [`Listener`] variant, key, name, default port, transport, its one
//!   text in messages and what it serves. **To add a listener**, add one
//!   entry to the `listeners!` table below, then list it (with its handler)
//!   in the roles that serve it.
//! - A [`Role`] says what one process serves: a list of [`RoleListener`]s,
//!   each a row of the table with the role's [`Handler`] and, where the role
//!   differs, its own default port or description. The roles are in
//!   [`crate::roles`]; **to add a role**, add one list there.
//!
//! Everything else derives from these two: the configuration (in the
//! `spoor` crate: the YAML key `listeners.KEY`, the flag `--KEY-addr`, the
//! variable `SPOOR_KEY_ADDR` or `SPOOR_AGENT_KEY_ADDR`), binding
//! ([`Role::bind`]), serving with the right connection protection
//! ([`Bound::serve_tasks`]), the `listening` logs ([`Bound::addrs`]), the
//! `listener` label in `/metrics` and the listener tables of
//! `docs/configuration.md` (checked by a test of the `spoor` crate).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

use crate::net::origin::{AccessPolicy, HostPolicy, OriginRule};
use crate::net::{NetState, ProtectedListener};
pub use crate::security::Group;
use crate::{ServeTask, ServerError, serve_http};

/// One listener's row of the table: what it is, whichever role serves it.
#[derive(Debug)]
pub struct ListenerSpec {
    pub listener: Listener,
    /// Its group for TLS, authentication and tenancy ([`Group`]).
    pub group: Group,
    /// Its key under `listeners:` in the config file; the flag is
    /// `--KEY-addr` and the environment variable `SPOOR_KEY_ADDR`
    /// (`SPOOR_AGENT_KEY_ADDR` for `spoor agent`).
    pub key: &'static str,
    /// Its name in logs and in the `listener` label of `/metrics`.
    pub name: &'static str,
    /// Its default port (on the shared host); a role may choose another
    /// ([`RoleListener::port`]).
    pub port: u16,
    /// TCP or UDP; every role's handler of it must agree ([`Role::problem`]).
    pub transport: Transport,
    /// What it is in messages: "invalid TEXT address" (configuration),
    /// "cannot listen on ADDR (TEXT)" and "TEXT server failed" (serving).
    pub text: &'static str,
    /// What it serves (flag help, docs); a role may say otherwise
    /// ([`RoleListener::serves`]).
    pub serves: &'static str,
}

/// A listener's transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
}

impl Listener {
    /// Its row of [`LISTENERS`].
    pub const fn spec(self) -> &'static ListenerSpec {
        &LISTENERS[self as usize]
    }
}

/// Defines [`Listener`] and [`LISTENERS`] from one list, so that the two
/// cannot disagree.
macro_rules! listeners {
    ($($variant:ident { $($field:ident: $value:expr),* $(,)? },)*) => {
        /// A listener of Spoor; its properties are its row in [`LISTENERS`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Listener {
            $($variant,)*
        }

        /// Every listener of Spoor, in the order they are bound, logged and
        /// documented (within each role).
        pub const LISTENERS: &[ListenerSpec] = &[
            $(ListenerSpec { listener: Listener::$variant, $($field: $value),* },)*
        ];
    };
}

listeners! {
    OtlpGrpc {
        group: Group::Ingest, key: "otlp_grpc", name: "otlp_grpc", port: 4317, transport: Transport::Tcp,
        text: "OTLP gRPC",
        serves: "OTLP gRPC (`TraceService/Export`)",
    },
    OtlpHttp {
        group: Group::Ingest, key: "otlp_http", name: "otlp_http", port: 4318, transport: Transport::Tcp,
        text: "OTLP HTTP",
        serves: "OTLP HTTP (`POST /v1/traces`)",
    },
    JaegerCompact {
        group: Group::Ingest, key: "jaeger_compact", name: "jaeger_compact", port: 6831, transport: Transport::Udp,
        text: "Jaeger Thrift compact over UDP",
        serves: "Jaeger Thrift compact over UDP (`Agent.emitBatch`)",
    },
    JaegerBinary {
        group: Group::Ingest, key: "jaeger_binary", name: "jaeger_binary", port: 6832, transport: Transport::Udp,
        text: "Jaeger Thrift binary over UDP",
        serves: "Jaeger Thrift binary over UDP (`Agent.emitBatch`)",
    },
    JaegerHttp {
        group: Group::Ingest, key: "jaeger_http", name: "jaeger_http", port: 14268, transport: Transport::Tcp,
        text: "Jaeger Thrift over HTTP",
        serves: "Jaeger Thrift over HTTP (`POST /api/traces`)",
    },
    JaegerGrpc {
        group: Group::Ingest, key: "jaeger_grpc", name: "jaeger_grpc", port: 14250, transport: Transport::Tcp,
        text: "Jaeger gRPC",
        serves: "Jaeger gRPC (`CollectorService/PostSpans`, `SamplingManager`)",
    },
    Zipkin {
        group: Group::Ingest, key: "zipkin", name: "zipkin_http", port: 9411, transport: Transport::Tcp,
        text: "Zipkin HTTP",
        serves: "Zipkin HTTP (`POST /api/v1/spans`, `/api/v2/spans`)",
    },
    SamplingHttp {
        group: Group::Ingest, key: "sampling_http", name: "sampling_http", port: 5778, transport: Transport::Tcp,
        text: "sampling HTTP",
        serves: "Remote sampling over HTTP (`/sampling?service=`, `/`, `/baggageRestrictions`)",
    },
    SamplingGrpc {
        group: Group::Ingest, key: "sampling_grpc", name: "sampling_grpc", port: 5779, transport: Transport::Tcp,
        text: "sampling gRPC",
        serves: "Remote sampling over gRPC (`SamplingManager/GetSamplingStrategy`)",
    },
    ClusterGrpc {
        group: Group::Internal, key: "cluster_grpc", name: "cluster_grpc", port: 14300, transport: Transport::Tcp,
        text: "cluster gRPC",
        serves: "Spoor's internal API: queriers read this collector's head (`spoor.cluster.v1.Head`)",
    },
    QueryHttp {
        group: Group::Query, key: "query_http", name: "query_http", port: 16686, transport: Transport::Tcp,
        text: "query HTTP",
        serves: "Query HTTP: web UI, `/api/*`, `/api/v3/*`",
    },
    QueryGrpc {
        group: Group::Query, key: "query_grpc", name: "query_grpc", port: 16685, transport: Transport::Tcp,
        text: "query gRPC",
        serves: "Query gRPC: `jaeger.api_v2.QueryService`, `jaeger.api_v3.QueryService`, `grpc.health.v1.Health`, reflection",
    },
    AdminHttp {
        group: Group::Admin, key: "admin_http", name: "admin_http", port: 13133, transport: Transport::Tcp,
        text: "admin HTTP",
        serves: "Admin HTTP: health `GET /status`, readiness `GET /ready` and Prometheus `GET /metrics`",
    },
}

/// How many listeners there are.
pub const LISTENER_COUNT: usize = LISTENERS.len();

// `Listener::spec` indexes the table by variant: the macro keeps them in step.
const _: () = {
    let mut i = 0;
    while i < LISTENER_COUNT {
        assert!(LISTENERS[i].listener as usize == i);
        i += 1;
    }
};

/// How a role serves a listener, over its shared state `S` (all-in-one's
/// [`crate::AppState`], the agent's [`crate::agent::AgentState`]).
pub enum Handler<S: 'static> {
    /// An HTTP router over TCP: timeouts, connection limit, the Host check
    /// and the Origin rule given (ADR 0018).
    Http(OriginRule, fn(Arc<S>) -> axum::Router),
    /// An HTTP router over TCP with timeouts and the connection limit but no
    /// Host or Origin check: `spoor agent`'s listeners, which answer only
    /// GETs of public strategies and health (ADR 0018).
    OpenHttp(fn(Arc<S>) -> axum::Router),
    /// A gRPC server over TCP: timeouts and connection limit.
    Grpc(fn(ProtectedListener, Arc<S>, CancellationToken) -> ServeTask),
    /// Datagrams over UDP (no connections to protect).
    Udp(fn(UdpSocket, Arc<S>, CancellationToken) -> ServeTask),
}

impl<S> Clone for Handler<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for Handler<S> {}

impl<S> std::fmt::Debug for Handler<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Handler::Http(rule, _) => write!(f, "Http({rule:?})"),
            Handler::OpenHttp(_) => f.write_str("OpenHttp"),
            Handler::Grpc(_) => f.write_str("Grpc"),
            Handler::Udp(_) => f.write_str("Udp"),
        }
    }
}

impl<S> Handler<S> {
    /// The transport this handler serves.
    pub const fn transport(&self) -> Transport {
        match self {
            Handler::Http(..) | Handler::OpenHttp(_) | Handler::Grpc(_) => Transport::Tcp,
            Handler::Udp(_) => Transport::Udp,
        }
    }

    /// Its connection protection (ADR 0018), in words for the docs.
    pub fn protection(&self) -> &'static str {
        match self {
            Handler::Http(OriginRule::Receiver, _) => {
                "timeouts, connection limit, Host check, receiver Origin check"
            }
            Handler::Http(OriginRule::Query, _) => "timeouts, connection limit, Host check, CORS",
            Handler::Http(OriginRule::Ignore, _) => "timeouts, connection limit, Host check",
            Handler::OpenHttp(_) => "timeouts, connection limit (no Host check)",
            Handler::Grpc(_) => "timeouts, connection limit",
            Handler::Udp(_) => "none (datagrams)",
        }
    }
}

/// One listener of a role: a row of [`LISTENERS`], the role's handler of
/// it, and the role's default port and description of it.
#[derive(Debug)]
pub struct RoleListener<S: 'static> {
    pub listener: Listener,
    /// Its default port in this role (the table's unless the role says
    /// otherwise).
    pub port: u16,
    /// What it serves in this role (flag help, docs).
    pub serves: &'static str,
    pub handler: Handler<S>,
}

impl<S> RoleListener<S> {
    /// `listener` served by `handler`, with the table's port and description.
    pub const fn new(listener: Listener, handler: Handler<S>) -> Self {
        let spec = listener.spec();
        RoleListener {
            listener,
            port: spec.port,
            serves: spec.serves,
            handler,
        }
    }

    /// The same with another default port.
    pub const fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The same with another description of what it serves.
    pub const fn serves(mut self, serves: &'static str) -> Self {
        self.serves = serves;
        self
    }

    /// Its row of [`LISTENERS`].
    pub const fn spec(&self) -> &'static ListenerSpec {
        self.listener.spec()
    }

    /// Its connection protection in this role, in words for the docs.
    pub fn protection(&self) -> &'static str {
        self.handler.protection()
    }
}

/// What one process serves: its listeners, in the order they are bound,
/// served, logged and documented.
#[derive(Debug)]
pub struct Role<S: 'static> {
    pub listeners: &'static [RoleListener<S>],
}

impl<S> Role<S> {
    /// Its row for `listener`; `None` when the role does not serve it.
    pub fn get(&self, listener: Listener) -> Option<&'static RoleListener<S>> {
        self.listeners.iter().find(|l| l.listener == listener)
    }

    /// What is wrong with the role's list, if anything: a handler on the
    /// wrong transport, a listener listed twice, two default ports alike.
    /// Every role is checked at compile time ([`crate::roles`]).
    pub const fn problem(&self) -> Option<&'static str> {
        let rows = self.listeners;
        let mut i = 0;
        while i < rows.len() {
            let spec = rows[i].listener.spec();
            let udp = matches!(spec.transport, Transport::Udp);
            if udp != matches!(rows[i].handler.transport(), Transport::Udp) {
                return Some("a handler serves a listener on the wrong transport");
            }
            let mut j = i + 1;
            while j < rows.len() {
                if rows[i].listener as usize == rows[j].listener as usize {
                    return Some("a listener is listed twice");
                }
                if rows[i].port == rows[j].port {
                    return Some("two listeners have the same default port");
                }
                j += 1;
            }
            i += 1;
        }
        None
    }

    /// Binds each of the role's listeners that has an address in `addrs`
    /// (others are off; addresses of listeners the role does not serve are
    /// not read), so that a busy port is reported before anything runs.
    pub async fn bind(&'static self, addrs: &ListenerAddrs) -> Result<Bound<S>, ServerError> {
        let mut sockets = Vec::new();
        for row in self.listeners {
            let Some(addr) = addrs[row.listener] else {
                continue;
            };
            let text = row.spec().text;
            let socket = match row.handler {
                Handler::Http(rule, router) => {
                    BoundSocket::Http(rule, router, bind_tcp(text, addr).await?)
                }
                Handler::OpenHttp(router) => {
                    BoundSocket::OpenHttp(router, bind_tcp(text, addr).await?)
                }
                Handler::Grpc(serve) => BoundSocket::Grpc(serve, bind_tcp(text, addr).await?),
                Handler::Udp(serve) => BoundSocket::Udp(serve, bind_udp(text, addr).await?),
            };
            sockets.push((row.spec(), socket));
        }
        Ok(Bound { sockets })
    }
}

/// A listener bound, with the handler that will serve it.
enum BoundSocket<S: 'static> {
    Http(OriginRule, fn(Arc<S>) -> axum::Router, TcpListener),
    OpenHttp(fn(Arc<S>) -> axum::Router, TcpListener),
    Grpc(
        fn(ProtectedListener, Arc<S>, CancellationToken) -> ServeTask,
        TcpListener,
    ),
    Udp(
        fn(UdpSocket, Arc<S>, CancellationToken) -> ServeTask,
        UdpSocket,
    ),
}

impl<S> BoundSocket<S> {
    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            BoundSocket::Http(_, _, l) | BoundSocket::OpenHttp(_, l) | BoundSocket::Grpc(_, l) => {
                l.local_addr()
            }
            BoundSocket::Udp(_, s) => s.local_addr(),
        }
    }
}

/// A role's listeners, bound and ready to serve, in the role's order.
pub struct Bound<S: 'static = crate::AppState> {
    sockets: Vec<(&'static ListenerSpec, BoundSocket<S>)>,
}

impl<S> Default for Bound<S> {
    fn default() -> Self {
        Bound {
            sockets: Vec::new(),
        }
    }
}

impl<S> Bound<S> {
    /// The addresses actually bound (useful when a port was 0), by name:
    /// what the `listening` logs show.
    pub fn addrs(&self) -> Vec<(&'static str, SocketAddr)> {
        self.sockets
            .iter()
            .filter_map(|(spec, s)| s.local_addr().ok().map(|a| (spec.name, a)))
            .collect()
    }

    /// The address `listener` is bound to; `None` when it is off.
    pub fn addr(&self, listener: Listener) -> Option<SocketAddr> {
        self.sockets
            .iter()
            .find(|(spec, _)| spec.listener == listener)
            .and_then(|(_, s)| s.local_addr().ok())
    }

    /// How many TCP listeners are bound (they share the connection budget).
    pub fn tcp_listeners(&self) -> usize {
        self.sockets
            .iter()
            .filter(|(_, s)| !matches!(s, BoundSocket::Udp(..)))
            .count()
    }

    /// One task per listener, serving it with `state` until `shutdown`: TCP
    /// listeners under `net`'s protection with `limit` connections each,
    /// HTTP ones with their Host and Origin checks, every TCP one with its
    /// group's authentication ([`crate::auth`]).
    pub fn serve_tasks(
        self,
        state: &Arc<S>,
        net: &NetState,
        limit: usize,
        shutdown: &CancellationToken,
    ) -> Vec<ServeTask> {
        let c = &net.config;
        let mut tasks = Vec::with_capacity(self.sockets.len());
        let auth = match net.auth() {
            Ok(auth) => auth,
            Err(e) => {
                let message = e.to_string();
                tasks.push(Box::pin(async move {
                    Err(ServerError::Serve {
                        what: "authentication",
                        message,
                    })
                }) as ServeTask);
                return tasks;
            }
        };
        // One TLS side for the process (certificate reloader included),
        // applied to the TCP listeners of the groups it names.
        let tls = match net.tls() {
            Ok(tls) => tls,
            Err(message) => {
                tasks.push(Box::pin(async move {
                    Err(ServerError::Serve {
                        what: "TLS",
                        message,
                    })
                }) as ServeTask);
                return tasks;
            }
        };
        for (spec, socket) in self.sockets {
            let secure = |p: ProtectedListener| match &tls {
                Some(t) if t.applies_to(spec.group) => p.with_tls(t.clone()),
                _ => p,
            };
            let group = auth.group(spec.group).clone();
            let auth_layer = crate::auth::layer::AuthLayer::new(Some(group.clone()));
            let task = match socket {
                BoundSocket::Http(rule, router, l) => {
                    let addr = l.local_addr().ok();
                    let mut p = secure(net.protect(spec.name, l, limit));
                    if let Some(addr) = addr {
                        let origins = match rule {
                            OriginRule::Receiver => &c.receiver_allowed_origins,
                            OriginRule::Query => &c.cors_allowed_origins,
                            OriginRule::Ignore => &Vec::new(),
                        };
                        p = p.with_access(AccessPolicy::new(
                            HostPolicy::for_listener(addr, &c.allowed_hosts),
                            rule,
                            origins,
                        ));
                    }
                    let router = router(state.clone()).layer(auth_layer);
                    serve_http(spec.text, p.with_auth(group), router, shutdown.clone())
                }
                BoundSocket::OpenHttp(router, l) => {
                    let p = secure(net.protect(spec.name, l, limit)).with_auth(group);
                    let router = router(state.clone()).layer(auth_layer);
                    serve_http(spec.text, p, router, shutdown.clone())
                }
                BoundSocket::Grpc(serve, l) => {
                    let p = secure(net.protect(spec.name, l, limit)).with_auth(group);
                    serve(p, state.clone(), shutdown.clone())
                }
                BoundSocket::Udp(serve, s) => serve(s, state.clone(), shutdown.clone()),
            };
            tasks.push(task);
        }
        tasks
    }
}

async fn bind_tcp(what: &'static str, addr: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|error| ServerError::Bind { what, addr, error })
}

async fn bind_udp(what: &'static str, addr: SocketAddr) -> Result<UdpSocket, ServerError> {
    let err = |error| ServerError::Bind { what, addr, error };
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )
    .map_err(err)?;
    // Tracers send UDP in bursts; the kernel's default receive buffer (about
    // 200 KiB) overflows before the receive loop runs, silently losing
    // datagrams. Ask for more; the kernel caps it at net.core.rmem_max.
    if let Err(e) = socket.set_recv_buffer_size(UDP_RECV_BUFFER_BYTES) {
        tracing::debug!(error = %e, what, "cannot enlarge the UDP receive buffer");
    }
    socket.set_nonblocking(true).map_err(err)?;
    socket.bind(&addr.into()).map_err(err)?;
    UdpSocket::from_std(socket.into()).map_err(err)
}

/// Receive buffer requested for UDP receivers.
const UDP_RECV_BUFFER_BYTES: usize = 8 << 20;

/// One value per listener, indexed by [`Listener`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerListener<T>([T; LISTENER_COUNT]);

impl<T: Default> Default for PerListener<T> {
    fn default() -> Self {
        PerListener(std::array::from_fn(|_| T::default()))
    }
}

impl<T> std::ops::Index<Listener> for PerListener<T> {
    type Output = T;
    fn index(&self, listener: Listener) -> &T {
        &self.0[listener as usize]
    }
}

impl<T> std::ops::IndexMut<Listener> for PerListener<T> {
    fn index_mut(&mut self, listener: Listener) -> &mut T {
        &mut self.0[listener as usize]
    }
}

impl<T> PerListener<T> {
    /// Every listener's row with its value, in table order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static ListenerSpec, &T)> {
        LISTENERS.iter().zip(self.0.iter())
    }
}

/// Where each listener binds; `None` = off.
pub type ListenerAddrs = PerListener<Option<SocketAddr>>;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keys_names_and_ports_are_unique() {
        for (i, a) in LISTENERS.iter().enumerate() {
            assert_eq!(a.listener.spec().key, a.key);
            for b in &LISTENERS[i + 1..] {
                assert_ne!(a.key, b.key);
                assert_ne!(a.name, b.name);
                assert_ne!(a.port, b.port);
                assert_ne!(a.text, b.text);
            }
        }
        assert_eq!(LISTENER_COUNT, 13);
    }

    #[test]
    fn per_listener_values_are_indexed_by_listener() {
        let mut addrs = ListenerAddrs::default();
        assert!(addrs.iter().all(|(_, a)| a.is_none()));
        addrs[Listener::Zipkin] = "127.0.0.1:9411".parse().ok();
        let on: Vec<&str> = addrs
            .iter()
            .filter(|(_, a)| a.is_some())
            .map(|(s, _)| s.name)
            .collect();
        assert_eq!(on, ["zipkin_http"]);
        assert_eq!(Listener::JaegerCompact.spec().transport, Transport::Udp);
        assert_eq!(Listener::QueryHttp.spec().transport, Transport::Tcp);
    }

    fn nothing(_: Arc<()>) -> axum::Router {
        axum::Router::new()
    }

    fn datagrams(_: UdpSocket, _: Arc<()>, _: CancellationToken) -> ServeTask {
        Box::pin(async { Ok(()) })
    }

    #[test]
    fn bad_role_lists_are_found() {
        static GOOD: Role<()> = Role {
            listeners: &[
                RoleListener::new(Listener::JaegerCompact, Handler::Udp(datagrams)),
                RoleListener::new(Listener::AdminHttp, Handler::OpenHttp(nothing)).port(1),
            ],
        };
        assert_eq!(GOOD.problem(), None);
        assert_eq!(GOOD.get(Listener::AdminHttp).unwrap().port, 1);
        assert!(GOOD.get(Listener::QueryHttp).is_none());
        static WRONG_TRANSPORT: Role<()> = Role {
            listeners: &[RoleListener::new(
                Listener::QueryHttp,
                Handler::Udp(datagrams),
            )],
        };
        assert_eq!(
            WRONG_TRANSPORT.problem(),
            Some("a handler serves a listener on the wrong transport")
        );
        static TWICE: Role<()> = Role {
            listeners: &[
                RoleListener::new(Listener::AdminHttp, Handler::OpenHttp(nothing)),
                RoleListener::new(Listener::AdminHttp, Handler::OpenHttp(nothing)).port(2),
            ],
        };
        assert_eq!(TWICE.problem(), Some("a listener is listed twice"));
        static SAME_PORT: Role<()> = Role {
            listeners: &[
                RoleListener::new(Listener::AdminHttp, Handler::OpenHttp(nothing)),
                RoleListener::new(Listener::QueryHttp, Handler::OpenHttp(nothing)).port(13133),
            ],
        };
        assert_eq!(
            SAME_PORT.problem(),
            Some("two listeners have the same default port")
        );
    }

    #[tokio::test]
    async fn a_role_binds_only_its_listeners_and_names_them_in_errors() {
        static ROLE: Role<()> = Role {
            listeners: &[
                RoleListener::new(Listener::JaegerBinary, Handler::Udp(datagrams)),
                RoleListener::new(Listener::SamplingHttp, Handler::OpenHttp(nothing)),
            ],
        };
        let mut addrs = ListenerAddrs::default();
        addrs[Listener::JaegerBinary] = "127.0.0.1:0".parse().ok();
        addrs[Listener::SamplingHttp] = "127.0.0.1:0".parse().ok();
        // Not in the role: not read.
        addrs[Listener::QueryHttp] = "127.0.0.1:0".parse().ok();
        let bound = ROLE.bind(&addrs).await.unwrap();
        let names: Vec<&str> = bound.addrs().iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["jaeger_binary", "sampling_http"]);
        assert_eq!(bound.tcp_listeners(), 1);
        assert!(bound.addr(Listener::QueryHttp).is_none());

        // A busy port is reported with the listener's text.
        let busy = bound.addr(Listener::SamplingHttp).unwrap();
        let mut addrs = ListenerAddrs::default();
        addrs[Listener::SamplingHttp] = Some(busy);
        let err = ROLE.bind(&addrs).await.err().unwrap().to_string();
        assert!(
            err.starts_with(&format!("cannot listen on {busy} (sampling HTTP): ")),
            "{err}"
        );
    }
}
