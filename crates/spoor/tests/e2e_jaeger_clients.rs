//! Real Jaeger senders against the real binary: each sends a 3-span trace
//! (server root → client child with a log → grandchild in error) and the
//! test reads it back through `/api/traces/{id}` and `/api/v3/traces/{id}`
//! and checks `/metrics`.
//!
//! - Python `jaeger-client` 4.8: Thrift compact over UDP (6831), 64- and 128-bit IDs.
//! - Node.js `jaeger-client` 3.19: Thrift binary over UDP (6832), and Thrift
//!   binary over HTTP (14268, chunked body).
//! - Python OpenTelemetry Jaeger exporters 1.21: UDP compact, HTTP Thrift, gRPC PostSpans.
//! - Node.js `@opentelemetry/exporter-jaeger` 2.11: UDP binary and HTTP (chunked).
//!
//! Malformed datagrams (random bytes, truncated real packets) are counted and
//! do not disturb a real client sending next.
//!
//! Needs the clients installed (scripts/test.sh does it; see tests/clients).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod clients;
mod common;

use std::net::UdpSocket;
use std::time::Duration;

use clients::{
    CHILD, GRANDCHILD, ROOT, Tracer, Venv, assert_accepted, check_opentracing_trace,
    check_trace_and_service, check_v3_chain, field, metric, node, process_of, python, run, tag,
    trace_id, typed, unique_service, wait_for_trace, wait_for_v3,
};
use common::{Spoor, canonical_trace_id, poll_until, ui_log_fields, ui_refs, ui_span, ui_tag};
use serde_json::{Value, json};

/// The span the OpenTelemetry senders' child links to.
const LINKED_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const LINKED_SPAN: &str = "b7ad6b7169203331";

/// Which OpenTelemetry SDK sent the trace through a Jaeger exporter.
#[derive(Clone, Copy)]
enum Sdk {
    Python,
    Node,
}

