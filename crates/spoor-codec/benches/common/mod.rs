//! A small deterministic span builder for the codec benches: Train-Ticket-like
//! services with OpenTelemetry resources, spans of 10 semantic-convention
//! attributes, parent/child links within each trace. Seeded with splitmix64,
//! so every run measures the same bytes.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use spoor_model::{
    AnyValue, KeyValue, Resource, Scope, Span, SpanId, SpanKind, SpanRecord, Status, StatusCode,
    Trace, TraceId,
};

/// Attributes per span, as Jaeger's tracegen and `spoor bench` use.
pub const ATTRS_PER_SPAN: usize = 10;

const SERVICES: &[&str] = &[
    "ts-ui-dashboard",
    "ts-gateway-service",
    "ts-travel-service",
    "ts-order-service",
    "ts-station-service",
    "ts-route-service",
    "ts-price-service",
    "ts-seat-service",
    "ts-user-service",
    "ts-payment-service",
];

const ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/v1/travelservice/trips/left"),
    ("GET", "/api/v1/orderservice/order/{orderId}"),
    ("GET", "/api/v1/stationservice/stations/id/{stationName}"),
    ("POST", "/api/v1/preserveservice/preserve"),
    ("GET", "/api/v1/routeservice/routes/{routeId}"),
    ("GET", "/api/v1/seatservice/seats/left"),
];

const TABLES: &[&str] = &["orders", "stations", "routes", "users", "payments"];

/// splitmix64: small, seeded, the same on every platform.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn hex(&mut self, len: usize) -> String {
        let mut s = String::with_capacity(len);
        while s.len() < len {
            s.push_str(&format!("{:016x}", self.next()));
        }
        s.truncate(len);
        s
    }
}

/// One resource per service instance, with the attributes the
/// OpenTelemetry Java agent reports.
pub fn resources() -> Vec<Arc<Resource>> {
    SERVICES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            Arc::new(Resource {
                attributes: vec![
                    KeyValue::str("service.name", *name),
                    KeyValue::str("service.namespace", "train-ticket"),
                    KeyValue::str("service.version", "1.0.0"),
                    KeyValue::str("service.instance.id", format!("{name}-7d9f8b-{i:05}")),
                    KeyValue::str("host.name", format!("{name}-7d9f8b-{i:05}")),
                    KeyValue::str("k8s.pod.name", format!("{name}-7d9f8b-{i:05}")),
                    KeyValue::new("process.pid", AnyValue::Int(1 + i as i64)),
                    KeyValue::str("process.runtime.name", "OpenJDK Runtime Environment"),
                    KeyValue::str("telemetry.sdk.name", "opentelemetry"),
                    KeyValue::str("telemetry.sdk.language", "java"),
                    KeyValue::str("telemetry.sdk.version", "1.40.0"),
                ],
                dropped_attributes_count: 0,
                schema_url: String::new(),
            })
        })
        .collect()
}

fn scope() -> Arc<Scope> {
    Arc::new(Scope {
        name: "io.opentelemetry.spring-webmvc-6.0".into(),
        version: "2.6.0-alpha".into(),
        ..Scope::default()
    })
}

/// Ten attributes of a server, client or database span.
fn attributes(rng: &mut Rng, kind: SpanKind, service: &str) -> Vec<KeyValue> {
    let (method, route) = ROUTES[rng.below(ROUTES.len())];
    let id = rng.hex(32);
    let mut a = match kind {
        SpanKind::Client if rng.below(2) == 0 => {
            let table = TABLES[rng.below(TABLES.len())];
            vec![
                KeyValue::str("db.system", "mysql"),
                KeyValue::str("db.namespace", "ts"),
                KeyValue::str(
                    "db.query.text",
                    format!("SELECT * FROM {table} WHERE id = ?"),
                ),
                KeyValue::str("db.operation.name", "SELECT"),
                KeyValue::str("db.collection.name", table),
                KeyValue::str("server.address", format!("{service}-mysql")),
                KeyValue::new("server.port", AnyValue::Int(3306)),
                KeyValue::str("network.peer.address", "10.0.3.17"),
                KeyValue::new("network.peer.port", AnyValue::Int(3306)),
            ]
        }
        _ => vec![
            KeyValue::str("http.request.method", method),
            KeyValue::str("url.path", route.replace("{orderId}", &id)),
            KeyValue::str("http.route", route),
            KeyValue::new("http.response.status_code", AnyValue::Int(200)),
            KeyValue::str("url.scheme", "http"),
            KeyValue::str("server.address", service),
            KeyValue::new("server.port", AnyValue::Int(8080)),
            KeyValue::str("client.address", "10.0.1.23"),
            KeyValue::str("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)"),
        ],
    };
    a.push(KeyValue::new(
        "thread.id",
        AnyValue::Int(rng.below(200) as i64),
    ));
    a.truncate(ATTRS_PER_SPAN);
    a
}

/// `n` spans in traces of `per_trace` spans, spread over the resources
/// (`services` of them, cycling) as a fan-out tree under each root.
pub fn spans(seed: u64, n: usize, per_trace: usize, services: usize) -> Vec<SpanRecord> {
    let mut rng = Rng::new(seed);
    let resources = resources();
    let services = services.clamp(1, resources.len());
    let scope = scope();
    let base = 1_750_000_000_000_000_000u64;
    let mut out = Vec::with_capacity(n);
    let mut trace_id = TraceId::ZERO;
    let mut ids: Vec<SpanId> = Vec::new();
    for i in 0..n {
        let pos = i % per_trace.max(1);
        if pos == 0 {
            trace_id = TraceId::from_halves(rng.next(), rng.next());
            ids.clear();
        }
        let span_id = SpanId::from_u64(rng.next() | 1);
        let parent = if pos == 0 {
            SpanId::ZERO
        } else {
            ids[rng.below(ids.len())]
        };
        ids.push(span_id);
        let resource = resources[(i / 7 + pos) % services].clone();
        let service = resource.service_name().to_string();
        let kind = match pos % 3 {
            0 => SpanKind::Server,
            1 => SpanKind::Client,
            _ => SpanKind::Internal,
        };
        let start = base + (i as u64) * 1_000_000 + rng.below(1_000) as u64;
        let failed = rng.below(50) == 0;
        out.push(SpanRecord::new(
            resource,
            scope.clone(),
            Span {
                trace_id,
                span_id,
                parent_span_id: parent,
                name: format!(
                    "{} {}",
                    ROUTES[pos % ROUTES.len()].0,
                    ROUTES[pos % ROUTES.len()].1
                ),
                kind,
                start_time_unix_nano: start,
                end_time_unix_nano: start + 50_000 + rng.below(5_000_000) as u64,
                attributes: attributes(&mut rng, kind, &service),
                status: Status {
                    code: if failed {
                        StatusCode::Error
                    } else {
                        StatusCode::Unset
                    },
                    message: if failed {
                        "java.sql.SQLTimeoutException".into()
                    } else {
                        String::new()
                    },
                },
                ..Span::default()
            },
        ));
    }
    out
}

/// One trace of `n` spans over `services` services.
pub fn trace(seed: u64, n: usize, services: usize) -> Trace {
    let spans = spans(seed, n, n, services);
    Trace {
        trace_id: spans[0].span.trace_id,
        spans,
        warnings: Vec::new(),
    }
}
