//! The write path with the real binary (ADR 0015): one bad field or span
//! never costs a batch (Zipkin answers 202, OTLP a partial success, both
//! counted in `/metrics`); the same file gets the same names through
//! `/api/v2/spans` and both targets of `spoor import`; spans far in the past
//! or future are kept, counted, logged and reported by `spoor import`;
//! identical duplicate spans are stored once, on both storage backends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use common::{Spoor, metric_sum};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::{Value, json};

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// The spans of `/api/traces/{id}` (Jaeger UI JSON), `raw` or adjusted.
fn ui_spans(spoor: &Spoor, trace_id: &str, raw: bool) -> Vec<Value> {
    let (status, body) = spoor.get_json(&format!("/api/traces/{trace_id}?raw={raw}"));
    assert_eq!(status, 200, "{body}");
    body["data"][0]["spans"].as_array().unwrap().clone()
}

fn span(trace: u8, id: u8, name: &str, start: u64) -> Span {
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![id; 8],
        name: name.into(),
        start_time_unix_nano: start,
        end_time_unix_nano: start + 1_000_000,
        ..Span::default()
    }
}

fn request(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    common::otlp_service_request(service, spans)
}

/// Zipkin v2 JSON of 175 spans of one trace, like the request of the issue,
/// with `"ipv4": "52.0.0.04"` on one span's local endpoint.
fn zipkin_175_with_one_bad_address() -> Vec<u8> {
    let start_us = now_nanos() / 1000 - 60_000_000;
    let spans: Vec<Value> = (1..=175u32)
        .map(|i| {
            let ipv4 = if i == 42 { "52.0.0.04" } else { "10.1.2.3" };
            let mut s = json!({
                "traceId": "4e441824ec2b6a44ffdc9bb9a6453df3",
                "id": format!("{i:016x}"),
                "name": format!("op-{}", i % 7),
                "kind": if i % 2 == 0 { "CLIENT" } else { "SERVER" },
                "timestamp": start_us + u64::from(i),
                "duration": 100,
                "localEndpoint": {"serviceName": format!("svc-{}", i % 5), "ipv4": ipv4, "port": 8080},
                "tags": {"http.method": "GET"}
            });
            if i > 1 {
                s["parentId"] = json!(format!("{:016x}", 1));
            }
            s
        })
        .collect();
    serde_json::to_vec(&spans).unwrap()
}

#[test]
fn a_bad_zipkin_address_is_dropped_and_all_175_spans_are_stored() {
    for storage in ["engine", "memory"] {
        let spoor = Spoor::start(&["--storage", storage]);
        let url = format!("http://{}/api/v2/spans", spoor.zipkin);
        let reply = spoor.post(
            &url,
            "application/json",
            zipkin_175_with_one_bad_address(),
            &[],
        );
        assert_eq!(reply.status, 202, "{storage}: {}", reply.text());
        let spans = ui_spans(&spoor, "4e441824ec2b6a44ffdc9bb9a6453df3", true);
        assert_eq!(spans.len(), 175, "{storage}");
        let metrics = spoor.metrics();
        assert_eq!(
            metric_sum(
                &metrics,
                "spoor_receiver_fields_dropped_total",
                &[("receiver", "zipkin"), ("field", "ipv4")]
            ),
            1.0,
            "{storage}: {metrics}"
        );
        assert_eq!(
            metric_sum(&metrics, "spoor_receiver_spans_rejected_total", &[]),
            0.0,
            "{storage}"
        );
        assert!(
            spoor.log().contains("52.0.0.04"),
            "{storage}: the WARN names the address:\n{}",
            spoor.log()
        );
    }
}

fn partial(resp: &ExportTraceServiceResponse) -> (i64, String) {
    let p = resp
        .partial_success
        .clone()
        .expect("a partial success in the response");
    (p.rejected_spans, p.error_message)
}

