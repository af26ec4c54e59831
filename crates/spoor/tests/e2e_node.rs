//! A non-Rust sender: the OpenTelemetry JS SDK (tests/clients/node/send.mjs)
//! exports over OTLP/HTTP JSON and protobuf. Node's exporters send chunked
//! bodies with no `Content-Length`, so this also proves the receiver reads
//! chunked requests.
//!
//! Needs `npm ci --prefix tests/clients/node` first (the CI script does it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{
    Spoor, canonical_trace_id, otlp_int, poll_until, ui_log_fields, ui_refs, ui_span, ui_tag,
    v3_spans, with_params,
};
use serde_json::{Value, json};

fn client_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/clients/node")
}

/// Fails (never skips) when the Node client is not installed.
fn require_node_client() -> PathBuf {
    let dir = client_dir();
    let installed = dir
        .join("node_modules/@opentelemetry/sdk-trace-node/package.json")
        .is_file()
        && dir
            .join("node_modules/@opentelemetry/exporter-trace-otlp-proto/package.json")
            .is_file();
    assert!(
        installed,
        "the Node OTLP client is not installed in {}: run `npm ci --prefix tests/clients/node` \
         from the repository root first",
        dir.display()
    );
    let version = Command::new("node").arg("--version").output();
    assert!(
        version.as_ref().is_ok_and(|o| o.status.success()),
        "`node` is not runnable ({version:?}); install Node.js 20 or later"
    );
    dir
}

/// Runs send.mjs and returns the trace ID it printed.
fn send(spoor: &Spoor, dir: &PathBuf, service: &str, protocol: &str) -> String {
    let out = Command::new("node")
        .arg("send.mjs")
        .current_dir(dir)
        .env("SPOOR_OTLP_HTTP", spoor.otlp_http_url(""))
        .env("SERVICE_NAME", service)
        .env("PROTOCOL", protocol)
        .output()
        .expect("run node send.mjs");
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "node send.mjs ({protocol}) failed with {}:\nstdout: {stdout}\nstderr: {stderr}\nspoor log:\n{}",
        out.status,
        spoor.log()
    );
    assert!(
        stdout.len() == 32 && stdout.bytes().all(|b| b.is_ascii_hexdigit()),
        "send.mjs printed {stdout:?}, not a trace ID; stderr: {stderr}"
    );
    stdout.to_ascii_lowercase()
}

