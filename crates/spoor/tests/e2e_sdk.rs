//! The real OpenTelemetry Rust SDK (`opentelemetry-otlp` 0.33) sends to the
//! binary over gRPC and over HTTP protobuf; the trace comes back through
//! Jaeger's `/api/*` and `/api/v3/*` with the mapping Jaeger applies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{
    Spoor, canonical_trace_id, otlp_attr, otlp_int, poll_until, ui_log_fields, ui_refs, ui_span,
    ui_tag, v3_spans, with_params,
};
use opentelemetry::trace::{
    Link, Span as _, SpanKind, Status, TraceContextExt, Tracer, TracerProvider as _,
};
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde_json::{Value, json};

const SCOPE_NAME: &str = "spoor-e2e-sdk";
const SCOPE_VERSION: &str = "1.2.3";

/// IDs of what [`emit`] produced.
struct Emitted {
    trace_id: String,
    root: String,
    child: String,
    grandchild: String,
    linked_trace: String,
    linked_span: String,
}

fn unique_service(kind: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("sdk-{kind}-{}-{nanos}", std::process::id())
}

fn resource(service: &str) -> Resource {
    Resource::builder()
        .with_service_name(service.to_string())
        .with_attribute(KeyValue::new("deployment.environment.name", "e2e"))
        .build()
}

/// Emits two traces: a producer span on its own, and a three-span trace
/// (server root → client child with an event and a link to the producer span
/// → internal grandchild with status Error).
fn emit(provider: &SdkTracerProvider) -> Emitted {
    let tracer = provider.tracer_with_scope(
        InstrumentationScope::builder(SCOPE_NAME)
            .with_version(SCOPE_VERSION)
            .build(),
    );

    let producer = tracer
        .span_builder("enqueue")
        .with_kind(SpanKind::Producer)
        .start_with_context(&tracer, &Context::new());
    let producer_ctx = producer.span_context().clone();
    drop(producer); // ends the span

    let root = tracer
        .span_builder("GET /orders")
        .with_kind(SpanKind::Server)
        .with_attributes(vec![
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("http.response.status_code", 200_i64),
            KeyValue::new("order.ratio", 0.75_f64),
            KeyValue::new("order.express", true),
            KeyValue::new(
                "order.tags",
                opentelemetry::Value::Array(opentelemetry::Array::String(vec![
                    "a".into(),
                    "b".into(),
                ])),
            ),
        ])
        .start_with_context(&tracer, &Context::new());
    let root_cx = Context::new().with_span(root);

    let child = tracer
        .span_builder("charge")
        .with_kind(SpanKind::Client)
        .with_links(vec![Link::new(
            producer_ctx.clone(),
            vec![KeyValue::new("link.reason", "batch")],
            0,
        )])
        .start_with_context(&tracer, &root_cx);
    let child_cx = root_cx.with_span(child);
    child_cx.span().add_event(
        "card.authorized",
        vec![
            KeyValue::new("card.brand", "visa"),
            KeyValue::new("card.amount", 42_i64),
        ],
    );

    let grandchild = tracer
        .span_builder("db.update")
        .with_kind(SpanKind::Internal)
        .start_with_context(&tracer, &child_cx);
    let grandchild_cx = child_cx.with_span(grandchild);
    grandchild_cx
        .span()
        .set_status(Status::error("deadlock detected"));

    let emitted = Emitted {
        trace_id: root_cx.span().span_context().trace_id().to_string(),
        root: root_cx.span().span_context().span_id().to_string(),
        child: child_cx.span().span_context().span_id().to_string(),
        grandchild: grandchild_cx.span().span_context().span_id().to_string(),
        linked_trace: producer_ctx.trace_id().to_string(),
        linked_span: producer_ctx.span_id().to_string(),
    };
    grandchild_cx.span().end();
    child_cx.span().end();
    root_cx.span().end();
    emitted
}