#[test]
fn otlp_spans_with_invalid_ids_are_rejected_alone_with_partial_success() {
    let spoor = Spoor::start(&[]);
    let t0 = now_nanos() - 60_000_000_000;
    let traces_url = spoor.otlp_http_url("/v1/traces");

    // HTTP protobuf: a zero span ID among three spans.
    let mut bad = span(0x11, 3, "bad-id", t0);
    bad.span_id = vec![0; 8];
    let req = request(
        "otlp-pb",
        vec![span(0x11, 1, "a", t0), bad, span(0x11, 2, "b", t0)],
    );
    let reply = spoor.post(
        &traces_url,
        "application/x-protobuf",
        req.encode_to_vec(),
        &[],
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let (rejected, message) =
        partial(&ExportTraceServiceResponse::decode(&reply.body[..]).unwrap());
    assert_eq!(rejected, 1);
    assert!(message.contains("spanId"), "{message}");
    assert_eq!(ui_spans(&spoor, &"11".repeat(16), true).len(), 2);

    // HTTP JSON: a trace ID that is not hex.
    let id = "22".repeat(16);
    let json_req = json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "otlp-json"}}]},
        "scopeSpans": [{"spans": [
            {"traceId": id, "spanId": "0101010101010101", "name": "a",
             "startTimeUnixNano": t0.to_string(), "endTimeUnixNano": (t0 + 1000).to_string()},
            {"traceId": "not-hex-not-hex-not-hex-not-hex!", "spanId": "0202020202020202", "name": "bad",
             "startTimeUnixNano": t0.to_string(), "endTimeUnixNano": (t0 + 1000).to_string()}
        ]}]
    }]});
    let reply = spoor.post(
        &traces_url,
        "application/json",
        serde_json::to_vec(&json_req).unwrap(),
        &[],
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["partialSuccess"]["rejectedSpans"], "1", "{body}");
    assert!(
        body["partialSuccess"]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("traceId"),
        "{body}"
    );
    assert_eq!(ui_spans(&spoor, &id, true).len(), 1);

    // gRPC: a 3-byte trace ID.
    let mut bad = span(0x33, 2, "bad", t0);
    bad.trace_id = vec![1, 2, 3];
    let resp = common::grpc_export_response(
        &spoor.otlp_grpc_endpoint(),
        request("otlp-grpc", vec![span(0x33, 1, "a", t0), bad]),
    )
    .expect("the request succeeds");
    let (rejected, message) = partial(&resp);
    assert_eq!(rejected, 1);
    assert!(message.contains("traceId"), "{message}");
    assert_eq!(ui_spans(&spoor, &"33".repeat(16), true).len(), 1);

    let metrics = spoor.metrics();
    for (transport, format, reason) in [
        ("http", "protobuf", "invalid_span_id"),
        ("http", "json", "invalid_trace_id"),
        ("grpc", "protobuf", "invalid_trace_id"),
    ] {
        assert_eq!(
            metric_sum(
                &metrics,
                "spoor_receiver_spans_rejected_total",
                &[
                    ("receiver", "otlp"),
                    ("transport", transport),
                    ("format", format),
                    ("reason", reason)
                ]
            ),
            1.0,
            "{transport} {format}: {metrics}"
        );
    }
}