/// Checks a trace sent by an OpenTelemetry SDK through a Jaeger exporter
/// (tests/clients/python/otel_jaeger_send.py, node/otel_jaeger_send.mjs).
fn check_otel_trace(trace: &Value, id: &str, service: &str, sdk: Sdk) {
    check_trace_and_service(trace, id, service);
    let trace_id = canonical_trace_id(id);
    // Node's Jaeger exporter sends numbers as Thrift DOUBLE; Python's keeps
    // ints. Python puts the event name in a `message` field, Node in `event`.
    let (doubles, scope, event_key) = match sdk {
        Sdk::Python => (false, "spoor-e2e-python", "message"),
        Sdk::Node => (true, "spoor-e2e-node", "event"),
    };
    let int = |v: i64| {
        if doubles {
            ("float64", json!(v))
        } else {
            ("int64", json!(v))
        }
    };

    let root = ui_span(trace, ROOT);
    assert!(ui_refs(root).is_empty(), "{root:#}");
    assert_eq!(typed(tag(root, "span.kind")), ("string", json!("server")));
    assert_eq!(
        typed(tag(root, "http.request.method")),
        ("string", json!("GET"))
    );
    assert_eq!(typed(tag(root, "http.response.status_code")), int(200));
    assert_eq!(typed(tag(root, "e2e.ratio")), ("float64", json!(0.25)));
    assert_eq!(typed(tag(root, "e2e.cached")), ("bool", json!(false)));
    match sdk {
        // Python's exporters send both otel.scope.name and otel.library.name.
        Sdk::Python => {
            assert_eq!(
                typed(tag(root, "otel.scope.name")),
                ("string", json!(scope))
            );
        }
        // Node's sends otel.library.name only; Jaeger's Thrift path keeps it
        // as a tag (only the gRPC path turns it into the scope).
        Sdk::Node => {
            assert_eq!(
                typed(tag(root, "otel.library.name")),
                ("string", json!(scope))
            );
            assert!(ui_tag(root, "otel.scope.name").is_none(), "{root:#}");
        }
    }
    assert!(ui_tag(root, "error").is_none(), "{root:#}");

    let child = ui_span(trace, CHILD);
    let root_id = root["spanID"].as_str().unwrap().to_string();
    assert_eq!(
        ui_refs(child),
        vec![
            ("CHILD_OF".to_string(), trace_id.clone(), root_id),
            (
                "FOLLOWS_FROM".to_string(),
                LINKED_TRACE.to_string(),
                LINKED_SPAN.to_string()
            ),
        ],
        "{child:#}"
    );
    assert_eq!(typed(tag(child, "span.kind")), ("string", json!("client")));
    let logs = child["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 1, "{child:#}");
    let fields = ui_log_fields(&logs[0]);
    assert_eq!(
        field(&fields, event_key),
        ("string".into(), json!("card.validated"))
    );
    assert_eq!(
        field(&fields, "card.brand"),
        ("string".into(), json!("visa"))
    );
    let (t, v) = int(1);
    assert_eq!(field(&fields, "card.attempt"), (t.to_string(), v));

    let grandchild = ui_span(trace, GRANDCHILD);
    let child_id = child["spanID"].as_str().unwrap().to_string();
    assert_eq!(
        ui_refs(grandchild),
        vec![("CHILD_OF".to_string(), trace_id, child_id)],
        "{grandchild:#}"
    );
    if let Sdk::Python = sdk {
        // Node's exporter leaves span.kind out for internal spans.
        assert_eq!(
            typed(tag(grandchild, "span.kind")),
            ("string", json!("internal"))
        );
    }
    assert_eq!(typed(tag(grandchild, "error")), ("bool", json!(true)));
    assert_eq!(
        typed(tag(grandchild, "otel.status_code")),
        ("string", json!("ERROR"))
    );
    assert_eq!(
        typed(tag(grandchild, "otel.status_description")),
        ("string", json!("connection reset"))
    );
    assert_eq!(
        typed(tag(grandchild, "db.system.name")),
        ("string", json!("postgresql"))
    );
}

/// Reads the trace back through both query APIs.
fn read_back(spoor: &Spoor, id: &str, service: &str, what: &str) -> Value {
    let trace = wait_for_trace(spoor, id, 3, what);
    let v3 = wait_for_v3(spoor, id, 3);
    check_v3_chain(&v3, id, service, [ROOT, CHILD, GRANDCHILD]);
    trace
}

fn python_jaeger_client(spoor: &Spoor, service: &str, wide: bool) -> String {
    let mut cmd = python(Venv::JaegerClient, "jaeger_client_send.py");
    cmd.env("AGENT_HOST", spoor.jaeger_compact.ip().to_string())
        .env("AGENT_PORT", spoor.jaeger_compact.port().to_string())
        .env("SERVICE_NAME", service)
        .env("TRACE_ID_128", if wide { "1" } else { "0" });
    let out = run(cmd, "jaeger_client_send.py", spoor);
    trace_id(&out, if wide { 32 } else { 16 }, "jaeger_client_send.py")
}

#[test]
fn python_jaeger_client_over_udp_compact() {
    let spoor = Spoor::start(&[]);

    let service = unique_service("py-jaeger-client");
    let id = python_jaeger_client(&spoor, &service, false);
    let trace = read_back(&spoor, &id, &service, "Python jaeger-client (64-bit)");
    // A 64-bit trace ID prints as 16 hex digits, as Jaeger does.
    assert_eq!(trace["traceID"], id, "{trace:#}");
    check_opentracing_trace(&trace, &id, &service, Tracer::Python);

    let service = unique_service("py-jaeger-client-128");
    let id = python_jaeger_client(&spoor, &service, true);
    let trace = read_back(&spoor, &id, &service, "Python jaeger-client (128-bit)");
    assert_eq!(trace["traceID"], id, "{trace:#}");
    check_opentracing_trace(&trace, &id, &service, Tracer::Python);

    assert_accepted(&spoor, ("jaeger", "udp", "thrift_compact"), 6);
}

fn node_jaeger_client(spoor: &Spoor, service: &str, protocol: &str, target: &str) -> String {
    let mut cmd = node("jaeger_client_send.mjs", &["jaeger-client"]);
    cmd.env("PROTOCOL", protocol)
        .env("TARGET", target)
        .env("SERVICE_NAME", service);
    let out = run(cmd, &format!("jaeger_client_send.mjs ({protocol})"), spoor);
    trace_id(&out, 16, "jaeger_client_send.mjs")
}

#[test]
fn node_jaeger_client_over_udp_binary() {
    let spoor = Spoor::start(&[]);
    let service = unique_service("node-jaeger-client-udp");
    let id = node_jaeger_client(&spoor, &service, "udp", &spoor.jaeger_binary.to_string());
    let trace = read_back(&spoor, &id, &service, "Node jaeger-client over UDP");
    check_opentracing_trace(&trace, &id, &service, Tracer::Node);
    assert_accepted(&spoor, ("jaeger", "udp", "thrift_binary"), 3);
}

#[test]
fn node_jaeger_client_over_chunked_http() {
    let spoor = Spoor::start(&[]);
    let service = unique_service("node-jaeger-client-http");
    let url = format!("http://{}/api/traces", spoor.jaeger_http);
    let id = node_jaeger_client(&spoor, &service, "http", &url);
    let trace = read_back(&spoor, &id, &service, "Node jaeger-client over HTTP");
    check_opentracing_trace(&trace, &id, &service, Tracer::Node);
    assert_accepted(&spoor, ("jaeger", "http", "thrift_binary"), 3);
}

fn python_otel_jaeger(spoor: &Spoor, service: &str, protocol: &str, target: &str) -> String {
    let mut cmd = python(Venv::OtelJaeger, "otel_jaeger_send.py");
    cmd.env("PROTOCOL", protocol)
        .env("TARGET", target)
        .env("SERVICE_NAME", service);
    let out = run(cmd, &format!("otel_jaeger_send.py ({protocol})"), spoor);
    trace_id(&out, 32, "otel_jaeger_send.py")
}

#[test]
fn python_otel_jaeger_exporter_over_udp_compact() {
    let spoor = Spoor::start(&[]);
    let service = unique_service("py-otel-jaeger-udp");
    let id = python_otel_jaeger(&spoor, &service, "udp", &spoor.jaeger_compact.to_string());
    let trace = read_back(
        &spoor,
        &id,
        &service,
        "Python OTel Jaeger exporter over UDP",
    );
    check_otel_trace(&trace, &id, &service, Sdk::Python);
    assert_accepted(&spoor, ("jaeger", "udp", "thrift_compact"), 3);
}

#[test]
fn python_otel_jaeger_exporter_over_http_thrift() {
    let spoor = Spoor::start(&[]);
    let service = unique_service("py-otel-jaeger-http");
    let url = format!("http://{}/api/traces", spoor.jaeger_http);
    let id = python_otel_jaeger(&spoor, &service, "http", &url);
    let trace = read_back(
        &spoor,
        &id,
        &service,
        "Python OTel Jaeger exporter over HTTP",
    );
    check_otel_trace(&trace, &id, &service, Sdk::Python);
    assert_accepted(&spoor, ("jaeger", "http", "thrift_binary"), 3);
}

#[test]
fn python_otel_jaeger_exporter_over_grpc() {
    let spoor = Spoor::start(&[]);
    let service = unique_service("py-otel-jaeger-grpc");
    let id = python_otel_jaeger(&spoor, &service, "grpc", &spoor.jaeger_grpc.to_string());
    let trace = read_back(
        &spoor,
        &id,
        &service,
        "Python OTel Jaeger exporter over gRPC",
    );
    check_otel_trace(&trace, &id, &service, Sdk::Python);
    // The gRPC exporter puts the service and the resource on each span's
    // process (the batch process is empty).
    let process = process_of(&trace, ui_span(&trace, ROOT));
    assert_eq!(
        typed(tag(process, "deployment.environment.name")),
        ("string", json!("e2e")),
        "{process:#}"
    );
    assert_accepted(&spoor, ("jaeger", "grpc", "protobuf"), 3);
}

fn node_otel_jaeger(spoor: &Spoor, service: &str, protocol: &str, target: &str) -> String {
    let mut cmd = node(
        "otel_jaeger_send.mjs",
        &[
            "@opentelemetry/exporter-jaeger",
            "@opentelemetry/sdk-trace-base",
        ],
    );
    cmd.env("PROTOCOL", protocol)
        .env("TARGET", target)
        .env("SERVICE_NAME", service);
    let out = run(cmd, &format!("otel_jaeger_send.mjs ({protocol})"), spoor);
    trace_id(&out, 32, "otel_jaeger_send.mjs")
}

#[test]
fn node_otel_jaeger_exporter_over_udp_binary_and_http() {
    let spoor = Spoor::start(&[]);

    let service = unique_service("node-otel-jaeger-udp");
    let id = node_otel_jaeger(&spoor, &service, "udp", &spoor.jaeger_binary.to_string());
    let trace = read_back(&spoor, &id, &service, "Node OTel Jaeger exporter over UDP");
    check_otel_trace(&trace, &id, &service, Sdk::Node);
    assert_accepted(&spoor, ("jaeger", "udp", "thrift_binary"), 3);

    let service = unique_service("node-otel-jaeger-http");
    let url = format!("http://{}/api/traces", spoor.jaeger_http);
    let id = node_otel_jaeger(&spoor, &service, "http", &url);
    let trace = read_back(&spoor, &id, &service, "Node OTel Jaeger exporter over HTTP");
    check_otel_trace(&trace, &id, &service, Sdk::Node);
    assert_accepted(&spoor, ("jaeger", "http", "thrift_binary"), 3);
}

/// Runs a sender against a UDP socket of the test's own and returns the
/// datagram it sent: a real `emitBatch` packet to corrupt.
fn capture_datagram(spoor: &Spoor, mut sender: std::process::Command, what: &str) -> Vec<u8> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let addr = socket.local_addr().unwrap();
    sender
        .env("AGENT_HOST", addr.ip().to_string())
        .env("AGENT_PORT", addr.port().to_string())
        .env("TARGET", addr.to_string());
    run(sender, what, spoor);
    let mut buf = vec![0u8; 65_536];
    let (n, _) = socket
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("{what} sent no datagram: {e}"));
    buf.truncate(n);
    buf
}

