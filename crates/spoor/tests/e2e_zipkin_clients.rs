//! Real Zipkin senders against the real binary: the OpenTelemetry Zipkin
//! exporters of Python (`opentelemetry-exporter-zipkin-json` 1.45) and
//! Node.js (`@opentelemetry/exporter-zipkin` 2.x, chunked body) post v2 JSON
//! to `/api/v2/spans`; the test reads the trace back through
//! `/api/traces/{id}` and `/api/v3/traces/{id}` and checks `/metrics`.
//!
//! Needs the clients installed (scripts/test.sh does it; see tests/clients).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod clients;
mod common;

use clients::{
    Venv, assert_accepted, check_trace_and_service, check_v3_chain, node, python, run, tag,
    trace_id, typed, unique_service, wait_for_trace, wait_for_v3,
};
use common::{
    Spoor, canonical_trace_id, otlp_int, ui_log_fields, ui_refs, ui_span, ui_tag, v3_spans,
};
use serde_json::{Value, json};

const ROOT: &str = "GET /checkout";
const CHILD: &str = "charge-card";
const GRANDCHILD: &str = "db.query";

#[derive(Clone, Copy)]
enum Sdk {
    Python,
    Node,
}

/// Checks the Jaeger UI form of the trace of tests/clients/{python/otel_common.py,node/trace.mjs}
/// after its trip through Zipkin v2 JSON.
fn check_trace(trace: &Value, id: &str, service: &str, sdk: Sdk) {
    check_trace_and_service(trace, id, service);
    let trace_id = canonical_trace_id(id);

    // Zipkin tags are strings and stay strings (Jaeger's receiver does not
    // parse them by default).
    let root = ui_span(trace, ROOT);
    assert!(ui_refs(root).is_empty(), "{root:#}");
    assert_eq!(typed(tag(root, "span.kind")), ("string", json!("server")));
    assert_eq!(
        typed(tag(root, "http.request.method")),
        ("string", json!("GET"))
    );
    assert_eq!(
        typed(tag(root, "http.response.status_code")),
        ("string", json!("200"))
    );
    assert_eq!(typed(tag(root, "e2e.ratio")), ("string", json!("0.25")));
    assert_eq!(typed(tag(root, "e2e.cached")), ("string", json!("false")));
    if let Sdk::Python = sdk {
        // Python's exporter writes the scope as otel.scope.name/otel.library.name tags.
        assert_eq!(
            typed(tag(root, "otel.scope.name")),
            ("string", json!("spoor-e2e-python"))
        );
    }

    let child = ui_span(trace, CHILD);
    let root_id = root["spanID"].as_str().unwrap().to_string();
    // Zipkin has no links: only the parent.
    assert_eq!(
        ui_refs(child),
        vec![("CHILD_OF".to_string(), trace_id.clone(), root_id)],
        "{child:#}"
    );
    assert_eq!(typed(tag(child, "span.kind")), ("string", json!("client")));
    let logs = child["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 1, "{child:#}");
    let fields = ui_log_fields(&logs[0]);
    let (event_type, event) = fields
        .get("event")
        .cloned()
        .unwrap_or_else(|| panic!("the annotation has no event field: {fields:?}"));
    assert_eq!(event_type, "string");
    match sdk {
        // Node's annotation value is the event name.
        Sdk::Node => assert_eq!(event, json!("card.validated")),
        // Python's is `{"<name>": {<attributes>}}` in JSON, which Jaeger keeps
        // as the event name.
        Sdk::Python => {
            let text = event.as_str().unwrap();
            let parsed: Value = serde_json::from_str(text)
                .unwrap_or_else(|e| panic!("event {text:?} is not the exporter's JSON: {e}"));
            assert_eq!(
                parsed,
                json!({"card.validated": {"card.brand": "visa", "card.attempt": 1}})
            );
        }
    }

    let grandchild = ui_span(trace, GRANDCHILD);
    let child_id = child["spanID"].as_str().unwrap().to_string();
    assert_eq!(
        ui_refs(grandchild),
        vec![("CHILD_OF".to_string(), trace_id, child_id)],
        "{grandchild:#}"
    );
    assert_eq!(
        typed(tag(grandchild, "otel.status_code")),
        ("string", json!("ERROR"))
    );
    // The exporters put the status message in a string `error` tag. As in
    // Jaeger, a non-"true" `error` tag sets the status to ERROR and stays an
    // attribute, so the UI shows it beside the `error=true` of the status;
    // the status has no message.
    let mut errors: Vec<(String, Value)> = grandchild["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["key"] == "error")
        .map(|t| (t["type"].as_str().unwrap().to_string(), t["value"].clone()))
        .collect();
    errors.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        errors,
        vec![
            ("bool".to_string(), json!(true)),
            ("string".to_string(), json!("connection reset"))
        ],
        "{grandchild:#}"
    );
    assert!(
        ui_tag(grandchild, "otel.status_description").is_none(),
        "{grandchild:#}"
    );
    assert_eq!(
        typed(tag(grandchild, "db.system.name")),
        ("string", json!("postgresql"))
    );
}

/// The api_v3 form: kinds and the error status.
fn check_v3(body: &Value, id: &str, service: &str) {
    check_v3_chain(body, id, service, [ROOT, CHILD, GRANDCHILD]);
    let spans = v3_spans(body);
    let span = |name: &str| &spans.iter().find(|(_, s)| s["name"] == name).unwrap().1;
    assert_eq!(otlp_int(&span(ROOT)["kind"]), Some(2), "{body:#}");
    assert_eq!(otlp_int(&span(CHILD)["kind"]), Some(3), "{body:#}");
    assert_eq!(
        otlp_int(&span(GRANDCHILD)["status"]["code"]),
        Some(2),
        "{body:#}"
    );
    assert_eq!(
        otlp_int(&span(ROOT)["status"]["code"]).unwrap_or(0),
        0,
        "{body:#}"
    );
}

fn round_trip(spoor: &Spoor, mut sender: std::process::Command, service: &str, sdk: Sdk) {
    let what = match sdk {
        Sdk::Python => "otel_zipkin_send.py",
        Sdk::Node => "zipkin_send.mjs",
    };
    sender
        .env("TARGET", format!("http://{}/api/v2/spans", spoor.zipkin))
        .env("SERVICE_NAME", service);
    let out = run(sender, what, spoor);
    let id = trace_id(&out, 32, what);

    let trace = wait_for_trace(spoor, &id, 3, what);
    check_trace(&trace, &id, service, sdk);
    let v3 = wait_for_v3(spoor, &id, 3);
    check_v3(&v3, &id, service);
}

#[test]
fn python_otel_zipkin_exporter_v2_json() {
    let spoor = Spoor::start(&[]);
    let service = unique_service("py-otel-zipkin");
    round_trip(
        &spoor,
        python(Venv::OtelZipkin, "otel_zipkin_send.py"),
        &service,
        Sdk::Python,
    );
    assert_accepted(&spoor, ("zipkin", "http", "v2_json"), 3);
}

#[test]
fn node_otel_zipkin_exporter_v2_json_chunked() {
    let spoor = Spoor::start(&[]);
    let service = unique_service("node-otel-zipkin");
    round_trip(
        &spoor,
        node(
            "zipkin_send.mjs",
            &[
                "@opentelemetry/exporter-zipkin",
                "@opentelemetry/sdk-trace-base",
            ],
        ),
        &service,
        Sdk::Node,
    );
    assert_accepted(&spoor, ("zipkin", "http", "v2_json"), 3);
}
