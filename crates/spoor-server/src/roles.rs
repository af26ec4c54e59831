//! The roles Spoor runs as, each one list: the rows of
//! [`crate::listeners::LISTENERS`] it serves, with its handlers and, where
//! it differs from the table, its own default port or description.
//!
//! **To add a role**, add one [`Role`] here (and check it in the `const`
//! block at the end); the `spoor` crate then gives it a subcommand whose
//! listener flags are `ListenerArgs` of it. A role over [`AppState`] lists
//! its listeners as [`app`]`(Listener::…)`, for example a collector:
//! `app(OtlpGrpc), app(OtlpHttp), …, app(SamplingGrpc), app(AdminHttp)`,
//! and a query role with its admin port moved off all-in-one's:
//! `app(QueryHttp), app(AdminHttp).port(16687)`. A listener no handler
//! serves yet gets one in [`app`] (or in the role's own state).

use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use crate::agent::{self, AgentState};
use crate::jaeger::ThriftProtocol;
use crate::listeners::{Handler, Listener, Role, RoleListener};
use crate::net::origin::OriginRule;
use crate::{AppState, ServeTask, admin, jaeger, otlp, query_router, sampling, zipkin};

/// All-in-one (`spoor` with no subcommand): every listener but the
/// internal API of the distributed roles, over [`AppState`].
pub static ALL_IN_ONE: Role<AppState> = Role {
    listeners: &[
        app(Listener::OtlpGrpc),
        app(Listener::OtlpHttp),
        app(Listener::JaegerCompact),
        app(Listener::JaegerBinary),
        app(Listener::JaegerHttp),
        app(Listener::JaegerGrpc),
        app(Listener::Zipkin),
        app(Listener::SamplingHttp),
        app(Listener::SamplingGrpc),
        app(Listener::QueryHttp),
        app(Listener::QueryGrpc),
        app(Listener::AdminHttp),
    ],
};

/// `spoor collector`: every receiver and remote sampling, the internal API
/// queriers read its head through, and admin (ADR 0025).
pub static COLLECTOR: Role<AppState> = Role {
    listeners: &[
        app(Listener::OtlpGrpc),
        app(Listener::OtlpHttp),
        app(Listener::JaegerCompact),
        app(Listener::JaegerBinary),
        app(Listener::JaegerHttp),
        app(Listener::JaegerGrpc),
        app(Listener::Zipkin),
        app(Listener::SamplingHttp),
        app(Listener::SamplingGrpc),
        app(Listener::ClusterGrpc),
        app(Listener::AdminHttp),
    ],
};

/// `spoor query`: the web UI and the query APIs over the shared blocks and
/// the collectors' heads; its admin port is Jaeger query's (16687).
pub static QUERY: Role<AppState> = Role {
    listeners: &[
        app(Listener::QueryHttp),
        app(Listener::QueryGrpc),
        app(Listener::AdminHttp).port(QUERY_ADMIN_PORT),
    ],
};

/// `spoor compactor`: admin only (16688); its work is in the bucket.
pub static COMPACTOR: Role<AppState> = Role {
    listeners: &[app(Listener::AdminHttp).port(COMPACTOR_ADMIN_PORT)],
};

/// `spoor query`'s admin port: Jaeger query's.
pub const QUERY_ADMIN_PORT: u16 = 16687;
/// `spoor compactor`'s admin port.
pub const COMPACTOR_ADMIN_PORT: u16 = 16688;

/// `spoor agent`: Jaeger's UDP receivers feeding the forwarder, sampling
/// strategies asked from the collector, and its own admin server on Jaeger
/// v1 agent's admin port, over [`AgentState`].
pub static AGENT: Role<AgentState> = Role {
    listeners: &[
        RoleListener::new(
            Listener::JaegerCompact,
            Handler::Udp(|s, state, stop| state.serve_udp(s, ThriftProtocol::Compact, stop)),
        ),
        RoleListener::new(
            Listener::JaegerBinary,
            Handler::Udp(|s, state, stop| state.serve_udp(s, ThriftProtocol::Binary, stop)),
        ),
        RoleListener::new(
            Listener::SamplingHttp,
            Handler::OpenHttp(|state| sampling::http_router(state.sampling.clone())),
        ),
        RoleListener::new(
            Listener::AdminHttp,
            Handler::OpenHttp(AgentState::admin_router),
        )
        .port(agent::ADMIN_PORT)
        .serves("Admin HTTP: health `GET /status` and Prometheus `GET /metrics`"),
    ],
};

// Every role's list is checked when Spoor is compiled.
const _: () = {
    let roles = [
        ALL_IN_ONE.problem(),
        COLLECTOR.problem(),
        QUERY.problem(),
        COMPACTOR.problem(),
        AGENT.problem(),
    ];
    let mut i = 0;
    while i < roles.len() {
        if let Some(problem) = roles[i] {
            panic!("{}", problem);
        }
        i += 1;
    }
};

