//! The listeners of all-in-one, in one table ([`LISTENERS`]).
//!
//! Everything else derives from it: the configuration (the YAML key under
//! `listeners:`, the `--KEY-addr` flag and the `SPOOR_KEY_ADDR` variable, in
//! the `spoor` crate), binding ([`crate::bind_all`]), serving with the right
//! connection protection ([`crate::serve`]), the `listening` log, the
//! `listener` label in `/metrics` and the listener table of
//! `docs/configuration.md` (checked by a test of the `spoor` crate).
//!
//! To add a listener, add one entry to the `listeners!` table below: its
//! [`Listener`] variant, keys, default port, texts and [`Handler`].

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use crate::jaeger::ThriftProtocol;
use crate::net::ProtectedListener;
use crate::net::origin::OriginRule;
use crate::{AppState, ServeTask, admin, jaeger, otlp, query_router, sampling, zipkin};

/// One listener's row of the table.
#[derive(Debug)]
pub struct ListenerSpec {
    pub listener: Listener,
    /// Its key under `listeners:` in the config file; the flag is
    /// `--KEY-addr` and the environment variable `SPOOR_KEY_ADDR`.
    pub key: &'static str,
    /// Its name in logs and in the `listener` label of `/metrics`.
    pub name: &'static str,
    /// Its default port (on the shared host).
    pub port: u16,
    /// What it is in configuration errors: "invalid TITLE address".
    pub title: &'static str,
    /// What it is in server errors: "cannot listen on ADDR (LABEL)".
    pub label: &'static str,
    /// What it serves (flag help, docs).
    pub serves: &'static str,
    /// How it serves, which decides its transport and its protection.
    pub handler: Handler,
}

/// How a listener serves what arrives on it.
#[derive(Clone, Copy)]
pub enum Handler {
    /// An HTTP router over TCP: timeouts, connection limit, the Host check
    /// and the Origin rule given.
    Http(OriginRule, fn(Arc<AppState>) -> axum::Router),
    /// A gRPC server over TCP: timeouts and connection limit.
    Grpc(fn(ProtectedListener, Arc<AppState>, CancellationToken) -> ServeTask),
    /// Datagrams over UDP (no connections to protect).
    Udp(fn(UdpSocket, Arc<AppState>, CancellationToken) -> ServeTask),
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Handler::Http(rule, _) => write!(f, "Http({rule:?})"),
            Handler::Grpc(_) => f.write_str("Grpc"),
            Handler::Udp(_) => f.write_str("Udp"),
        }
    }
}

/// A listener's transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
}

impl ListenerSpec {
    pub fn transport(&self) -> Transport {
        match self.handler {
            Handler::Http(..) | Handler::Grpc(_) => Transport::Tcp,
            Handler::Udp(_) => Transport::Udp,
        }
    }

    /// Its connection protection (ADR 0018), in words for the docs.
    pub fn protection(&self) -> &'static str {
        match self.handler {
            Handler::Http(OriginRule::Receiver, _) => {
                "timeouts, connection limit, Host check, receiver Origin check"
            }
            Handler::Http(OriginRule::Query, _) => "timeouts, connection limit, Host check, CORS",
            Handler::Http(OriginRule::Ignore, _) => "timeouts, connection limit, Host check",
            Handler::Grpc(_) => "timeouts, connection limit",
            Handler::Udp(_) => "none (datagrams)",
        }
    }
}

impl Listener {
    /// Its row of [`LISTENERS`].
    pub fn spec(self) -> &'static ListenerSpec {
        &LISTENERS[self as usize]
    }
}

/// Defines [`Listener`] and [`LISTENERS`] from one list, so that the two
/// cannot disagree.
macro_rules! listeners {
    ($($variant:ident { $($field:ident: $value:expr),* $(,)? },)*) => {
        /// A listener of all-in-one; its properties are its row in [`LISTENERS`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Listener {
            $($variant,)*
        }

        /// Every listener of all-in-one, in the order they are bound, logged
        /// and documented.
        pub const LISTENERS: &[ListenerSpec] = &[
            $(ListenerSpec { listener: Listener::$variant, $($field: $value),* },)*
        ];
    };
}