/// A finished `spoor` subcommand.
fn spoor_cmd(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_spoor"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run spoor");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "spoor {args:?} failed:\n{stderr}");
    stderr
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Services and their operations, as the query API lists them.
fn names(spoor: &Spoor) -> Vec<(String, Vec<String>)> {
    let (_, services) = spoor.get_json("/api/services");
    let mut out = Vec::new();
    for svc in services["data"].as_array().unwrap() {
        let svc = svc.as_str().unwrap().to_string();
        let (_, ops) = spoor.get_json(&format!("/api/services/{svc}/operations"));
        let mut ops: Vec<String> = ops["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o.as_str().unwrap().to_string())
            .collect();
        ops.sort();
        out.push((svc, ops));
    }
    out.sort();
    out
}

#[test]
fn the_same_zipkin_file_gets_the_same_names_on_every_path() {
    let start_us = now_nanos() / 1000 - 60_000_000;
    let file_body = serde_json::to_vec(&json!([
        {"traceId": "5af7183fb1d4cf5f", "id": "6b221d5bc9e6496c", "name": "get",
         "timestamp": start_us, "duration": 2000, "kind": "SERVER",
         "localEndpoint": {"serviceName": "zfront", "ipv4": "52.0.0.04"}},
        {"traceId": "5af7183fb1d4cf5f", "id": "0000000000000000", "name": "zero-id",
         "timestamp": start_us, "duration": 2000, "localEndpoint": {"serviceName": "zfront"}},
        {"traceId": "5af7183fb1d4cf5f", "id": "7b221d5bc9e6496c", "parentId": "6b221d5bc9e6496c",
         "name": "no-local-endpoint", "timestamp": start_us + 10, "duration": 100},
        {"traceId": "5af7183fb1d4cf5f", "id": "8b221d5bc9e6496c", "parentId": "6b221d5bc9e6496c",
         "name": "", "timestamp": start_us + 20, "duration": 100,
         "localEndpoint": {"serviceName": "zfront"}}
    ]))
    .unwrap();
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("zipkin.json");
    std::fs::write(&file, &file_body).unwrap();

    // 1. POST /api/v2/spans.
    let posted = Spoor::start(&[]);
    let reply = posted.post(
        &format!("http://{}/api/v2/spans", posted.zipkin),
        "application/json",
        file_body.clone(),
        &[],
    );
    assert_eq!(reply.status, 202, "{}", reply.text());

    // 2. spoor import to a running Spoor's OTLP/HTTP receiver.
    let over_http = Spoor::start(&[]);
    let summary = spoor_cmd(&[
        "import",
        path_str(&file),
        "--otlp",
        &format!("http://{}", over_http.otlp_http),
    ]);

    // 3. spoor import into a data directory, then Spoor started on it.
    let dir = tempfile::tempdir().unwrap();
    let dir_summary = spoor_cmd(&[
        "import",
        path_str(&file),
        "--data-dir",
        path_str(dir.path()),
    ]);
    for summary in [&summary, &dir_summary] {
        assert!(
            summary.contains(
                "1 spans were left out (no usable trace or span ID) and 1 unusable fields dropped"
            ) && summary.contains("span[1].id"),
            "{summary}"
        );
    }
    let from_dir = Spoor::start(&["--data-dir", path_str(dir.path())]);

    let want = vec![
        (
            "missing-service-name".to_string(),
            vec!["no-local-endpoint".to_string()],
        ),
        (
            "zfront".to_string(),
            vec!["empty-span-name".to_string(), "get".to_string()],
        ),
    ];
    assert_eq!(names(&posted), want, "POST /api/v2/spans");
    assert_eq!(names(&over_http), want, "spoor import --otlp");
    assert_eq!(names(&from_dir), want, "spoor import --data-dir");
}

#[test]
fn spans_far_in_the_past_or_future_are_kept_counted_and_reported() {
    let spoor = Spoor::start(&[]);
    let now = now_nanos();
    let day = 86_400_000_000_000u64;
    let hour = 3_600_000_000_000u64;
    let req = request(
        "skewed",
        vec![
            span(0x44, 1, "a-year-ago", now - 365 * day),
            span(0x44, 2, "now", now - 60_000_000_000),
            span(0x44, 3, "two-hours-ahead", now + 2 * hour),
        ],
    );
    let reply = spoor.post(
        &spoor.otlp_http_url("/v1/traces"),
        "application/x-protobuf",
        req.encode_to_vec(),
        &[],
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let resp = ExportTraceServiceResponse::decode(&reply.body[..]).unwrap();
    assert!(
        resp.partial_success.is_none(),
        "far-off spans are not rejected"
    );
    assert_eq!(ui_spans(&spoor, &"44".repeat(16), true).len(), 3);
    let metrics = spoor.metrics();
    for direction in ["past", "future"] {
        assert_eq!(
            metric_sum(
                &metrics,
                "spoor_ingest_spans_timestamp_skew_total",
                &[("direction", direction)]
            ),
            1.0,
            "{direction}: {metrics}"
        );
    }
    let log = spoor.log();
    assert!(
        log.contains("far from the receive time") && log.contains("far_past_spans=1"),
        "{log}"
    );

    // spoor import says so in its summary.
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("skewed.pb");
    std::fs::write(&file, req.encode_to_vec()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let summary = spoor_cmd(&[
        "import",
        path_str(&file),
        "--data-dir",
        path_str(dir.path()),
    ]);
    assert!(
        summary.contains(
            "1 spans start more than 30 days in the past and 1 more than 1 hour in the future"
        ),
        "{summary}"
    );
}

#[test]
fn identical_duplicate_spans_are_stored_once_in_raw_and_adjusted_views() {
    for storage in ["engine", "memory"] {
        let spoor = Spoor::start(&["--storage", storage]);
        let t0 = now_nanos() - 60_000_000_000;
        let url = spoor.otlp_http_url("/v1/traces");
        let root = span(0x55, 1, "root", t0);
        let mut child = span(0x55, 2, "child", t0 + 1000);
        child.parent_span_id = vec![1; 8];
        // Two identical copies in one request, then the whole request
        // retried (a lost acknowledgement).
        let req = request("dups", vec![root.clone(), child.clone(), child.clone()]);
        for _ in 0..2 {
            let reply = spoor.post(&url, "application/x-protobuf", req.encode_to_vec(), &[]);
            assert_eq!(reply.status, 200, "{storage}: {}", reply.text());
        }
        // A span sharing an ID but differing in content is kept.
        let mut variant = child.clone();
        variant.name = "child-variant".into();
        let reply = spoor.post(
            &url,
            "application/x-protobuf",
            request("dups", vec![variant]).encode_to_vec(),
            &[],
        );
        assert_eq!(reply.status, 200, "{storage}: {}", reply.text());

        let id = "55".repeat(16);
        for raw in [true, false] {
            let spans = ui_spans(&spoor, &id, raw);
            let mut names: Vec<&str> = spans
                .iter()
                .map(|s| s["operationName"].as_str().unwrap())
                .collect();
            names.sort();
            assert_eq!(
                names,
                vec!["child", "child-variant", "root"],
                "{storage}, raw={raw}"
            );
        }
    }
}