/// `listener` served by all-in-one's handler over [`AppState`], with the
/// table's default port: the rows of every role built on [`AppState`].
pub const fn app(listener: Listener) -> RoleListener<AppState> {
    let handler: Handler<AppState> = match listener {
        Listener::OtlpGrpc => {
            Handler::Grpc(|l, state, stop| Box::pin(otlp::serve_grpc(l, state, stop)))
        }
        Listener::OtlpHttp => Handler::Http(OriginRule::Receiver, otlp::http_router),
        Listener::JaegerCompact => {
            Handler::Udp(|s, state, stop| jaeger_udp(s, ThriftProtocol::Compact, state, stop))
        }
        Listener::JaegerBinary => {
            Handler::Udp(|s, state, stop| jaeger_udp(s, ThriftProtocol::Binary, state, stop))
        }
        Listener::JaegerHttp => Handler::Http(OriginRule::Receiver, jaeger::http_router),
        Listener::JaegerGrpc => {
            Handler::Grpc(|l, state, stop| Box::pin(jaeger::serve_grpc(l, state, stop)))
        }
        Listener::Zipkin => Handler::Http(OriginRule::Receiver, zipkin::http_router),
        Listener::SamplingHttp => Handler::Http(OriginRule::Ignore, |state| {
            sampling::http_router(state.sampling.clone())
        }),
        Listener::SamplingGrpc => Handler::Grpc(|l, state, stop| {
            Box::pin(sampling::serve_grpc(l, state.sampling.clone(), stop))
        }),
        Listener::ClusterGrpc => Handler::Grpc(|l, state, stop| {
            Box::pin(crate::cluster::serve_grpc(l, state.cluster.clone(), stop))
        }),
        Listener::QueryHttp => Handler::Http(OriginRule::Query, query_router),
        Listener::QueryGrpc => {
            Handler::Grpc(|l, state, stop| Box::pin(crate::query_grpc::serve_grpc(l, state, stop)))
        }
        Listener::AdminHttp => Handler::Http(OriginRule::Ignore, admin::router),
    };
    RoleListener::new(listener, handler)
}

/// Jaeger Thrift `emitBatch` datagrams on `socket` into the ingester,
/// decoded on the CPU pool.
fn jaeger_udp(
    socket: UdpSocket,
    protocol: ThriftProtocol,
    state: Arc<AppState>,
    shutdown: CancellationToken,
) -> ServeTask {
    Box::pin(async move {
        // Under tenancy: `udp_tenant`'s ingester, or refused and counted.
        let sink: Arc<dyn spoor_service::BatchSink> = match &state.tenants {
            Some(tenants) => tenants.udp_sink(),
            None => state.ingester.clone(),
        };
        let (udp, metrics, cpu) = (state.udp, &state.metrics, state.cpu.clone());
        jaeger::udp::serve_udp_on_pool(socket, protocol, udp, sink, metrics, cpu, shutdown).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listeners::{LISTENERS, Transport};

    #[test]
    fn all_in_one_serves_every_listener_at_its_table_port() {
        let listed: Vec<Listener> = ALL_IN_ONE.listeners.iter().map(|l| l.listener).collect();
        let table: Vec<Listener> = LISTENERS
            .iter()
            .map(|s| s.listener)
            .filter(|l| *l != Listener::ClusterGrpc)
            .collect();
        assert_eq!(listed, table);
        for row in ALL_IN_ONE.listeners {
            assert_eq!(row.port, row.spec().port);
            assert_eq!(row.serves, row.spec().serves);
        }
    }

    #[test]
    fn the_distributed_roles_keep_jaegers_ports() {
        let ports = |role: &Role<AppState>| -> Vec<(&str, u16)> {
            role.listeners
                .iter()
                .map(|l| (l.spec().key, l.port))
                .collect()
        };
        // The collector: all-in-one's receivers and sampling at Jaeger's
        // collector ports, plus the internal API.
        let collector = ports(&COLLECTOR);
        for (key, port) in [
            ("otlp_grpc", 4317),
            ("otlp_http", 4318),
            ("jaeger_http", 14268),
            ("jaeger_grpc", 14250),
            ("zipkin", 9411),
            ("cluster_grpc", 14300),
            ("admin_http", 13133),
        ] {
            assert!(collector.contains(&(key, port)), "{key}");
        }
        assert!(!collector.iter().any(|(k, _)| *k == "query_http"));
        assert_eq!(
            ports(&QUERY),
            [
                ("query_http", 16686),
                ("query_grpc", 16685),
                ("admin_http", 16687)
            ]
        );
        assert_eq!(ports(&COMPACTOR), [("admin_http", 16688)]);
    }

    #[test]
    fn the_agent_serves_jaegers_agent_ports() {
        let rows: Vec<(&str, u16, Transport)> = AGENT
            .listeners
            .iter()
            .map(|l| (l.spec().key, l.port, l.spec().transport))
            .collect();
        assert_eq!(
            rows,
            [
                ("jaeger_compact", 6831, Transport::Udp),
                ("jaeger_binary", 6832, Transport::Udp),
                ("sampling_http", 5778, Transport::Tcp),
                ("admin_http", 14271, Transport::Tcp),
            ]
        );
        // No Host check on the agent's HTTP listeners (ADR 0018).
        for row in AGENT.listeners {
            assert!(
                matches!(row.handler, Handler::OpenHttp(_) | Handler::Udp(_)),
                "{}",
                row.spec().key
            );
        }
    }
}