listeners! {
    OtlpGrpc {
        key: "otlp_grpc", name: "otlp_grpc", port: 4317,
        title: "OTLP gRPC", label: "OTLP gRPC",
        serves: "OTLP gRPC (`TraceService/Export`)",
        handler: Handler::Grpc(|l, state, stop| Box::pin(otlp::serve_grpc(l, state, stop))),
    },
    OtlpHttp {
        key: "otlp_http", name: "otlp_http", port: 4318,
        title: "OTLP HTTP", label: "OTLP HTTP",
        serves: "OTLP HTTP (`POST /v1/traces`)",
        handler: Handler::Http(OriginRule::Receiver, otlp::http_router),
    },
    JaegerCompact {
        key: "jaeger_compact", name: "jaeger_compact", port: 6831,
        title: "Jaeger Thrift compact over UDP", label: "Jaeger compact UDP",
        serves: "Jaeger Thrift compact over UDP (`Agent.emitBatch`)",
        handler: Handler::Udp(|s, state, stop| jaeger_udp(s, ThriftProtocol::Compact, state, stop)),
    },
    JaegerBinary {
        key: "jaeger_binary", name: "jaeger_binary", port: 6832,
        title: "Jaeger Thrift binary over UDP", label: "Jaeger binary UDP",
        serves: "Jaeger Thrift binary over UDP (`Agent.emitBatch`)",
        handler: Handler::Udp(|s, state, stop| jaeger_udp(s, ThriftProtocol::Binary, state, stop)),
    },
    JaegerHttp {
        key: "jaeger_http", name: "jaeger_http", port: 14268,
        title: "Jaeger Thrift over HTTP", label: "Jaeger HTTP",
        serves: "Jaeger Thrift over HTTP (`POST /api/traces`)",
        handler: Handler::Http(OriginRule::Receiver, jaeger::http_router),
    },
    JaegerGrpc {
        key: "jaeger_grpc", name: "jaeger_grpc", port: 14250,
        title: "Jaeger gRPC", label: "Jaeger gRPC",
        serves: "Jaeger gRPC (`CollectorService/PostSpans`, `SamplingManager`)",
        handler: Handler::Grpc(|l, state, stop| Box::pin(jaeger::serve_grpc(l, state, stop))),
    },
    Zipkin {
        key: "zipkin", name: "zipkin_http", port: 9411,
        title: "Zipkin HTTP", label: "Zipkin HTTP",
        serves: "Zipkin HTTP (`POST /api/v1/spans`, `/api/v2/spans`)",
        handler: Handler::Http(OriginRule::Receiver, zipkin::http_router),
    },
    SamplingHttp {
        key: "sampling_http", name: "sampling_http", port: 5778,
        title: "remote sampling HTTP", label: "sampling HTTP",
        serves: "Remote sampling over HTTP (`/sampling?service=`, `/`, `/baggageRestrictions`)",
        handler: Handler::Http(OriginRule::Ignore, |state| sampling::http_router(state.sampling.clone())),
    },
    SamplingGrpc {
        key: "sampling_grpc", name: "sampling_grpc", port: 5779,
        title: "remote sampling gRPC", label: "sampling gRPC",
        serves: "Remote sampling over gRPC (`SamplingManager/GetSamplingStrategy`)",
        handler: Handler::Grpc(|l, state, stop| {
            Box::pin(sampling::serve_grpc(l, state.sampling.clone(), stop))
        }),
    },
    QueryHttp {
        key: "query_http", name: "query_http", port: 16686,
        title: "query HTTP", label: "query HTTP",
        serves: "Query HTTP: web UI, `/api/*`, `/api/v3/*`",
        handler: Handler::Http(OriginRule::Query, query_router),
    },
    AdminHttp {
        key: "admin_http", name: "admin_http", port: 13133,
        title: "admin HTTP", label: "admin HTTP",
        serves: "Admin HTTP: health `GET /status`, readiness `GET /ready` and Prometheus `GET /metrics`",
        handler: Handler::Http(OriginRule::Ignore, admin::router),
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

/// Jaeger Thrift `emitBatch` datagrams on `socket`, decoded on the CPU pool.
fn jaeger_udp(
    socket: UdpSocket,
    protocol: ThriftProtocol,
    state: Arc<AppState>,
    shutdown: CancellationToken,
) -> ServeTask {
    Box::pin(async move {
        let sink: Arc<dyn spoor_service::BatchSink> = state.ingester.clone();
        let (udp, metrics, cpu) = (state.udp, &state.metrics, state.cpu.clone());
        jaeger::udp::serve_udp_on_pool(socket, protocol, udp, sink, metrics, cpu, shutdown).await
    })
}

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
            }
        }
        assert_eq!(LISTENER_COUNT, 11);
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
        assert_eq!(Listener::JaegerCompact.spec().transport(), Transport::Udp);
        assert_eq!(Listener::QueryHttp.spec().transport(), Transport::Tcp);
    }
}