/// Checks one Jaeger UI trace (`/api/traces*` data element).
fn check_legacy_trace(trace: &Value, service: &str, e: &Emitted) {
    assert_eq!(
        canonical_trace_id(trace["traceID"].as_str().unwrap()),
        e.trace_id
    );
    let spans = trace["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 3, "{trace:#}");
    let processes = trace["processes"].as_object().unwrap();
    for span in spans {
        let pid = span["processID"].as_str().unwrap();
        let process = &processes[pid];
        assert_eq!(process["serviceName"], service, "{trace:#}");
        assert!(
            process["tags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["key"] == "deployment.environment.name" && t["value"] == "e2e"),
            "resource attributes become process tags: {process:#}"
        );
        assert_eq!(
            canonical_trace_id(span["traceID"].as_str().unwrap()),
            e.trace_id
        );
        assert_eq!(
            ui_tag(span, "otel.scope.name"),
            Some(("string", &json!(SCOPE_NAME)))
        );
        assert_eq!(
            ui_tag(span, "otel.scope.version"),
            Some(("string", &json!(SCOPE_VERSION)))
        );
    }

    let root = ui_span(trace, "GET /orders");
    assert_eq!(root["spanID"], e.root.as_str());
    assert!(
        ui_refs(root).is_empty(),
        "the root has no references: {root:#}"
    );
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
    assert_eq!(ui_tag(root, "order.ratio"), Some(("float64", &json!(0.75))));
    assert_eq!(ui_tag(root, "order.express"), Some(("bool", &json!(true))));
    assert_eq!(
        ui_tag(root, "order.tags"),
        Some(("string", &json!(r#"["a","b"]"#)))
    );
    assert_eq!(ui_tag(root, "error"), None);
    assert_eq!(ui_tag(root, "otel.status_code"), None);
    assert!(
        root["startTime"].as_u64().unwrap() > 1_600_000_000_000_000,
        "µs"
    );
    assert!(root["duration"].is_u64());

    let child = ui_span(trace, "charge");
    assert_eq!(child["spanID"], e.child.as_str());
    assert_eq!(
        ui_tag(child, "span.kind"),
        Some(("string", &json!("client")))
    );
    assert_eq!(
        ui_refs(child),
        vec![
            ("CHILD_OF".to_string(), e.trace_id.clone(), e.root.clone()),
            (
                "FOLLOWS_FROM".to_string(),
                e.linked_trace.clone(),
                e.linked_span.clone()
            ),
        ]
    );
    let logs = child["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 1, "{child:#}");
    let fields = ui_log_fields(&logs[0]);
    let field = |k: &str| fields.get(k).map(|(t, v)| (t.as_str(), v.clone()));
    assert_eq!(field("event"), Some(("string", json!("card.authorized"))));
    assert_eq!(field("card.brand"), Some(("string", json!("visa"))));
    assert_eq!(field("card.amount"), Some(("int64", json!(42))));
    assert!(logs[0]["timestamp"].as_u64().unwrap() >= child["startTime"].as_u64().unwrap());

    let grandchild = ui_span(trace, "db.update");
    assert_eq!(grandchild["spanID"], e.grandchild.as_str());
    assert_eq!(
        ui_refs(grandchild),
        vec![("CHILD_OF".to_string(), e.trace_id.clone(), e.child.clone())]
    );
    assert_eq!(
        ui_tag(grandchild, "span.kind"),
        Some(("string", &json!("internal")))
    );
    assert_eq!(
        ui_tag(grandchild, "otel.status_code"),
        Some(("string", &json!("ERROR")))
    );
    assert_eq!(ui_tag(grandchild, "error"), Some(("bool", &json!(true))));
    assert_eq!(
        ui_tag(grandchild, "otel.status_description"),
        Some(("string", &json!("deadlock detected")))
    );
}

/// Checks the api_v3 answer for the trace.
fn check_v3_trace(body: &Value, service: &str, e: &Emitted) {
    let spans = v3_spans(body);
    assert_eq!(spans.len(), 3, "{body:#}");
    let by_name: BTreeMap<&str, &Value> = spans
        .iter()
        .map(|(svc, s)| {
            assert_eq!(svc, service);
            assert_eq!(s["traceId"], e.trace_id.as_str());
            (s["name"].as_str().unwrap(), s)
        })
        .collect();
    let scopes: Vec<&Value> = body["result"]["resourceSpans"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|rs| rs["scopeSpans"].as_array().unwrap())
        .map(|ss| &ss["scope"])
        .collect();
    assert!(
        scopes
            .iter()
            .all(|s| s["name"] == SCOPE_NAME && s["version"] == SCOPE_VERSION),
        "{scopes:?}"
    );

    let root = by_name["GET /orders"];
    assert_eq!(root["spanId"], e.root.as_str());
    assert!(root.get("parentSpanId").is_none_or(|p| p == ""), "{root:#}");
    assert_eq!(
        otlp_int(&root["kind"]),
        Some(2),
        "kind is numeric: {root:#}"
    );
    assert_eq!(
        otlp_attr(root, "http.response.status_code").and_then(|v| otlp_int(&v["intValue"])),
        Some(200)
    );
    assert_eq!(
        otlp_attr(root, "order.ratio").map(|v| &v["doubleValue"]),
        Some(&json!(0.75))
    );
    assert_eq!(
        otlp_attr(root, "order.express").map(|v| &v["boolValue"]),
        Some(&json!(true))
    );
    let tags = otlp_attr(root, "order.tags").unwrap();
    assert_eq!(
        tags["arrayValue"]["values"],
        json!([{"stringValue": "a"}, {"stringValue": "b"}]),
        "{tags:#}"
    );
    // Jaeger's tags derived from native fields are not OTLP attributes.
    assert!(otlp_attr(root, "span.kind").is_none(), "{root:#}");

    let child = by_name["charge"];
    assert_eq!(child["parentSpanId"], e.root.as_str());
    assert_eq!(otlp_int(&child["kind"]), Some(3));
    assert_eq!(child["events"][0]["name"], "card.authorized", "{child:#}");
    assert_eq!(
        child["events"][0]["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|kv| kv["key"] == "card.brand")
            .map(|kv| &kv["value"]["stringValue"]),
        Some(&json!("visa"))
    );
    assert_eq!(
        child["links"][0]["traceId"],
        e.linked_trace.as_str(),
        "{child:#}"
    );
    assert_eq!(child["links"][0]["spanId"], e.linked_span.as_str());

    let grandchild = by_name["db.update"];
    assert_eq!(grandchild["parentSpanId"], e.child.as_str());
    assert_eq!(otlp_int(&grandchild["kind"]), Some(1));
    assert_eq!(
        otlp_int(&grandchild["status"]["code"]),
        Some(2),
        "{grandchild:#}"
    );
    assert_eq!(grandchild["status"]["message"], "deadlock detected");
}

/// Reads the trace back through every API and checks it.
fn read_back(spoor: &Spoor, service: &str, e: &Emitted) {
    // Search by service: both traces of the service, the main one complete.
    let search = with_params(
        &spoor.query("/api/traces"),
        &[("service", service.to_string()), ("limit", "20".into())],
    );
    let found = poll_until(Duration::from_secs(15), || {
        let body = spoor.get(&search).json();
        let complete = body["data"].as_array()?.iter().any(|t| {
            canonical_trace_id(t["traceID"].as_str().unwrap_or("")) == e.trace_id
                && t["spans"].as_array().map_or(0, Vec::len) == 3
        });
        complete.then_some(body)
    })
    .unwrap_or_else(|| {
        panic!(
            "the trace never became searchable at {search}: {}",
            spoor.get(&search).text()
        )
    });
    let data = found["data"].as_array().unwrap();
    assert_eq!(
        data.len(),
        2,
        "the trace and the linked producer trace: {found:#}"
    );
    let trace = data
        .iter()
        .find(|t| canonical_trace_id(t["traceID"].as_str().unwrap()) == e.trace_id)
        .unwrap();
    check_legacy_trace(trace, service, e);
    let producer = data
        .iter()
        .find(|t| canonical_trace_id(t["traceID"].as_str().unwrap()) == e.linked_trace)
        .expect("the producer trace is found too");
    assert_eq!(producer["spans"][0]["operationName"], "enqueue");
    assert_eq!(
        ui_tag(&producer["spans"][0], "span.kind"),
        Some(("string", &json!("producer")))
    );

    // By ID.
    let (status, body) = spoor.get_json(&format!("/api/traces/{}", e.trace_id));
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert_eq!(body["errors"], Value::Null);
    check_legacy_trace(&body["data"][0], service, e);

    let (status, body) = spoor.get_json(&format!("/api/v3/traces/{}", e.trace_id));
    assert_eq!(status, 200, "{body:#}");
    check_v3_trace(&body, service, e);

    // Services and operations.
    let (status, body) = spoor.get_json("/api/services");
    assert_eq!(status, 200);
    assert!(
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == service),
        "{body:#}"
    );
    let (_, body) = spoor.get_json("/api/v3/services");
    assert!(
        body["services"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == service),
        "{body:#}"
    );
    let url = with_params(
        &spoor.query("/api/operations"),
        &[
            ("service", service.to_string()),
            ("spanKind", "server".into()),
        ],
    );
    let body = spoor.get(&url).json();
    assert_eq!(
        body["data"],
        json!([{"name": "GET /orders", "spanKind": "server"}]),
        "{body:#}"
    );
    assert_eq!(body["total"], 1);
    let url = with_params(
        &spoor.query("/api/operations"),
        &[("service", service.to_string())],
    );
    let body = spoor.get(&url).json();
    let mut ops: Vec<(String, String)> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap().to_string(),
                o["spanKind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    ops.sort();
    let expected: Vec<(String, String)> = [
        ("GET /orders", "server"),
        ("charge", "client"),
        ("db.update", "internal"),
        ("enqueue", "producer"),
    ]
    .iter()
    .map(|(n, k)| (n.to_string(), k.to_string()))
    .collect();
    assert_eq!(ops, expected, "{body:#}");
}

#[test]
fn rust_sdk_over_grpc() {
    let spoor = Spoor::start(&[]);
    let service = unique_service("grpc");
    // The tonic channel needs a Tokio runtime; the SDK's batch processor runs
    // the export on its own thread and drives it there.
    let rt = common::runtime();
    let endpoint = spoor.otlp_grpc_endpoint();
    let provider = common::otlp_grpc_provider(&rt, endpoint, resource(&service));
    let emitted = emit(&provider);
    provider.shutdown().expect("flush and shut down the SDK");
    drop(rt);
    read_back(&spoor, &service, &emitted);
}

#[test]
fn rust_sdk_over_http_protobuf() {
    let spoor = Spoor::start(&[]);
    let service = unique_service("http");
    let endpoint = spoor.otlp_http_url("/v1/traces");
    // The exporter's blocking reqwest client must not run on a Tokio worker:
    // this is a plain thread with no runtime at all.
    let svc = service.clone();
    let emitted = std::thread::spawn(move || {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(endpoint)
            .with_timeout(Duration::from_secs(10))
            .build()
            .expect("build the HTTP exporter");
        let provider = SdkTracerProvider::builder()
            .with_resource(resource(&svc))
            .with_batch_exporter(exporter)
            .build();
        let emitted = emit(&provider);
        provider.shutdown().expect("flush and shut down the SDK");
        emitted
    })
    .join()
    .expect("the SDK thread panicked");
    read_back(&spoor, &service, &emitted);
}