fn check_legacy(trace: &Value, service: &str, trace_id: &str) {
    assert_eq!(
        canonical_trace_id(trace["traceID"].as_str().unwrap()),
        trace_id
    );
    let spans = trace["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 3, "{trace:#}");
    for span in spans {
        let pid = span["processID"].as_str().unwrap();
        assert_eq!(trace["processes"][pid]["serviceName"], service, "{trace:#}");
        assert_eq!(
            ui_tag(span, "otel.scope.name"),
            Some(("string", &json!("spoor-e2e-node")))
        );
    }

    let root = ui_span(trace, "GET /checkout");
    let root_id = root["spanID"].as_str().unwrap().to_string();
    assert!(ui_refs(root).is_empty(), "{root:#}");
    assert_eq!(
        ui_tag(root, "span.kind"),
        Some(("string", &json!("server")))
    );
    assert_eq!(
        ui_tag(root, "http.request.method"),
        Some(("string", &json!("GET")))
    );
    assert_eq!(
        ui_tag(root, "http.response.status_code"),
        Some(("int64", &json!(200)))
    );
    assert_eq!(ui_tag(root, "e2e.ratio"), Some(("float64", &json!(0.25))));
    assert_eq!(ui_tag(root, "e2e.cached"), Some(("bool", &json!(false))));
    assert_eq!(
        ui_tag(root, "e2e.tags"),
        Some(("string", &json!(r#"["a","b"]"#)))
    );

    let child = ui_span(trace, "charge-card");
    let child_id = child["spanID"].as_str().unwrap().to_string();
    assert_eq!(
        ui_refs(child),
        vec![("CHILD_OF".to_string(), trace_id.to_string(), root_id)]
    );
    assert_eq!(
        ui_tag(child, "span.kind"),
        Some(("string", &json!("client")))
    );
    let logs = child["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 1, "{child:#}");
    let fields = ui_log_fields(&logs[0]);
    let field = |k: &str| fields.get(k).map(|(t, v)| (t.as_str(), v.clone()));
    assert_eq!(field("event"), Some(("string", json!("card.validated"))));
    assert_eq!(field("card.brand"), Some(("string", json!("visa"))));
    assert_eq!(field("card.attempt"), Some(("int64", json!(1))));

    let grandchild = ui_span(trace, "db.query");
    assert_eq!(
        ui_refs(grandchild),
        vec![("CHILD_OF".to_string(), trace_id.to_string(), child_id)]
    );
    assert_eq!(
        ui_tag(grandchild, "span.kind"),
        Some(("string", &json!("internal")))
    );
    assert_eq!(ui_tag(grandchild, "error"), Some(("bool", &json!(true))));
    assert_eq!(
        ui_tag(grandchild, "otel.status_code"),
        Some(("string", &json!("ERROR")))
    );
    assert_eq!(
        ui_tag(grandchild, "otel.status_description"),
        Some(("string", &json!("connection reset")))
    );
}

fn check_v3(body: &Value, service: &str, trace_id: &str) {
    let spans = v3_spans(body);
    assert_eq!(spans.len(), 3, "{body:#}");
    let span = |name: &str| {
        spans
            .iter()
            .find(|(_, s)| s["name"] == name)
            .map(|(svc, s)| {
                assert_eq!(svc, service);
                assert_eq!(s["traceId"], trace_id);
                s
            })
            .unwrap_or_else(|| panic!("no span {name:?} in {body:#}"))
    };
    let root = span("GET /checkout");
    let child = span("charge-card");
    let grandchild = span("db.query");
    assert_eq!(otlp_int(&root["kind"]), Some(2));
    assert_eq!(otlp_int(&child["kind"]), Some(3));
    assert_eq!(otlp_int(&grandchild["kind"]), Some(1));
    assert_eq!(child["parentSpanId"], root["spanId"]);
    assert_eq!(grandchild["parentSpanId"], child["spanId"]);
    assert_eq!(child["events"][0]["name"], "card.validated", "{child:#}");
    assert_eq!(
        otlp_int(&grandchild["status"]["code"]),
        Some(2),
        "{grandchild:#}"
    );
    assert_eq!(grandchild["status"]["message"], "connection reset");
}

fn round_trip(spoor: &Spoor, dir: &PathBuf, protocol: &str) {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let service = format!("node-{protocol}-{nanos}");
    let trace_id = send(spoor, dir, &service, protocol);

    // The SDK sends each span in its own (chunked) request.
    let body = poll_until(Duration::from_secs(15), || {
        let (status, body) = spoor.get_json(&format!("/api/traces/{trace_id}"));
        (status == 200 && body["data"][0]["spans"].as_array().map_or(0, Vec::len) == 3)
            .then_some(body)
    })
    .unwrap_or_else(|| {
        panic!(
            "trace {trace_id} ({protocol}) never came back complete: {}",
            spoor
                .get(&spoor.query(&format!("/api/traces/{trace_id}")))
                .text()
        )
    });
    check_legacy(&body["data"][0], &service, &trace_id);

    let (status, body) = spoor.get_json(&format!("/api/v3/traces/{trace_id}"));
    assert_eq!(status, 200, "{body:#}");
    check_v3(&body, &service, &trace_id);

    let search = with_params(&spoor.query("/api/traces"), &[("service", service.clone())]);
    let body = spoor.get(&search).json();
    let ids: Vec<String> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| canonical_trace_id(t["traceID"].as_str().unwrap()))
        .collect();
    assert_eq!(ids, vec![trace_id], "search by service {service}: {body:#}");
}

#[test]
fn node_sdk_over_http_json_and_protobuf() {
    let dir = require_node_client();
    let spoor = Spoor::start(&[]);
    round_trip(&spoor, &dir, "json");
    round_trip(&spoor, &dir, "proto");

    // Three requests per protocol, all accepted.
    let metrics = spoor.metrics();
    for format in ["json", "protobuf"] {
        let line = metrics
            .lines()
            .find(|l| {
                l.starts_with("spoor_receiver_requests_total{")
                    && l.contains("transport=\"http\"")
                    && l.contains(&format!("format=\"{format}\""))
                    && l.contains("result=\"ok\"")
            })
            .unwrap_or_else(|| panic!("no ok-request series for OTLP/HTTP {format}:\n{metrics}"));
        let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(value >= 3.0, "{line}");
    }
}