/// Deterministic pseudo-random bytes (xorshift), so a failure reproduces.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn malformed_requests(spoor: &Spoor, format: &str) -> f64 {
    metric(
        &spoor.metrics(),
        "spoor_receiver_requests_total",
        &[
            ("receiver", "jaeger"),
            ("transport", "udp"),
            ("format", format),
            ("result", "malformed"),
        ],
    )
}

#[test]
fn malformed_datagrams_are_counted_and_real_clients_still_get_in() {
    let spoor = Spoor::start(&[]);

    // Real packets from both clients, to cut short.
    let mut py = python(Venv::JaegerClient, "jaeger_client_send.py");
    py.env("SERVICE_NAME", unique_service("capture-compact"));
    let compact = capture_datagram(&spoor, py, "jaeger_client_send.py (capture)");
    let mut nd = node("jaeger_client_send.mjs", &["jaeger-client"]);
    nd.env("PROTOCOL", "udp")
        .env("SERVICE_NAME", unique_service("capture-binary"));
    let binary = capture_datagram(&spoor, nd, "jaeger_client_send.mjs (capture)");
    assert!(compact.len() > 100 && binary.len() > 100);

    let garbage: Vec<Vec<u8>> = vec![noise(1, 1), noise(2, 64), noise(3, 1500), noise(4, 60_000)];
    let cuts = |packet: &[u8]| -> Vec<Vec<u8>> {
        [1, 2, 13, packet.len() / 2, packet.len() - 1]
            .iter()
            .map(|&n| packet[..n].to_vec())
            .collect()
    };
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut sent = [0usize; 2];
    for (i, (addr, packet)) in [
        (spoor.jaeger_compact, &compact),
        (spoor.jaeger_binary, &binary),
    ]
    .into_iter()
    .enumerate()
    {
        for bad in garbage.iter().cloned().chain(cuts(packet)) {
            socket.send_to(&bad, addr).unwrap();
            sent[i] += 1;
            // Loopback UDP drops datagrams under bursts; pace them.
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    // Every datagram is counted as malformed (none is silently lost: the
    // queue is far from full).
    for (format, expected) in [("thrift_compact", sent[0]), ("thrift_binary", sent[1])] {
        let counted = poll_until(Duration::from_secs(10), || {
            let n = malformed_requests(&spoor, format);
            (n >= expected as f64).then_some(n)
        })
        .unwrap_or_else(|| {
            panic!(
                "{expected} malformed {format} datagrams were sent, /metrics counts {}:\n{}",
                malformed_requests(&spoor, format),
                clients::receiver_metrics(&spoor)
            )
        });
        assert_eq!(counted, expected as f64, "{format}");
    }
    assert!(spoor.get(&spoor.admin("/status")).status == 200);

    // Real clients still get in, on both ports.
    let service = unique_service("after-garbage-compact");
    let id = python_jaeger_client(&spoor, &service, false);
    let trace = wait_for_trace(&spoor, &id, 3, "Python jaeger-client after garbage");
    check_opentracing_trace(&trace, &id, &service, Tracer::Python);

    let service = unique_service("after-garbage-binary");
    let id = node_jaeger_client(&spoor, &service, "udp", &spoor.jaeger_binary.to_string());
    let trace = wait_for_trace(&spoor, &id, 3, "Node jaeger-client after garbage");
    check_opentracing_trace(&trace, &id, &service, Tracer::Node);

    // The captured (valid) packets themselves never reached Spoor.
    let text = spoor.metrics();
    for format in ["thrift_compact", "thrift_binary"] {
        assert_eq!(
            metric(
                &text,
                "spoor_receiver_accepted_spans_total",
                &[
                    ("receiver", "jaeger"),
                    ("transport", "udp"),
                    ("format", format)
                ],
            ),
            3.0,
            "{format}: {text}"
        );
    }
}
